/**
 * @module store/sqlite/sqlite-delivery-store
 *
 * Webhook deliveries in the `webhook_deliveries` table of `tasks.sqlite`, on
 * the task store's connection (small rows: the body is made from the task at
 * each try, not kept).
 */
import type Database from 'better-sqlite3';
import { type Delivery, type DeliveryStore, type DueShare, dueSlice } from '../../webhooks/delivery-store.js';
import { type DeliveryRow, toDelivery } from '../rows.js';

export class SqliteDeliveryStore implements DeliveryStore {
  readonly #q;

  constructor(db: Database.Database) {
    this.#q = {
      taskEnded: db.prepare<{ task_id: string; now: number }>(
        `UPDATE webhook_deliveries SET state = 'pending', next_at = @now WHERE task_id = @task_id AND state = 'waiting'`,
      ),
      resumeEnded: db.prepare<{ now: number }>(
        `UPDATE webhook_deliveries SET state = 'pending', next_at = @now
         WHERE state = 'waiting' AND task_id IN (SELECT id FROM tasks WHERE finished_at IS NOT NULL)`,
      ),
      resumeGone: db.prepare<{ now: number }>(
        `UPDATE webhook_deliveries SET state = 'failed', finished_at = @now, last_error = 'the task was gone from the store'
         WHERE state = 'waiting' AND task_id NOT IN (SELECT id FROM tasks)`,
      ),
      waitingTasks: db.prepare<[], { task_id: string }>(`SELECT DISTINCT task_id FROM webhook_deliveries WHERE state = 'waiting'`),
      // The owners and ids to leave out come as JSON arrays (json_each): one prepared statement for any number.
      // Shared out among owners within the soonest `slice` due (the due index read in order, no more): a backlog
      // of thousands is not sorted at each pass.
      due: db.prepare<{ now: number; limit: number; slice: number; per_owner: number; skip_owners: string; skip_ids: string }, DeliveryRow>(
        `SELECT * FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY owner ORDER BY next_at, rowid) AS nth FROM (
             SELECT *, rowid FROM webhook_deliveries
             WHERE state = 'pending' AND next_at <= @now
               AND owner NOT IN (SELECT value FROM json_each(@skip_owners)) AND id NOT IN (SELECT value FROM json_each(@skip_ids))
             ORDER BY next_at LIMIT @slice
           )
         ) WHERE nth <= @per_owner ORDER BY next_at LIMIT @limit`,
      ),
      nextDueAt: db.prepare<{ skip_owners: string; skip_ids: string }, { at: number | null }>(
        `SELECT MIN(next_at) AS at FROM webhook_deliveries WHERE state = 'pending'
           AND owner NOT IN (SELECT value FROM json_each(@skip_owners)) AND id NOT IN (SELECT value FROM json_each(@skip_ids))`,
      ),
      recordTry: db.prepare<{ id: string; state: string; next_at: number | null; last_status: number | null; last_error: string | null; finished_at: number | null }>(
        `UPDATE webhook_deliveries SET state = @state, attempts = attempts + 1, next_at = @next_at, last_status = @last_status,
         last_error = @last_error, finished_at = @finished_at WHERE id = @id`,
      ),
      waitAgain: db.prepare<[string]>(`UPDATE webhook_deliveries SET state = 'waiting', next_at = NULL WHERE id = ? AND state = 'pending'`),
      listFor: db.prepare<{ owner: string; limit: number }, DeliveryRow>(
        `SELECT * FROM webhook_deliveries WHERE owner = @owner ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
      ),
      deleteFinishedBefore: db.prepare<{ at: number }>(`DELETE FROM webhook_deliveries WHERE finished_at IS NOT NULL AND finished_at < @at`),
    };
  }

  taskEnded(taskId: string, now: number): Promise<void> {
    this.#q.taskEnded.run({ task_id: taskId, now });
    return Promise.resolve();
  }

  resume(now: number): Promise<string[]> {
    this.#q.resumeEnded.run({ now });
    this.#q.resumeGone.run({ now });
    return Promise.resolve(this.#q.waitingTasks.all().map((row) => row.task_id));
  }

  due(now: number, limit: number, share: DueShare): Promise<Delivery[]> {
    const rows = this.#q.due.all({ now, limit, slice: dueSlice(limit), per_owner: share.perOwner, skip_owners: JSON.stringify(share.skipOwners), skip_ids: JSON.stringify(share.skipIds) });
    return Promise.resolve(rows.map(toDelivery));
  }

  nextDueAt(skip: Omit<DueShare, 'perOwner'>): Promise<number | null> {
    return Promise.resolve(this.#q.nextDueAt.get({ skip_owners: JSON.stringify(skip.skipOwners), skip_ids: JSON.stringify(skip.skipIds) })?.at ?? null);
  }

  recordTry(id: string, result: { ok: boolean; status: number | null; error: string | null; nextAt: number | null; at: number }): Promise<void> {
    const state = result.ok ? 'delivered' : result.nextAt === null ? 'failed' : 'pending';
    this.#q.recordTry.run({
      id,
      state,
      next_at: result.ok ? null : result.nextAt,
      last_status: result.status,
      last_error: result.error,
      finished_at: state === 'pending' ? null : result.at,
    });
    return Promise.resolve();
  }

  waitAgain(id: string): Promise<void> {
    this.#q.waitAgain.run(id);
    return Promise.resolve();
  }

  listFor(owner: string, limit: number): Promise<Delivery[]> {
    return Promise.resolve(this.#q.listFor.all({ owner, limit }).map(toDelivery));
  }

  deleteFinishedBefore(at: number): Promise<number> {
    return Promise.resolve(this.#q.deleteFinishedBefore.run({ at }).changes);
  }
}
