/**
 * @module store/postgres/open-postgres
 *
 * Connects to the PostgreSQL database several gateways share and brings its
 * schema up to date: numbered migrations (migrations/postgres/), each in a
 * transaction, under an advisory lock so that gateways starting together
 * migrate once, one after the other. A database that cannot be reached or
 * migrated is a StoreOpenError naming it (password hidden) and the cause.
 */
import pg from 'pg';
import { StartupError } from '../../errors/startup-error.js';
import { loadMigrations, SchemaTooNewError } from '../migrations.js';
import { StoreOpenError } from '../store-open-error.js';
import { causeText, redactedUrl } from './pg-failure.js';

export interface PostgresOptions {
  /** Connections in the pool. @defaultValue 10 */
  poolSize?: number;
  /** How long a query waits for a connection (and a connection for the server). @defaultValue 5 s */
  connectTimeoutMs?: number;
  /**
   * How long one statement may run before the server cancels it: it is then answered as the store
   * unavailable (503), not left holding a request or the dispatcher. A `statement_timeout` in the
   * database's address takes precedence; 0 is none. Migrations are not bound by it. @defaultValue 15 s
   */
  statementTimeoutMs?: number;
  /** Where trouble the pool works around goes (an idle connection the server dropped). */
  warn?: (message: string) => void;
}

export interface PostgresDatabase {
  pool: pg.Pool;
  /** The address as it may be shown: its password hidden. */
  name: string;
  /** The address itself, for a connection of its own (never shown: it may hold a password). */
  url: string;
}

/** Any 64-bit number: the advisory lock every DAN gateway takes to migrate. */
export const MIGRATION_LOCK = 0x64616e5f6d6967n; // "dan_mig"

/**
 * How much longer than the statement timeout the client waits for any answer before it gives the query up
 * (pg's `query_timeout`): the server cancels a slow statement itself; this is for a server that cannot be
 * heard at all (a network cut that closed nothing).
 */
const UNHEARD_GRACE_MS = 5_000;

/** When the OS starts probing an idle connection, so that one to a server gone without a word is found dead. */
const KEEPALIVE_AFTER_MS = 10_000;

/** Epoch milliseconds are BIGINT columns: read as numbers (exact up to 2^53), not strings. */
const BIGINT_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === BIGINT_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PostgresDatabase> {
  const name = redactedUrl(url);
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  let statementTimeoutMs: number;
  try {
    statementTimeoutMs = addressedTimeoutMs(url) ?? options.statementTimeoutMs ?? 15_000;
  } catch (error) {
    throw new StoreOpenError(name, (error as Error).message, error, 'the database');
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: connectTimeoutMs,
    // A statement that hangs (a lock held elsewhere, a server that stopped answering) fails as the store
    // unavailable rather than waiting forever.
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs > 0 ? statementTimeoutMs + UNHEARD_GRACE_MS : 0,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_AFTER_MS,
    application_name: 'dan',
    types,
  });
  // An idle connection the server closed (a restart): the pool drops it and opens another when needed.
  // Without a listener this event would end the process.
  pool.on('error', (error) => options.warn?.(`database ${name}: an idle connection failed: ${causeText(error)}`));
  try {
    await migrate(url, connectTimeoutMs);
    return { pool, name, url };
  } catch (error) {
    await pool.end().catch(() => {});
    // 3F000: the schema the address's search_path names does not exist (no schema to create tables in).
    const noSchema = (error as { code?: unknown }).code === '3F000' ? ' (the schema its search_path names must exist first: CREATE SCHEMA <name>)' : '';
    const detail = error instanceof StartupError ? error.message : `${causeText(error)}; --database must name a PostgreSQL database DAN can reach and create tables in${noSchema}`;
    throw new StoreOpenError(name, detail, error, 'the database');
  }
}

/**
 * The `statement_timeout` the database's address gives, in milliseconds: pg sends it in place of the
 * pool's, so the client's own wait must follow it. A whole number only: pg reads `1min` as 1 ms.
 */
function addressedTimeoutMs(url: string): number | undefined {
  let raw: string | null;
  try {
    raw = new URL(url).searchParams.get('statement_timeout');
  } catch {
    return undefined;
  }
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) throw new Error(`statement_timeout=${raw} in the address is not a whole number of milliseconds (60000 is a minute, 0 none)`);
  return Number(raw);
}

/**
 * On a connection of its own, without the pool's statement timeout: a migration of a large table may take
 * long, and so may the wait for the lock while another gateway migrates.
 */
async function migrate(url: string, connectTimeoutMs: number): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_AFTER_MS,
    application_name: 'dan migrate',
    types,
  });
  // A connection lost between statements is reported by the next one; unheard, this event would end the process.
  client.on('error', () => {});
  try {
    await client.connect();
    // A statement_timeout in the address reaches this connection too.
    await client.query('SET statement_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS dan_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const migrations = loadMigrations('postgres');
      const latest = migrations.at(-1)?.version ?? 0;
      const current = Number((await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM dan_migrations')).rows[0]?.v ?? 0);
      if (current > latest) throw new SchemaTooNewError(current, latest, 'point --database at another database');
      for (const m of migrations.filter((m) => m.version > current)) {
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO dan_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    await client.end().catch(() => {});
  }
}
