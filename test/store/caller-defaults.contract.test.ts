/**
 * Callers' default checkpoints (store/caller-defaults.ts), against both stores: the
 * embedded SQLite one and PostgreSQL on the machine's real server (a schema of its
 * own per test). A choice holds across a restart, and, on PostgreSQL, at every
 * gateway sharing the database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStores, type Stores } from '../../src/store/open-stores.js';
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
});
describe.skipIf(skipPostgres)('caller defaults: PostgreSQL', () => {
  contract(postgres);
});
