/**
 * The machine's PostgreSQL for the store tests: each suite gets a schema of its
 * own (`search_path` in the address), dropped afterwards, so suites and runs
 * never see each other's tables. The server: `DAN_TEST_DATABASE_URL`, else
 * postgres://postgres@127.0.0.1:5432/test (.ci/run starts it).
 *
 * Without a server, `npm test` skips the PostgreSQL suites and says so; with
 * `CI=true` they are mandatory and fail instead.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_URL = process.env['DAN_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function reachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

const unreachable = await reachable();
if (unreachable !== null && process.env['CI'] === 'true') {
  throw new Error(`PostgreSQL at ${POSTGRES_URL} is not reachable (${unreachable}); with CI=true the PostgreSQL suites are mandatory`);
}
if (unreachable !== null) {
  process.stderr.write(`PostgreSQL suites skipped: ${POSTGRES_URL} is not reachable (${unreachable}); set DAN_TEST_DATABASE_URL or start the server\n`);
}

/** For `describe.skipIf(skipPostgres)`: no server, and not CI (where its absence fails the file instead). */
export const skipPostgres = unreachable !== null;

export interface TestSchema {
  /** The address with this schema as the search path. */
  url: string;
  drop(): Promise<void>;
}

/** A new, empty schema; `url` reaches it (for a store, a gateway process, `psql`). */
export async function freshSchema(): Promise<TestSchema> {
  const schema = `dan_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}
