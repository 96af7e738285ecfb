/**
 * @module store/postgres/postgres-task-store
 *
 * The task store on PostgreSQL, for gateways that share one database
 * (migrations/postgres/0001_init.sql). Same contract as the SQLite store
 * (task-store.ts); the differences are where things live:
 *
 * - `tasks` holds each task's state and times only. Its input and its result
 *   are rows of `task_payloads` (BYTEA): the spec as JSON, image results as
 *   the images' bytes (stored-result.ts), so every gateway can serve them and
 *   the hot table stays small.
 * - Every change is one statement (data-modifying CTEs): a task, its spec, its
 *   Idempotency-Key and its webhook go in together or not at all; a result and
 *   its state change together. No file ordering to keep, no stray payloads.
 * - The conditional updates are the claims: two gateways starting the same
 *   attempt of a task cannot both succeed (`attempts < $attempt` under the row
 *   lock the UPDATE takes).
 *
 * Failures: an unreachable or failing database rejects as
 * DAN_ERR_STORE_UNAVAILABLE naming the operation, the database (password
 * hidden) and the cause (pg-failure.ts); a bug rejects as itself.
 */
import type pg from 'pg';
import type { GenerationSpec, RelayedResult, TaskKind } from '../../domain/spec.js';
import type { TaskError, TaskState } from '../../domain/task.js';
import { toJsonBuffer } from '../../util/json-buffer.js';
import { readStoredResult, storedResultParts } from '../stored-result.js';
import { type IdempotentTask, IdempotencyKeyTaken, type NewTask, type StoredTask, type TaskStore } from '../task-store.js';
import type { PostgresDatabase } from './open-postgres.js';
import { storeUnavailable } from './pg-failure.js';
import { StatementBatch } from './statement-batch.js';

interface TaskRow {
  id: string;
  kind: TaskKind;
  state: TaskState;
  owner: string | null;
  attempts: number;
  node_id: string | null;
  gateway_id: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error_id: string | null;
  error_message: string | null;
  spec_data: Buffer | null;
  result_format: 'json' | 'images' | null;
  result_data: Buffer | null;
}

/**
 * Every change other gateways must hear of is told on `dan_tasks` by the statement that makes it
 * (`pg_notify` is delivered at commit, in commit order, to every listener): `queued` (stored, or put
 * back), `started` (an attempt claimed), `ended`. `g` is the gateway that made the change, so that it
 * can skip its own news (task-feed.ts).
 */
export const TASKS_CHANNEL = 'dan_tasks';
const notify = (event: string, gateway: string, extra = '', idColumn = 'id') =>
  `pg_notify('${TASKS_CHANNEL}', json_build_object('e', '${event}', 'g', ${gateway}::text, 't', ${idColumn}${extra})::text)`;

const SELECT_TASKS = `
  SELECT t.id, t.kind, t.state, t.owner, t.attempts, t.node_id, t.gateway_id, t.created_at, t.started_at, t.finished_at,
         t.error_id, t.error_message, s.data AS spec_data, r.format AS result_format, r.data AS result_data
  FROM tasks t
  LEFT JOIN task_payloads s ON s.task_id = t.id AND s.name = 'spec'
  LEFT JOIN task_payloads r ON r.task_id = t.id AND r.name = 'result'`;

const GET = `${SELECT_TASKS} WHERE t.id = $1`;

/**
 * A new task's notice carries the task itself when it fits (a notice holds 8,000 bytes; a txt2img spec
 * is a few hundred): every other gateway adopts every task, and a read of each from the database by
 * each of them was most of the load that more gateways added (bench:scale).
 */
const SMALL_TASK_NEWS = `, 'task', CASE WHEN length($5) <= 6000 THEN json_build_object('kind', $2::text, 'owner', $3::text, 'createdAt', $4::bigint, 'weight', $11::float8, 'spec', convert_from($5, 'UTF8')::json) END`;

const INSERT = `
  WITH t AS (
    INSERT INTO tasks (id, kind, state, owner, created_at) VALUES ($1, $2, 'queued', $3, $4) RETURNING id
  ), s AS (
    INSERT INTO task_payloads (task_id, name, format, data) SELECT id, 'spec', 'json', $5 FROM t
  ), i AS (
    INSERT INTO idempotency_keys (owner, key, body_hash, task_id, created_at) SELECT $3, $6, $7, id, $4 FROM t WHERE $6::text IS NOT NULL
  ), d AS (
    INSERT INTO webhook_deliveries (id, owner, task_id, url, state, created_at) SELECT $8, $3, id, $9, 'waiting', $4 FROM t WHERE $8::text IS NOT NULL
  )
  SELECT ${notify('queued', '$10', SMALL_TASK_NEWS)} FROM t`;

/** How many rows `u` changed, telling each: the end of a statement whose CTE `u` returns the ids. */
const countTelling = (event: string, gateway: string, extra = '') => `SELECT count(*)::int AS n FROM u, LATERAL (SELECT ${notify(event, gateway, extra)}) AS told`;

/** An update to an end state ($1 id, `condition` on the row, `gateway` the parameter naming this gateway), which drops the task's input with it. */
const finishing = (set: string, condition: string, gateway: string) => `
  WITH u AS (UPDATE tasks SET ${set} WHERE id = $1 AND ${condition} RETURNING id),
  s AS (DELETE FROM task_payloads WHERE task_id IN (SELECT id FROM u) AND name = 'spec')
  ${countTelling('ended', gateway)}`;

/** Results of one turn ($1 ids, $2 attempts, $3 times, $4 formats, $5 data, $6 this gateway): each stored if its attempt is the row's. */
const COMPLETE_MANY = `
  WITH i AS (SELECT DISTINCT ON (id, attempt) * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bytea[]) AS i(id, attempt, at, format, data)),
  u AS (
    UPDATE tasks t SET state = 'succeeded', finished_at = i.at FROM i
    WHERE t.id = i.id AND t.state = 'running' AND t.attempts = i.attempt RETURNING t.id, t.attempts
  ), r AS (
    INSERT INTO task_payloads (task_id, name, format, data) SELECT i.id, 'result', i.format, i.data FROM i JOIN u ON u.id = i.id AND u.attempts = i.attempt
    ON CONFLICT (task_id, name) DO UPDATE SET format = EXCLUDED.format, data = EXCLUDED.data
  ), s AS (
    DELETE FROM task_payloads WHERE task_id IN (SELECT id FROM u) AND name = 'spec'
  )
  SELECT u.id, u.attempts, ${notify('ended', '$6', '', 'u.id')} AS told FROM u`;

const FAIL = finishing(
  `state = 'failed', error_id = $3, error_message = $4, finished_at = $5`,
  `state IN ('queued', 'running') AND ($2::int IS NULL OR attempts = $2)`,
  '$6',
);
const CANCEL = finishing(
  `state = 'cancelled', error_id = 'DAN_ERR_TASK_CANCELLED', error_message = $3, finished_at = $4`,
  `state IN ('queued', 'running') AND ($2::int IS NULL OR attempts = $2)`,
  '$5',
);
/** The starts of one pass ($1 ids, $2 attempts, $3 nodes, $4 times, $5 this gateway): each made if its attempt is higher than the row's. */
const MARK_RUNNING_MANY = `
  WITH i AS (SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[]) AS i(id, attempt, node_id, at)),
  u AS (
    UPDATE tasks t SET state = 'running', attempts = i.attempt, node_id = i.node_id, started_at = i.at, gateway_id = $5 FROM i
    WHERE t.id = i.id AND t.state IN ('queued', 'running') AND t.attempts < i.attempt RETURNING t.id, t.attempts, t.node_id
  )
  SELECT u.id, u.attempts, ${notify('started', '$5', `, 'a', u.attempts, 'n', u.node_id`, 'u.id')} AS told FROM u`;
const REQUEUE = `
  WITH u AS (UPDATE tasks SET state = 'queued' WHERE id = $1 AND state = 'running' AND attempts = $2 RETURNING id)
  ${countTelling('queued', '$3')}`;

export class PostgresTaskStore implements TaskStore {
  readonly #pool: pg.Pool;
  readonly #name: string;
  readonly #gatewayId: string | null;
  readonly #starts = new StatementBatch<{ id: string; attempt: number; nodeId: string; at: number }>({
    at: 'microtask',
    keyOf: (start) => `${start.id}:${start.attempt}`,
    run: (starts) =>
      this.#changed('mark_running_many', MARK_RUNNING_MANY, [starts.map((s) => s.id), starts.map((s) => s.attempt), starts.map((s) => s.nodeId), starts.map((s) => s.at), this.#who]),
  });
  readonly #results = new StatementBatch<{ id: string; attempt: number; at: number; format: 'json' | 'images'; data: Buffer }>({
    at: 'turn',
    keyOf: (result) => `${result.id}:${result.attempt}`,
    run: (results) =>
      this.#changed('complete_many', COMPLETE_MANY, [
        results.map((r) => r.id),
        results.map((r) => r.attempt),
        results.map((r) => r.at),
        results.map((r) => r.format),
        results.map((r) => r.data),
        this.#who,
      ]),
  });

  /**
   * On a database opened and migrated by `openPostgres`; `close` ends its pool. `gatewayId`: the gateway
   * whose nodes the attempts it starts run on (gateway-registry.ts), recorded with each start.
   */
  constructor(database: PostgresDatabase, options: { gatewayId?: string | null } = {}) {
    this.#pool = database.pool;
    this.#name = database.name;
    this.#gatewayId = options.gatewayId ?? null;
  }

  async #guarded<T>(failure: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw storeUnavailable(failure, error, this.#name);
    }
  }

  /** Runs one of the statements of every task (insert, start, end, read) prepared: parsed and planned once per connection. */
  #prepared<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>({ name: `dan_${name}`, text, values });
  }

  /** The `id:attempts` of the rows a batch statement changed. */
  async #changed(name: string, sql: string, params: unknown[]): Promise<ReadonlySet<string>> {
    const { rows } = await this.#prepared<{ id: string; attempts: number }>(name, sql, params);
    return new Set(rows.map((row) => `${row.id}:${row.attempts}`));
  }

  async #count(name: string, sql: string, params: unknown[]): Promise<number> {
    const result = await this.#prepared<{ n: number }>(name, sql, params);
    return result.rows[0]?.n ?? 0;
  }

  /** Who the notifications name as having made a change: this gateway, or `-` for a process that is none (`dan keys`). */
  get #who(): string {
    return this.#gatewayId ?? '-';
  }

  insert(task: NewTask): Promise<void> {
    return this.#guarded(`could not store task ${task.id}`, async () => {
      const { idempotency, endWebhook, owner } = task;
      const withOwner = owner !== null;
      try {
        await this.#prepared('insert', INSERT, [
          task.id,
          task.kind,
          owner,
          task.createdAt,
          toJsonBuffer(task.spec),
          withOwner && idempotency ? idempotency.key : null,
          withOwner && idempotency ? idempotency.bodyHash : null,
          withOwner && endWebhook ? endWebhook.id : null,
          withOwner && endWebhook ? endWebhook.url : null,
          this.#who,
          task.weight ?? 1,
        ]);
      } catch (error) {
        if (idempotency && (error as { constraint?: string }).constraint === 'idempotency_keys_pkey') throw new IdempotencyKeyTaken(idempotency.key, { cause: error });
        throw error;
      }
    });
  }

  get(id: string): Promise<StoredTask | undefined> {
    return this.#guarded(`could not read task ${id}`, async () => {
      const { rows } = await this.#prepared<TaskRow>('get', GET, [id]);
      return rows[0] ? toStoredTask(rows[0]) : undefined;
    });
  }

  markRunning(id: string, attempt: number, nodeId: string, at: number): Promise<boolean> {
    return this.#guarded(`could not mark task ${id} running (attempt ${attempt})`, () => this.#starts.add({ id, attempt, nodeId, at }));
  }

  requeue(id: string, attempt: number): Promise<boolean> {
    return this.#guarded(`could not requeue task ${id} (attempt ${attempt})`, async () => (await this.#count('requeue', REQUEUE, [id, attempt, this.#who])) === 1);
  }

  complete(id: string, attempt: number, result: RelayedResult, at: number): Promise<boolean> {
    return this.#guarded(`could not store the result of task ${id} (attempt ${attempt})`, async () => {
      const [format, data] = result.kind === 'images' ? (['images', Buffer.concat(storedResultParts(result))] as const) : (['json', toJsonBuffer(result)] as const);
      return this.#results.add({ id, attempt, at, format, data });
    });
  }

  fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean> {
    return this.#guarded(`could not mark task ${id} failed`, async () => (await this.#count('fail', FAIL, [id, attempt, error.id, error.message, at, this.#who])) === 1);
  }

  cancel(id: string, attempt: number | null, reason: string, at: number): Promise<boolean> {
    return this.#guarded(`could not cancel task ${id}`, async () => (await this.#count('cancel', CANCEL, [id, attempt, reason, at, this.#who])) === 1);
  }

  listUnfinished(): Promise<StoredTask[]> {
    return this.#guarded('could not read the unfinished tasks', async () => {
      const { rows } = await this.#pool.query<TaskRow>(`${SELECT_TASKS} WHERE t.state IN ('queued', 'running') ORDER BY t.created_at, t.seq`);
      return rows.map(toStoredTask);
    });
  }

  findIdempotent(owner: string, key: string, since: number): Promise<IdempotentTask | undefined> {
    return this.#guarded('could not read an idempotency key', async () => {
      const { rows } = await this.#pool.query<{ task_id: string; body_hash: string }>(
        'SELECT task_id, body_hash FROM idempotency_keys WHERE owner = $1 AND key = $2 AND created_at >= $3',
        [owner, key, since],
      );
      if (rows[0]) return { taskId: rows[0].task_id, bodyHash: rows[0].body_hash };
      // An expired record no longer holds the key: drop it, so the next insert may use it.
      await this.#pool.query('DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2 AND created_at < $3', [owner, key, since]);
      return undefined;
    });
  }

  ping(): Promise<void> {
    return this.#guarded('the task store does not answer', async () => {
      await this.#pool.query('SELECT 1');
    });
  }

  deleteFinishedBefore(at: number): Promise<number> {
    // Payloads and idempotency keys go with their task (ON DELETE CASCADE).
    return this.#guarded('could not delete expired tasks', async () => {
      const result = await this.#pool.query('DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1', [at]);
      return result.rowCount ?? 0;
    });
  }

  #closing: Promise<void> | null = null;

  /** Ends the pool once (closing again is a no-op, as for the SQLite store). */
  close(): Promise<void> {
    this.#closing ??= this.#guarded('could not close the task store', () => this.#pool.end());
    return this.#closing;
  }
}

function toStoredTask(row: TaskRow): StoredTask {
  const unfinished = row.state === 'queued' || row.state === 'running';
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    owner: row.owner,
    spec: unfinished && row.spec_data !== null ? (JSON.parse(row.spec_data.toString('utf8')) as GenerationSpec) : null,
    attempts: row.attempts,
    nodeId: row.node_id,
    runningOn: row.gateway_id,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    result: row.state === 'succeeded' ? resultOf(row) : null,
    error: row.error_id === null ? null : { id: row.error_id as TaskError['id'], message: row.error_message ?? '' },
  };
}

function resultOf(row: TaskRow): RelayedResult | null {
  if (row.result_data === null) return null;
  return row.result_format === 'images' ? readStoredResult(row.result_data) : (JSON.parse(row.result_data.toString('utf8')) as RelayedResult);
}
