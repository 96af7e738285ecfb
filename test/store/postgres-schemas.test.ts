/**
 * Two networks in two schemas of one PostgreSQL database (`search_path` in the
 * address): a notice reaches the whole database, so each tells on channels of
 * its own schema, and neither hears the other's tasks, nodes, progress or keys.
 * Real server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiKeyRecord } from '../../src/auth/api-key.js';
import { defaultKeyLimits } from '../../src/auth/api-key.js';
import { openStores, type Stores } from '../../src/store/open-stores.js';
import { openPostgres } from '../../src/store/postgres/open-postgres.js';
import { PgListener } from '../../src/store/postgres/pg-listener.js';
import { followTasks } from '../../src/store/postgres/task-feed.js';
import { freshSchema, skipPostgres } from '../helpers/postgres.js';
import { txt2img } from '../helpers/specs.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A network in a schema of its own: a gateway's stores, and another gateway's listener that records what it hears, in order. */
async function network(): Promise<{ writer: Stores; heard: string[] }> {
  const made = await freshSchema();
  cleanups.push(() => made.drop());
  const writer = await openStores({ database: made.url, dataDir: '' }, { listenForKeys: false, gateway: { now: () => Date.now() } });
  cleanups.push(() => writer.close());
  const database = await openPostgres(made.url);
  const listener = await PgListener.open(database);
  cleanups.push(async () => {
    listener.close();
    await database.pool.end();
  });
  // One connection hears every channel in commit order: a notice of the other network's, heard at all,
  // comes before this network's own later ones.
  const heard: string[] = [];
  await listener.listen('dan_keys_changed', { onNotification: () => heard.push('keys changed') });
  await followTasks(listener, 'gw_listening', {
    queued: (id) => heard.push(`queued ${id}`),
    started: (id) => heard.push(`started ${id}`),
    moved: (id) => heard.push(`moved ${id}`),
    ended: (id) => heard.push(`ended ${id}`),
    resync: () => heard.push('resync'),
  });
  return { writer, heard };
}

const key = (id: string): ApiKeyRecord => ({
  id,
  kind: 'api',
  name: id,
  prefix: 'dan_abc',
  hash: `hash-${id}`,
  webhookSecret: 'whsec_x',
  limits: defaultKeyLimits,
  createdAt: 1,
  revokedAt: null,
});

describe.skipIf(skipPostgres)('two networks in two schemas of one database', () => {
  it('hear only their own tasks and key changes', async () => {
    const [a, b] = [await network(), await network()];
    await a.writer.tasks.insert({ id: 'task-a', kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    await a.writer.tasks.markRunning('task-a', 1, 'n', 2);
    await a.writer.keys.add(key('key_a'));
    await expect.poll(() => a.heard, { timeout: 5_000 }).toEqual(['queued task-a', 'started task-a', 'keys changed']);
    // B's own news, committed after A's: had A's reached B, it would have come first.
    await b.writer.keys.add(key('key_b'));
    await b.writer.tasks.insert({ id: 'task-b', kind: 'txt2img', spec: txt2img(), owner: null, createdAt: 1 });
    await expect.poll(() => b.heard, { timeout: 5_000 }).toEqual(['keys changed', 'queued task-b']);
    expect(a.heard).toEqual(['queued task-a', 'started task-a', 'keys changed']);
  });
});
