/**
 * The network's node list where gateways share a database: each node once, by the connection it works on,
 * though a killed gateway's rows outlive it by seconds.
 */
import { describe, expect, it } from 'vitest';
import { type NodeListItem, oneListingPerNode, type OtherNodeListing } from '../../src/gateway/node-directory.js';

const here = (identity: string, connectedAt: number, reconnecting = false) => ({ session: { identity, connectedAt }, reconnecting, label: `here ${identity}` });
const elsewhere = (identity: string | null, publishedAt: number, gateway: string): OtherNodeListing => ({
  item: { name: `${identity ?? 'old'}@${gateway}`, gateway } as NodeListItem,
  identity,
  publishedAt,
});
const labels = (entries: ReturnType<typeof oneListingPerNode<ReturnType<typeof here>>>) => entries.map((e) => ('session' in e ? e.label : e.item.name));

describe('oneListingPerNode', () => {
  it('lists a node connected here once, not again as the killed gateway it left last published it', () => {
    expect(labels(oneListingPerNode([here('x', 100)], [elsewhere('x', 50, 'dead'), elsewhere('y', 60, 'b')]))).toEqual(['here x', 'y@b']);
  });

  it('lists a node that dropped here and connected elsewhere since by that connection, and one elsewhere only before by its drop here', () => {
    expect(labels(oneListingPerNode([here('x', 100, true)], [elsewhere('x', 120, 'b')]))).toEqual(['x@b']);
    expect(labels(oneListingPerNode([here('x', 100, true)], [elsewhere('x', 80, 'dead')]))).toEqual(['here x']);
    expect(labels(oneListingPerNode([here('x', 100, true), here('y', 100)], [elsewhere('z', 80, 'b')]))).toEqual(['here x', 'here y', 'z@b']);
  });

  it('keeps every listing that does not say who its node is', () => {
    expect(labels(oneListingPerNode([here('x', 100)], [elsewhere(null, 50, 'old'), elsewhere(null, 60, 'old')]))).toEqual(['here x', 'old@old', 'old@old']);
  });
});
