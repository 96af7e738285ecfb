/**
 * @module store/sqlite/queries
 *
 * Every statement the SQLite task store runs, prepared once. Names match the
 * store methods; parameters are named, never interpolated.
 */
import type Database from 'better-sqlite3';
import type { TaskKind } from '../../domain/spec.js';

export interface TaskRow {
  id: string;
  kind: TaskKind;
  state: string;
  owner: string | null;
  spec: string | null;
  /** JSON (a caption, an old image result), or an image result's bytes (stored-result.ts). */
  result: string | Buffer | null;
  attempts: number;
  node_id: string | null;
  node_identity: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error_id: string | null;
  error_message: string | null;
}

export function createQueries(db: Database.Database) {
  return {
    insert: db.prepare<{ id: string; kind: string; owner: string | null; spec: string | null; created_at: number }>(
      `INSERT INTO tasks (id, kind, state, owner, spec, created_at) VALUES (@id, @kind, 'queued', @owner, @spec, @created_at)`,
    ),
    get: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
    /**
     * queued → running, or running → running again; the attempt must be the next one either way.
     * Running with the previous attempt is a requeue whose write failed (task-store.ts).
     */
    markRunning: db.prepare<{ id: string; attempt: number; node_id: string; node_identity: string | null; at: number }>(
      `UPDATE tasks SET state = 'running', attempts = @attempt, node_id = @node_id, node_identity = @node_identity, started_at = @at
       WHERE id = @id AND state IN ('queued', 'running') AND attempts < @attempt`,
    ),
    requeue: db.prepare<{ id: string; attempt: number }>(
      `UPDATE tasks SET state = 'queued' WHERE id = @id AND state = 'running' AND attempts = @attempt`,
    ),
    complete: db.prepare<{ id: string; attempt: number; result: string | Buffer | null; at: number }>(
      `UPDATE tasks SET state = 'succeeded', result = @result, finished_at = @at, spec = NULL
       WHERE id = @id AND state IN ('queued', 'running') AND attempts = @attempt`,
    ),
    fail: db.prepare<{ id: string; attempt: number | null; error_id: string; error_message: string; at: number }>(
      `UPDATE tasks SET state = 'failed', error_id = @error_id, error_message = @error_message, finished_at = @at, spec = NULL
       WHERE id = @id AND state IN ('queued', 'running') AND (@attempt IS NULL OR attempts = @attempt)`,
    ),
    cancel: db.prepare<{ id: string; attempt: number | null; reason: string; at: number }>(
      `UPDATE tasks SET state = 'cancelled', error_id = 'DAN_ERR_TASK_CANCELLED', error_message = @reason, finished_at = @at, spec = NULL
       WHERE id = @id AND state IN ('queued', 'running') AND (@attempt IS NULL OR attempts = @attempt)`,
    ),
    listUnfinished: db.prepare<[], TaskRow>(
      `SELECT * FROM tasks WHERE state IN ('queued', 'running') ORDER BY created_at, rowid`,
    ),
    listRunning: db.prepare<[], { id: string; attempts: number }>(`SELECT id, attempts FROM tasks WHERE state = 'running'`),
    listFinishedBefore: db.prepare<{ at: number }, { id: string; attempts: number }>(
      'SELECT id, attempts FROM tasks WHERE finished_at IS NOT NULL AND finished_at < @at',
    ),
    delete: db.prepare<[string]>('DELETE FROM tasks WHERE id = ?'),
    insertIdempotency: db.prepare<{ owner: string; key: string; body_hash: string; task_id: string; created_at: number }>(
      'INSERT INTO idempotency_keys (owner, key, body_hash, task_id, created_at) VALUES (@owner, @key, @body_hash, @task_id, @created_at)',
    ),
    findIdempotency: db.prepare<{ owner: string; key: string; since: number }, { task_id: string; body_hash: string }>(
      'SELECT task_id, body_hash FROM idempotency_keys WHERE owner = @owner AND key = @key AND created_at >= @since',
    ),
    deleteIdempotency: db.prepare<{ owner: string; key: string }>('DELETE FROM idempotency_keys WHERE owner = @owner AND key = @key'),
    deleteIdempotencyOf: db.prepare<[string]>('DELETE FROM idempotency_keys WHERE task_id = ?'),
    insertDelivery: db.prepare<{ id: string; owner: string; task_id: string; url: string; created_at: number }>(
      `INSERT INTO webhook_deliveries (id, owner, task_id, url, state, created_at) VALUES (@id, @owner, @task_id, @url, 'waiting', @created_at)`,
    ),
    /** A task's state and attempt, and whether its spec lives in a payload file (a finished task's never does). */
    current: db.prepare<[string], { state: string; attempts: number; spec_in_file: number }>(
      `SELECT state, attempts, spec IS NULL AND state IN ('queued', 'running') AS spec_in_file FROM tasks WHERE id = ?`,
    ),
  };
}
