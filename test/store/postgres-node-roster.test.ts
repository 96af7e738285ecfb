/**
 * The other gateways' nodes as one gateway reads them (store/postgres/node-roster.ts), against the real
 * server: a node's rows on two gateways (one killed under it, its rows not yet dropped) count once, by its
 * newest connection; rows of a gateway that does not say who its node is all count.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NodeRoster } from '../../src/store/postgres/node-roster.js';
import { openPostgres } from '../../src/store/postgres/open-postgres.js';
import { PgListener } from '../../src/store/postgres/pg-listener.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { freshSchema, skipPostgres } from '../helpers/postgres.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A network's database, and a roster of it as gateway `id` reads it (a listener each, as each gateway has its own). */
async function network() {
  const made = await freshSchema();
  cleanups.push(() => made.drop());
  const database = await openPostgres(made.url);
  cleanups.push(() => database.pool.end());
  const open = async (id: string) => {
    const listener = await PgListener.open(database);
    cleanups.push(async () => listener.close());
    return NodeRoster.open(database, listener, id);
  };
  return { database, open };
}

const node = (id: string, identity: string) => ({ id, identity, name: id.split('-')[0]!, capabilities: makeCapabilities(), backendUp: true });
const ids = (roster: NodeRoster) => [...roster.remote].map((n) => n.id).sort();

describe.skipIf(skipPostgres)('the other gateways\' nodes', () => {
  it('count a node once, by its newest connection, and its older one again once the newer is gone', async () => {
    const { open } = await network();
    const [a, b, c] = await Promise.all(['gw-a', 'gw-b', 'gw-c'].map(open));
    // gpu connected to a, then (a killed, its row still there) to b; cpu is on a alone.
    await a!.publish(node('gpu-1', 'k/gpu/1'), 1_000);
    await a!.publish(node('cpu-1', 'k/cpu/1'), 1_000);
    await b!.publish(node('gpu-2', 'k/gpu/1'), 2_000);
    await expect.poll(() => ids(c!)).toEqual(['cpu-1', 'gpu-2']);
    await expect.poll(() => ids(a!)).toEqual(['gpu-2']);
    // What the dashboards show: one listing per node too. Until b publishes what it shows of the gpu (every
    // 5 s), the gpu is listed as a last showed it, not left out.
    const listings = async () => (await c!.otherListings()).map(({ node: n, listing }) => [n.id, n.gatewayId, listing]);
    await a!.publishListings([{ id: 'gpu-1', json: '{"name":"gpu on a"}' }, { id: 'cpu-1', json: '{"name":"cpu on a"}' }]);
    expect(await listings()).toEqual([
      ['cpu-1', 'gw-a', { name: 'cpu on a' }],
      ['gpu-1', 'gw-a', { name: 'gpu on a' }],
    ]);
    await b!.publishListings([{ id: 'gpu-2', json: '{"name":"gpu on b"}' }]);
    expect(await listings()).toEqual([
      ['cpu-1', 'gw-a', { name: 'cpu on a' }],
      ['gpu-2', 'gw-b', { name: 'gpu on b' }],
    ]);
    // b counted gone: the gpu's row on a is the one left.
    c!.keepGateways(new Set(['gw-a']));
    expect(ids(c!)).toEqual(['cpu-1', 'gpu-1']);
  });

  it('count every row of a gateway that does not say who its nodes are', async () => {
    const { database, open } = await network();
    // Published by a gateway older than the identity column.
    const capabilities = JSON.stringify(makeCapabilities());
    await database.pool.query("INSERT INTO nodes (id, gateway_id, name, capabilities, backend_up, updated_at) VALUES ('gpu-1', 'gw-old', 'gpu', $1, true, 5), ('gpu-2', 'gw-old', 'gpu', $1, true, 6)", [capabilities]);
    const [a, b] = await Promise.all(['gw-a', 'gw-b'].map(open));
    await b!.publish(node('x-1', 'k/x/1'), 3_000);
    await expect.poll(() => ids(a!)).toEqual(['gpu-1', 'gpu-2', 'x-1']);
  });
});
