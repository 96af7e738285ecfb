/**
 * @module store/sqlite/sqlite-caller-defaults
 *
 * Callers' default checkpoints (store/caller-defaults.ts) in the
 * `caller_defaults` table of `tasks.sqlite` (migration 0007), on the task
 * store's connection. A storage failure rejects as DAN_ERR_STORE_UNAVAILABLE
 * (storage-failure.ts), as the task store's operations do.
 */
import type Database from 'better-sqlite3';
import { ANONYMOUS_PREFIX } from '../../auth/caller.js';
import type { CallerDefaults } from '../caller-defaults.js';
import { guardedSync } from './storage-failure.js';

export class SqliteCallerDefaults implements CallerDefaults {
  readonly #file: string;
  readonly #get;
  readonly #set;
  readonly #forget;

  /** On an open, migrated connection: the task store's (`SqliteTaskStore.connection`, its `file`). */
  constructor(db: Database.Database, file: string) {
    this.#file = file;
    this.#get = db.prepare<[string], { checkpoint: string }>('SELECT checkpoint FROM caller_defaults WHERE owner = ?');
    this.#set = db.prepare<{ owner: string; checkpoint: string; at: number }>(
      `INSERT INTO caller_defaults (owner, checkpoint, updated_at) VALUES (@owner, @checkpoint, @at)
       ON CONFLICT (owner) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
    );
    this.#forget = db.prepare<{ prefix: string; at: number }>("DELETE FROM caller_defaults WHERE owner LIKE @prefix || '%' AND updated_at < @at");
  }

  get(owner: string): Promise<string | undefined> {
    return this.#run("could not read the caller's default checkpoint", () => this.#get.get(owner)?.checkpoint);
  }

  set(owner: string, checkpoint: string, at: number): Promise<void> {
    return this.#run("could not store the caller's default checkpoint", () => void this.#set.run({ owner, checkpoint, at }));
  }

  forgetAnonymousBefore(at: number): Promise<number> {
    return this.#run('could not remove expired default checkpoints', () => this.#forget.run({ prefix: ANONYMOUS_PREFIX, at }).changes);
  }

  #run<T>(failure: string, statement: () => T): Promise<T> {
    return guardedSync(failure, this.#file, statement);
  }
}
