/**
 * @module store/postgres/postgres-caller-defaults
 *
 * Callers' default checkpoints (store/caller-defaults.ts) in the
 * `caller_defaults` table (migrations/postgres/0005), one for every gateway
 * sharing the database: read at each request, so a choice made through one
 * gateway holds at the next request through another.
 */
import { ANONYMOUS_PREFIX } from '../../auth/caller.js';
import type { CallerDefaults } from '../caller-defaults.js';
import type { PostgresDatabase } from './open-postgres.js';
import { guardedQuery } from './pg-failure.js';

export class PostgresCallerDefaults implements CallerDefaults {
  readonly #database: PostgresDatabase;

  constructor(database: PostgresDatabase) {
    this.#database = database;
  }

  async get(owner: string): Promise<string | undefined> {
    const { rows } = await guardedQuery<{ checkpoint: string }>(this.#database, "could not read the caller's default checkpoint", 'SELECT checkpoint FROM caller_defaults WHERE owner = $1', [owner]);
    return rows[0]?.checkpoint;
  }

  async set(owner: string, checkpoint: string, at: number): Promise<void> {
    await guardedQuery(
      this.#database,
      "could not store the caller's default checkpoint",
      `INSERT INTO caller_defaults (owner, checkpoint, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (owner) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
      [owner, checkpoint, at],
    );
  }

  async forgetAnonymousBefore(at: number): Promise<number> {
    const { rowCount } = await guardedQuery(this.#database, 'could not remove expired default checkpoints', "DELETE FROM caller_defaults WHERE owner LIKE $1 || '%' AND updated_at < $2", [ANONYMOUS_PREFIX, at]);
    return rowCount ?? 0;
  }
}
