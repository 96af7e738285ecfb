/**
 * @module store/sqlite/sqlite-key-store
 *
 * API keys in the `api_keys` table of `tasks.sqlite` (migration 0003), on the
 * task store's connection. `changeMark` is SQLite's `data_version`: it moves
 * only when another connection (another process, such as `dan keys`) commits,
 * so the gateway notices a key revoked from the command line at its next
 * request, for the cost of one pragma.
 */
import type Database from 'better-sqlite3';
import type { ApiKeyRecord } from '../../auth/api-key.js';
import type { KeyChanges, KeyStore } from '../../auth/key-store.js';
import { type KeyRow, toKeyRecord } from '../rows.js';

export class SqliteKeyStore implements KeyStore {
  readonly #db: Database.Database;
  readonly #q;

  /** On an open, migrated connection: the task store's (`SqliteTaskStore.connection`). */
  constructor(db: Database.Database) {
    this.#db = db;
    this.#q = {
      insert: db.prepare<Record<keyof KeyRow, string | number | null>>(
        `INSERT INTO api_keys (id, kind, name, prefix, hash, webhook_secret, limits, created_at, revoked_at)
         VALUES (@id, @kind, @name, @prefix, @hash, @webhook_secret, @limits, @created_at, @revoked_at)`,
      ),
      list: db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at, rowid'),
      get: db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?'),
      update: db.prepare<{ id: string; name: string; limits: string }>('UPDATE api_keys SET name = @name, limits = @limits WHERE id = @id'),
      revoke: db.prepare<{ id: string; at: number }>('UPDATE api_keys SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL'),
      dataVersion: db.prepare<[], { data_version: number }>('PRAGMA data_version'),
    };
  }

  add(record: ApiKeyRecord): Promise<void> {
    this.#q.insert.run({
      id: record.id,
      kind: record.kind,
      name: record.name,
      prefix: record.prefix,
      hash: record.hash,
      webhook_secret: record.webhookSecret,
      limits: JSON.stringify(record.limits),
      created_at: record.createdAt,
      revoked_at: record.revokedAt,
    });
    return Promise.resolve();
  }

  list(): Promise<ApiKeyRecord[]> {
    return Promise.resolve(this.#q.list.all().map(toKeyRecord));
  }

  get(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#q.get.get(id);
    return Promise.resolve(row ? toKeyRecord(row) : undefined);
  }

  update(id: string, changes: KeyChanges): Promise<ApiKeyRecord | undefined> {
    const updated = this.#db.transaction(() => {
      const row = this.#q.get.get(id);
      if (!row) return undefined;
      const current = toKeyRecord(row);
      this.#q.update.run({ id, name: changes.name ?? current.name, limits: JSON.stringify(changes.limits ?? current.limits) });
      return toKeyRecord(this.#q.get.get(id)!);
    }).immediate();
    return Promise.resolve(updated);
  }

  revoke(id: string, at: number): Promise<ApiKeyRecord | undefined> {
    this.#q.revoke.run({ id, at });
    return this.get(id);
  }

  changeMark(): number {
    return this.#q.dataVersion.get()!.data_version;
  }
}
