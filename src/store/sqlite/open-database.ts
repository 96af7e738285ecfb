/**
 * @module store/sqlite/open-database
 *
 * Opens (creating if needed) the task database and the payload directory in a
 * data directory, and brings the schema up to date. Whatever in the directory
 * stops that (a path component that is a file, `tasks.sqlite` that is a
 * directory or not a database, a database that cannot be written) is one
 * StoreOpenError naming the directory, the file and the cause, and saying what
 * to do; SQLite's own "unable to open database file" names none of them.
 *
 * The payload directory is made here, not at the first large task: a data
 * directory whose `payloads` cannot be made fails at start, in front of the
 * operator, not at a client's submit.
 */
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import { makeDirSync } from '../../util/make-dir.js';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StartupError } from '../../errors/startup-error.js';
import { loadMigrations, SchemaTooNewError } from '../migrations.js';
import { StoreOpenError } from '../store-open-error.js';
import { describeFailure, fileStepSync, isStorageFailure } from './storage-failure.js';

export interface OpenedDatabase {
  db: Database.Database;
  /** `tasks.sqlite`, absolute, or `:memory:`. */
  file: string;
  /** The payload directory, absolute, or null for an in-memory store. */
  payloadsDir: string | null;
}

const FIX = '--data <dir> must be a directory DAN can write to (it is created if missing)';

/** Opens the store in `dataDir`, or in memory for `':memory:'`. Throws StoreOpenError when the directory cannot serve. */
export function openDatabase(dataDir: string, busyTimeoutMs: number): OpenedDatabase {
  const prepared = (db: Database.Database) => preparedDatabase(db, busyTimeoutMs);
  if (dataDir === ':memory:') return { db: prepared(new Database(':memory:')), file: ':memory:', payloadsDir: null };
  const dir = resolve(dataDir);
  const file = join(dir, 'tasks.sqlite');
  const payloadsDir = join(dir, 'payloads');
  try {
    // Owner only: the store holds prompts, input images and API keys. A directory DAN creates is 0700;
    // the database file is made 0600 before SQLite opens it (its journal files take the file's mode), or
    // made so if an earlier version left it readable to all.
    fileStepSync('creating the directory', dir, () => makeDirSync(dir, 0o700));
    fileStepSync('creating the directory', payloadsDir, () => makeDirSync(payloadsDir, 0o700));
    fileStepSync('creating the database file', file, () => closeSync(openSync(file, 'a', 0o600)));
    ownerOnly([file, `${file}-wal`, `${file}-shm`]);
    return { db: prepared(new Database(file)), file, payloadsDir };
  } catch (error) {
    throw openFailure(dir, file, error);
  }
}

/**
 * Takes group and world access off files an earlier version made readable to all (0644). Best effort:
 * a file of another owner stays as it is (the operator's setup), and one that is missing is skipped.
 */
function ownerOnly(files: readonly string[]): void {
  for (const path of files) {
    try {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch {
      // Missing, or not ours to change.
    }
  }
}

/** The StoreOpenError for `error`; a bug (not storage, not the schema) is thrown as it is. */
function openFailure(dir: string, file: string, error: unknown): unknown {
  if (error instanceof StartupError) return new StoreOpenError(dir, error.message, error);
  if (isStorageFailure(error)) return new StoreOpenError(dir, `${describeFailure(error, file)}; ${FIX}`, error);
  return error;
}

/** Sets the connection up and migrates it; closes it if that fails, so a refused start holds no file. */
function preparedDatabase(db: Database.Database, busyTimeoutMs: number): Database.Database {
  try {
    // First, so that a second gateway starting on the same file waits for the lock instead of failing.
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS dan_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const migrations = loadMigrations('sqlite');
  const latest = migrations.at(-1)?.version ?? 0;
  // IMMEDIATE takes the write lock first, so two gateways starting on one file cannot both migrate.
  db.transaction(() => {
    const row = db.prepare('SELECT MAX(version) AS v FROM dan_migrations').get() as { v: number | null };
    const current = row.v ?? 0;
    if (current > latest) throw new SchemaTooNewError(current, latest);
    for (const m of migrations.filter((m) => m.version > current)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO dan_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
  }).immediate();
}
