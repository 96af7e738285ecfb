/**
 * @module store/postgres/postgres-key-store
 *
 * API keys and node tokens in the shared database's `api_keys` table. Every
 * change fires a trigger that notifies `dan_keys_changed`; each gateway
 * listens on a connection of its own and moves its `changeMark` when told, so
 * a key revoked on one gateway (or by `dan keys`) is refused by all of them
 * within the key ring's refresh (a second). While that connection is down,
 * the mark moves on every look: the ring reads the keys each second instead,
 * until the connection is back.
 */
import type pg from 'pg';
import type { ApiKeyRecord } from '../../auth/api-key.js';
import type { KeyChanges, KeyStore } from '../../auth/key-store.js';
import type { PostgresDatabase } from './open-postgres.js';
import type { PgListener } from './pg-listener.js';
import { guarded } from './pg-failure.js';
import { type KeyRow, toKeyRecord } from '../rows.js';

const CHANNEL = 'dan_keys_changed';

export class PostgresKeyStore implements KeyStore {
  readonly #pool: pg.Pool;
  readonly #name: string;
  #mark = 0;
  #listener: PgListener | null = null;

  private constructor(database: PostgresDatabase) {
    this.#pool = database.pool;
    this.#name = database.name;
  }

  /** A key store that hears of other processes' changes through `listener` (none for a one-off command such as `dan keys`). */
  static async open(database: PostgresDatabase, listener: PgListener | null): Promise<PostgresKeyStore> {
    const store = new PostgresKeyStore(database);
    if (listener) {
      store.#listener = listener;
      await listener.listen(CHANNEL, {
        onNotification: () => (store.#mark += 1),
        // Changes made while no one listened.
        onReconnected: () => (store.#mark += 1),
      });
    }
    return store;
  }

  #guarded<T>(failure: string, operation: () => Promise<T>): Promise<T> {
    return guarded({ name: this.#name }, failure, operation);
  }

  add(record: ApiKeyRecord): Promise<void> {
    return this.#guarded(`could not store key ${record.id}`, async () => {
      await this.#pool.query(
        `INSERT INTO api_keys (id, kind, name, prefix, hash, webhook_secret, limits, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [record.id, record.kind, record.name, record.prefix, record.hash, record.webhookSecret, JSON.stringify(record.limits), record.createdAt, record.revokedAt],
      );
    });
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.#guarded('could not read the keys', async () => (await this.#pool.query<KeyRow>('SELECT * FROM api_keys ORDER BY created_at, seq')).rows.map(toKeyRecord));
  }

  get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#guarded(`could not read key ${id}`, async () => {
      const { rows } = await this.#pool.query<KeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
      return rows[0] ? toKeyRecord(rows[0]) : undefined;
    });
  }

  update(id: string, changes: KeyChanges): Promise<ApiKeyRecord | undefined> {
    return this.#guarded(`could not change key ${id}`, async () => {
      // COALESCE keeps what is not changed, in one statement: no read-then-write race between gateways.
      const { rows } = await this.#pool.query<KeyRow>(
        'UPDATE api_keys SET name = COALESCE($2, name), limits = COALESCE($3, limits) WHERE id = $1 RETURNING *',
        [id, changes.name ?? null, changes.limits ? JSON.stringify(changes.limits) : null],
      );
      return rows[0] ? toKeyRecord(rows[0]) : undefined;
    });
  }

  revoke(id: string, at: number): Promise<ApiKeyRecord | undefined> {
    return this.#guarded(`could not revoke key ${id}`, async () => {
      // A revoked key stays revoked at its first time.
      const { rows } = await this.#pool.query<KeyRow>('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *', [id, at]);
      return rows[0] ? toKeyRecord(rows[0]) : undefined;
    });
  }

  changeMark(): number {
    // Not listening (lost for now): any look may find a change.
    if (this.#listener?.connected === false) this.#mark += 1;
    return this.#mark;
  }


}
