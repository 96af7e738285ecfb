/**
 * @module gateway/node-listing
 *
 * A node as the catalog and the submit check read it: what it offers and
 * whether its WebUI is up. This gateway's node sessions are listings, and so
 * are the nodes of the other gateways sharing its database
 * (store/postgres/node-roster.ts): the network's nodes, wherever they connect.
 */
import type { NodeOffering } from '../domain/offering.js';

export interface NodeListing {
  readonly offering: NodeOffering;
  readonly backendUp: boolean;
}

/** Nodes beyond this gateway's own, and how to hear that they changed. */
export interface OtherNodes {
  /** Each with who it is, whichever its connection (network/node-hub.ts `identityOf`); null where its gateway did not say. */
  nodes(): Iterable<NodeListing & { readonly identity: string | null }>;
  onChange(listener: () => void): void;
}
