/**
 * @module store/postgres/postgres-delivery-store
 *
 * Webhook deliveries in the shared database's `webhook_deliveries` table
 * (small rows: the body is made from the task at each try, not kept). Same
 * contract as the SQLite adapter (webhooks/delivery-store.ts).
 */
import type pg from 'pg';
import { type Delivery, type DeliveryStore, type DueShare, dueSlice } from '../../webhooks/delivery-store.js';
import type { PostgresDatabase } from './open-postgres.js';
import { deleteInBatches } from './delete-in-batches.js';
import { guarded, guardedQuery } from './pg-failure.js';
import { type DeliveryRow, toDelivery } from '../rows.js';

/** How long a delivery handed out by `due` is left to the gateway that took it. */
const CLAIM_MS = 60_000;

export class PostgresDeliveryStore implements DeliveryStore {
  readonly #database: PostgresDatabase;

  constructor(database: PostgresDatabase) {
    this.#database = database;
  }

  #query<R extends pg.QueryResultRow>(failure: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return guardedQuery<R>(this.#database, failure, sql, params);
  }

  async taskEnded(taskId: string, now: number): Promise<void> {
    await this.#query(`could not schedule the webhooks of task ${taskId}`, `UPDATE webhook_deliveries SET state = 'pending', next_at = $2 WHERE task_id = $1 AND state = 'waiting'`, [taskId, now]);
  }

  async resume(now: number): Promise<string[]> {
    const failure = 'could not resume webhook deliveries';
    await this.#query(
      failure,
      `UPDATE webhook_deliveries d SET state = 'pending', next_at = $1
       FROM tasks t WHERE d.state = 'waiting' AND t.id = d.task_id AND t.finished_at IS NOT NULL`,
      [now],
    );
    await this.#query(
      failure,
      `UPDATE webhook_deliveries d SET state = 'failed', finished_at = $1, last_error = 'the task was gone from the store'
       WHERE d.state = 'waiting' AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = d.task_id)`,
      [now],
    );
    const { rows } = await this.#query<{ task_id: string }>(failure, `SELECT DISTINCT task_id FROM webhook_deliveries WHERE state = 'waiting'`);
    return rows.map((row) => row.task_id);
  }

  /**
   * Claims what is due: each delivery handed out is moved `CLAIM_MS` ahead, so that the other gateways
   * sharing the database, looking at the same moment, skip it (`SKIP LOCKED`) and it is sent once. Its
   * try's record sets its real next time; a gateway that dies mid-try leaves it to be tried again after
   * the claim.
   */
  async due(now: number, limit: number, share: DueShare): Promise<Delivery[]> {
    // Picked from the snapshot among the soonest `dueSlice` due (the due index read in order: a backlog is not
    // sorted at each pass), at most `perOwner` per owner; claimed only where still due when its row is locked: a
    // gateway that claimed it first has moved it ahead, and this one then leaves it (no SKIP LOCKED with a window).
    const { rows } = await this.#query<DeliveryRow>(
      'could not read due webhook deliveries',
      `UPDATE webhook_deliveries SET next_at = $1 + ${CLAIM_MS}
       WHERE id IN (
         SELECT id FROM (
           SELECT id, next_at, seq, ROW_NUMBER() OVER (PARTITION BY owner ORDER BY next_at, seq) AS nth FROM (
             SELECT id, owner, next_at, seq FROM webhook_deliveries
             WHERE state = 'pending' AND next_at <= $1 AND NOT (owner = ANY($3::text[])) AND NOT (id = ANY($4::text[]))
             ORDER BY next_at, seq LIMIT $6
           ) slice
         ) d WHERE nth <= $5 ORDER BY next_at, seq LIMIT $2
       ) AND state = 'pending' AND next_at <= $1
       RETURNING *`,
      [now, limit, share.skipOwners, share.skipIds, share.perOwner, dueSlice(limit)],
    );
    return rows.map(toDelivery).sort((a, b) => a.createdAt - b.createdAt);
  }

  async nextDueAt(skip: Omit<DueShare, 'perOwner'>): Promise<number | null> {
    const { rows } = await this.#query<{ at: number | null }>(
      'could not read webhook deliveries',
      `SELECT MIN(next_at) AS at FROM webhook_deliveries WHERE state = 'pending' AND NOT (owner = ANY($1::text[])) AND NOT (id = ANY($2::text[]))`,
      [skip.skipOwners, skip.skipIds],
    );
    return rows[0]?.at ?? null;
  }

  async recordTry(id: string, result: { ok: boolean; status: number | null; error: string | null; nextAt: number | null; at: number }): Promise<void> {
    const state = result.ok ? 'delivered' : result.nextAt === null ? 'failed' : 'pending';
    await this.#query(
      `could not record a try of webhook ${id}`,
      `UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, next_at = $3, last_status = $4, last_error = $5, finished_at = $6 WHERE id = $1`,
      [id, state, result.ok ? null : result.nextAt, result.status, result.error, state === 'pending' ? null : result.at],
    );
  }

  async waitAgain(id: string): Promise<void> {
    await this.#query(`could not put webhook ${id} back to wait`, `UPDATE webhook_deliveries SET state = 'waiting', next_at = NULL WHERE id = $1 AND state = 'pending'`, [id]);
  }

  async listFor(owner: string, limit: number): Promise<Delivery[]> {
    const { rows } = await this.#query<DeliveryRow>(
      'could not read webhook deliveries',
      'SELECT * FROM webhook_deliveries WHERE owner = $1 ORDER BY created_at DESC, seq DESC LIMIT $2',
      [owner, limit],
    );
    return rows.map(toDelivery);
  }

  async deleteFinishedBefore(at: number): Promise<number> {
    return guarded(this.#database, 'could not delete old webhook deliveries', () => deleteInBatches(this.#database.pool, 'webhook_deliveries', 'finished_at IS NOT NULL AND finished_at < $1', [at]));
  }
}
