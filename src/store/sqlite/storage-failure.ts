/**
 * @module store/sqlite/storage-failure
 *
 * The one place where the SQLite store tells a storage failure (disk full,
 * files not writable, a path that is not a directory, the database locked past
 * its busy timeout, …) from a bug, and words it. Every store operation runs
 * through `storeUnavailable` (sqlite-task-store.ts), and opening the store
 * words its failures with `describeFailure` too.
 *
 * A storage failure becomes `DAN_ERR_STORE_UNAVAILABLE` (HTTP 503): the
 * client retries, the dispatcher retries its write, and no node is blamed.
 * Anything else (a TypeError, a constraint violation, SQL that does not
 * parse) is left as it was thrown: dressed as a storage failure, a bug would
 * be retried forever and reported to operators as a full disk.
 */
import Database from 'better-sqlite3';
import { DanError } from '../../errors/dan-error.js';

/**
 * SQLite result codes of a storage failure; an extended code (`SQLITE_IOERR_WRITE`,
 * `SQLITE_READONLY_DBMOVED`, `SQLITE_BUSY_SNAPSHOT`) counts as its primary code.
 * CORRUPT and NOTADB are here because the operator fixes them on disk (restore
 * or move the file), and to a client the store is just as unavailable. Not
 * SQLITE_LOCKED: with one connection per store that is a conflict inside the
 * store's own code (a table changed under a running statement), a bug.
 */
const SQLITE_STORAGE_CODES = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_BUSY', 'SQLITE_PROTOCOL', 'SQLITE_NOLFS', 'SQLITE_CORRUPT', 'SQLITE_NOTADB'];

/**
 * System error codes of a storage failure. EEXIST is a file where a directory
 * must be. ENOENT is one when the store meets it (a payload directory removed under
 * a running gateway); a missing payload file on read is not an error at all and
 * never gets here (payload-files.ts).
 */
const FS_STORAGE_CODES = new Set([
  'ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ENOENT',
  'EIO', 'EMFILE', 'ENFILE', 'EBUSY', 'ESTALE', 'ETIMEDOUT', 'ENXIO', 'ELOOP',
]);

/**
 * A filesystem step that failed, with what the store was doing and where: a
 * writev on a file handle, for one, reports no path of its own.
 */
export class FileStepError extends Error {
  override readonly name = 'FileStepError';
  constructor(
    /** What was being done: `writing`, `reading`, `removing`, `creating the directory`. */
    readonly verb: string,
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`${verb} ${path} failed: ${causeText(cause)}`, { cause });
  }
}

/** Runs a filesystem step; a failure carries the verb and the path (FileStepError). */
export async function fileStep<T>(verb: string, path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw isSystemError(error) ? new FileStepError(verb, path, error) : error;
  }
}

/** `fileStep` for the synchronous calls made while opening the store. */
export function fileStepSync<T>(verb: string, path: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw isSystemError(error) ? new FileStepError(verb, path, error) : error;
  }
}

/** Whether `error` is the storage failing rather than the code that called it. */
export function isStorageFailure(error: unknown): boolean {
  if (error instanceof FileStepError) return isStorageFailure(error.cause);
  if (error instanceof Database.SqliteError) return SQLITE_STORAGE_CODES.some((code) => error.code === code || error.code.startsWith(`${code}_`));
  return isSystemError(error) && FS_STORAGE_CODES.has(error.code);
}

/**
 * Where and why storage failed, for a message: `writing /data/payloads/3f/3f2a….spec.json
 * failed: ENOSPC: no space left on device`, or for the database (whose errors name no
 * file) `database /data/tasks.sqlite: database or disk is full (SQLITE_FULL)`.
 */
export function describeFailure(error: unknown, databaseFile: string): string {
  if (error instanceof FileStepError) return error.message;
  if (error instanceof Database.SqliteError) return `database ${databaseFile}: ${causeText(error)}`;
  return causeText(error);
}

/**
 * What a store operation rejects with when it failed: `DAN_ERR_STORE_UNAVAILABLE`
 * saying what could not be done and why (`could not store task 3f2a…: writing … failed:
 * ENOSPC: …`), or for a bug the error itself, unchanged (a FileStepError unwrapped).
 */
export function storeUnavailable(operation: string, error: unknown, databaseFile: string): unknown {
  if (!isStorageFailure(error)) return error instanceof FileStepError ? error.cause : error;
  return new DanError('DAN_ERR_STORE_UNAVAILABLE', `${operation}: ${describeFailure(error, databaseFile)}`, { cause: error });
}

/**
 * One synchronous statement of a store on `databaseFile`, answered with an already settled promise (its
 * caller resumes at the next microtask, not after the extra hops of an async function); a storage failure
 * rejects as DAN_ERR_STORE_UNAVAILABLE saying `failure`.
 */
export function guardedSync<T>(failure: string, databaseFile: string, operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(storeUnavailable(failure, error, databaseFile));
  }
}

/**
 * A cause in a few words. Node's own message repeats the path after the syscall
 * (`ENOSPC: no space left on device, write`); the store names the path itself.
 */
function causeText(error: unknown): string {
  if (error instanceof Database.SqliteError) return `${error.message} (${error.code})`;
  if (isSystemError(error)) return error.message.replace(/, \w+(?: '.*')?$/s, '');
  return error instanceof Error ? error.message : String(error);
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}
