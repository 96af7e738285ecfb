/**
 * @module store/sqlite/sqlite-caller-defaults
 *
 * Callers' default checkpoints (store/caller-defaults.ts) in the
 * `caller_defaults` table of `tasks.sqlite` (migration 0007), on the task
 * store's connection.
 */
import type Database from 'better-sqlite3';
import type { CallerDefaults } from '../caller-defaults.js';

export class SqliteCallerDefaults implements CallerDefaults {
  readonly #get;
  readonly #set;

  /** On an open, migrated connection: the task store's (`SqliteTaskStore.connection`). */
  constructor(db: Database.Database) {
    this.#get = db.prepare<[string], { checkpoint: string }>('SELECT checkpoint FROM caller_defaults WHERE owner = ?');
    this.#set = db.prepare<{ owner: string; checkpoint: string; at: number }>(
      `INSERT INTO caller_defaults (owner, checkpoint, updated_at) VALUES (@owner, @checkpoint, @at)
       ON CONFLICT (owner) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
    );
  }

  get(owner: string): Promise<string | undefined> {
    return Promise.resolve(this.#get.get(owner)?.checkpoint);
  }

  set(owner: string, checkpoint: string, at: number): Promise<void> {
    this.#set.run({ owner, checkpoint, at });
    return Promise.resolve();
  }
}
