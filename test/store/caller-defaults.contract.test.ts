/**
 * Callers' default checkpoints (store/caller-defaults.ts), against both stores: the
 * embedded SQLite one and PostgreSQL on the machine's real server (a schema of its
 * own per test). A choice holds across a restart, and, on PostgreSQL, at every
 * gateway sharing the database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStores, type Stores } from '../../src/store/open-stores.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { freshSchema, skipPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/processes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Opens the same storage as often as asked (a restart, or another gateway). */
type Storage = () => Promise<Stores>;

async function sqlite(): Promise<Storage> {
  const dir = tempDir();
  cleanups.push(() => dir.remove());
  return async () => {
    const stores = await openStores({ database: null, dataDir: dir.path });
    cleanups.push(() => stores.close());
    return stores;
  };
}

async function postgres(): Promise<Storage> {
  const schema = await freshSchema();
  cleanups.push(() => schema.drop());
  return async () => {
    const stores = await openStores({ database: schema.url, dataDir: '' }, { listenForKeys: false });
    cleanups.push(() => stores.close());
    return stores;
  };
}

function contract(storage: () => Promise<Storage>): void {
  it("keeps each caller's choice, the latest one, across a restart", async () => {
    const open = await storage();
    const first = await open();
    expect(await first.callerDefaults.get('key_alice')).toBeUndefined();
    await first.callerDefaults.set('key_alice', 'clarity', 1000);
    await first.callerDefaults.set('anon:10.0.0.7', 'chillout_mix', 1000);
    await first.callerDefaults.set('key_alice', 'anything-v4.5-pruned', 2000);
    await first.close();
    const again = await open();
    expect(await again.callerDefaults.get('key_alice')).toBe('anything-v4.5-pruned');
    expect(await again.callerDefaults.get('anon:10.0.0.7')).toBe('chillout_mix');
    expect(await again.callerDefaults.get('key_bob')).toBeUndefined();
  });

  it("forgets, with the expired tasks, the choices of callers without a key made before the cutoff", async () => {
    const stores = await (await storage())();
    await stores.callerDefaults.set('anon:10.0.0.7', 'clarity', 1000);
    await stores.callerDefaults.set('anon:10.0.0.8', 'clarity', 3000);
    await stores.callerDefaults.set('key_alice', 'clarity', 1000);
    expect(await stores.callerDefaults.forgetAnonymousBefore(2000)).toBe(1);
    expect(await stores.callerDefaults.get('anon:10.0.0.7')).toBeUndefined();
    expect(await stores.callerDefaults.get('anon:10.0.0.8')).toBe('clarity');
    expect(await stores.callerDefaults.get('key_alice')).toBe('clarity');
  });

  it('gives a choice stored through one opening to another open at the same time', async () => {
    const open = await storage();
    const [one, other] = [await open(), await open()];
    await one.callerDefaults.set('key_alice', 'clarity', 1000);
    expect(await other.callerDefaults.get('key_alice')).toBe('clarity');
    await other.callerDefaults.set('key_alice', 'chillout_mix', 2000);
    expect(await one.callerDefaults.get('key_alice')).toBe('chillout_mix');
  });
}

describe('caller defaults: SQLite', () => {
  contract(sqlite);

  it('answers a full disk as the store unavailable, naming the database', async () => {
    const stores = await (await sqlite())();
    const tasks = stores.tasks as SqliteTaskStore;
    // No page more than it has: a row that needs one fails as SQLITE_FULL.
    const pages = tasks.connection.pragma('page_count', { simple: true }) as number;
    tasks.connection.pragma(`max_page_count = ${pages}`);
    const failed = await stores.callerDefaults.set('key_alice', 'x'.repeat(100_000), 1000).catch((error: unknown) => error);
    expect(failed).toMatchObject({ id: 'DAN_ERR_STORE_UNAVAILABLE', message: expect.stringContaining(tasks.file) });
  });
});
describe.skipIf(skipPostgres)('caller defaults: PostgreSQL', () => {
  contract(postgres);
});
