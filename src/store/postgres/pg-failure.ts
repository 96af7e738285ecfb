/**
 * @module store/postgres/pg-failure
 *
 * The PostgreSQL store's counterpart of sqlite/storage-failure.ts: the one
 * place that tells the database being unreachable or out of resources (a
 * storage failure: `DAN_ERR_STORE_UNAVAILABLE`, HTTP 503, retried) from a bug
 * (SQL that does not parse, a constraint violated: left as thrown).
 */
import type pg from 'pg';
import { DanError } from '../../errors/dan-error.js';

/**
 * SQLSTATE classes of a database that cannot serve now: 08 connection exception, 53 insufficient
 * resources (disk full, too many connections), 57 operator intervention (shutdown, cannot connect
 * now), 58 system error (I/O), and 40P01/40001 (deadlock, serialization: tried again, it passes).
 */
const UNAVAILABLE_CLASSES = ['08', '53', '57', '58'];
const RETRYABLE_STATES = new Set(['40001', '40P01', '25006']);

/** Network errors of the connection itself (the server down, unreachable, or gone mid-query). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** pg's own messages when a connection ends, cannot be had, or is not heard from (they carry no code). */
const CONNECTION_MESSAGES = /Query read timeout|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end/i;

export function isStorageFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || RETRYABLE_STATES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_CLASSES.includes(code.slice(0, 2));
  }
  if (error instanceof AggregateError) return error.errors.some(isStorageFailure);
  return CONNECTION_MESSAGES.test(error.message);
}

/** A cause in a few words: the server's message and its SQLSTATE, or the network error. */
export function causeText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return causeText(error.errors[0]);
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/**
 * What a store operation rejects with: `DAN_ERR_STORE_UNAVAILABLE` naming the operation, the
 * database (its address without the password) and the cause; a bug as it was thrown.
 */
export function storeUnavailable(operation: string, error: unknown, database: string): unknown {
  if (!isStorageFailure(error)) return error;
  return new DanError('DAN_ERR_STORE_UNAVAILABLE', `${operation}: database ${database}: ${causeText(error)}`, { cause: error });
}

/** One statement on `database`'s pool; a storage failure rejects as DAN_ERR_STORE_UNAVAILABLE saying `failure`. */
export function guardedQuery<R extends pg.QueryResultRow>(database: { pool: pg.Pool; name: string }, failure: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  return guarded(database, failure, () => database.pool.query<R>(sql, params));
}

/** `work` on `database` (statements, a transaction); a storage failure rejects as DAN_ERR_STORE_UNAVAILABLE saying `failure`. */
export async function guarded<T>(database: { name: string }, failure: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw storeUnavailable(failure, error, database.name);
  }
}

/** `postgres://user:secret@host/db` as it may be logged and shown: the password replaced. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(an address that does not parse)';
  }
}
