/**
 * @module store/postgres/shared-settings
 *
 * Values every gateway sharing the database must agree on (`settings`,
 * migrations/postgres/0004_settings.sql): the first gateway to propose one
 * sets it, and every gateway after it takes that one.
 */
import type { PostgresDatabase } from './open-postgres.js';
import { guarded } from './pg-failure.js';

// The inserted row is not visible to the same statement's SELECT: the UNION takes it from the CTE.
const AGREE = `
  WITH proposed AS (INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value)
  SELECT value FROM proposed UNION ALL SELECT value FROM settings WHERE name = $1 LIMIT 1`;

/** The value of `name` for every gateway: `proposal` if none was set before. */
export async function agreeOn(database: PostgresDatabase, name: string, proposal: string): Promise<string> {
  return guarded(database, `could not read the shared setting ${name}`, async () => {
    const { rows } = await database.pool.query<{ value: string }>(AGREE, [name, proposal]);
    if (rows[0]) return rows[0].value;
    // Another gateway's proposal committed while this statement ran: its snapshot was too early to see it.
    const again = await database.pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name]);
    return again.rows[0]?.value ?? proposal;
  });
}
