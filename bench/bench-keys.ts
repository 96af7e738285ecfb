/**
 * API keys for the benchmarks, made on a gateway's data directory before it
 * starts (as `dan keys create` would): each without limits of its own, so a
 * benchmark measures the gateway, not its quotas, while tasks still belong to
 * separate keys (fair shares, ownership) as in production.
 */
import type { KeySettings } from '../src/auth/api-key.js';
import { KeyAdmin } from '../src/auth/key-admin.js';
import { openDatabase } from '../src/store/sqlite/open-database.js';
import { SqliteKeyStore } from '../src/store/sqlite/sqlite-key-store.js';

/** A key named after each of `names`, in `dataDir`'s store; their secrets by name. */
export async function makeBenchKeys(dataDir: string, names: readonly string[], limits: KeySettings = {}): Promise<Map<string, string>> {
  const { db } = openDatabase(dataDir, 5_000);
  try {
    const admin = new KeyAdmin(new SqliteKeyStore(db));
    const secrets = new Map<string, string>();
    for (const name of names) secrets.set(name, (await admin.create({ name, maxTasks: 0, requestsPerMinute: 0, ...limits })).secret);
    return secrets;
  } finally {
    db.close();
  }
}
