/**
 * @module gateway/node-publishing
 *
 * Where gateways share a database: this gateway's nodes, as the others read them
 * (store/postgres/node-roster.ts).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { NodeHub } from '../network/node-hub.js';
import type { NodeSession } from '../network/node-session.js';
import type { NodeRoster } from '../store/postgres/node-roster.js';
import { RepeatedWarning } from '../util/repeated-warning.js';

/**
 * How often the gateway publishes what the dashboard shows of its nodes, and checks that they are still
 * published (the leader drops those of a gateway it counted gone).
 */
const REPUBLISH_MS = 5_000;

/**
 * This gateway's nodes, published for the other gateways sharing the database (node-roster.ts): when
 * one joins, changes what it offers or has its WebUI go up or down, and when it leaves. Heartbeats that
 * change nothing of that publish nothing.
 */
export function publishNodes(
  hub: NodeHub,
  roster: NodeRoster,
  parts: { now: () => number; logger: FastifyBaseLogger; listings: () => readonly { id: string }[] },
): NodeJS.Timeout {
  const { now, logger } = parts;
  const published = new Map<string, { offeringVersion: number; backendUp: boolean }>();
  /** The listing each node's row holds, as written: an unchanged one is not written again. */
  const listed = new Map<string, string>();
  // One warning per kind of write: one that works while another keeps failing must not say all is well again.
  const rows = new RepeatedWarning(logger, 'could not tell the other gateways of a node', 'the other gateways are told of the nodes again', now);
  const listings = new RepeatedWarning(logger, 'could not write what the dashboards show of the nodes', 'the dashboards are told of the nodes again', now);
  const failed = (error: unknown) => rows.failed(error);
  const worked = () => rows.succeeded();
  const publish = (session: NodeSession) => {
    published.set(session.id, { offeringVersion: session.offeringVersion, backendUp: session.backendUp });
    // A row dropped by the leader comes back without its listing.
    listed.delete(session.id);
    roster.publish({ id: session.id, identity: session.identity, name: session.name, capabilities: session.offering.capabilities, backendUp: session.backendUp }, now()).then(worked, failed);
  };
  hub.on('node:changed', (session) => {
    const last = published.get(session.id);
    if (last?.offeringVersion === session.offeringVersion && last.backendUp === session.backendUp) return;
    publish(session);
  });
  hub.on('node:lost', (session) => {
    published.delete(session.id);
    listed.delete(session.id);
    roster.withdraw(session.id).then(worked, failed);
  });
  // Rows the leader dropped (it counted this gateway gone: the database was away) are published again.
  const check = setInterval(() => {
    roster.ownCount().then((count) => {
      worked();
      if (count < hub.sessions.size) for (const session of hub.sessions.values()) publish(session);
    }, failed);
    // What the other gateways' dashboards show of these nodes, a few seconds old at most; only those that
    // changed, so that a quiet fleet of a thousand nodes does not rewrite a thousand rows every 5 s.
    // Counted as written when sent (a node published again meanwhile is forgotten, and sent at the next tick).
    const changed: { id: string; json: string }[] = [];
    for (const listing of parts.listings()) {
      const json = JSON.stringify(listing);
      if (listed.get(listing.id) === json) continue;
      changed.push({ id: listing.id, json });
      listed.set(listing.id, json);
    }
    roster.publishListings(changed).then(
      () => changed.length > 0 && listings.succeeded(),
      (error: unknown) => {
        for (const { id } of changed) listed.delete(id);
        listings.failed(error);
      },
    );
  }, REPUBLISH_MS);
  check.unref();
  return check;
}
