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
import { channelSql } from './channels.js';
import { deleteInBatches } from './delete-in-batches.js';
import { guarded, isStorageFailure } from './pg-failure.js';
import { StatementBatch } from './statement-batch.js';

interface TaskRow {
  id: string;
  kind: TaskKind;
  state: TaskState;
  owner: string | null;
  attempts: number;
  node_id: string | null;
  node_identity: string | null;
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
  `pg_notify(${channelSql(TASKS_CHANNEL)}, json_build_object('e', '${event}', 'g', ${gateway}::text, 't', ${idColumn}${extra})::text)`;

const TASK_COLUMNS = `t.id, t.kind, t.state, t.owner, t.attempts, t.node_id, t.node_identity, t.gateway_id, t.created_at, t.started_at, t.finished_at,
         t.error_id, t.error_message, s.data AS spec_data, r.format AS result_format, r.data AS result_data`;
const FROM_TASKS = `FROM tasks t
  LEFT JOIN task_payloads s ON s.task_id = t.id AND s.name = 'spec'
  LEFT JOIN task_payloads r ON r.task_id = t.id AND r.name = 'result'`;
const SELECT_TASKS = `SELECT ${TASK_COLUMNS} ${FROM_TASKS}`;

/**
 * The unfinished tasks a page at a time, in queue order after ($1 created_at, $2 seq): a queue of a
 * hundred thousand tasks, img2img inputs among them, read in one statement could outlast the statement
 * timeout, and a gateway that cannot read its queue cannot start.
 */
const UNFINISHED_PAGE = `SELECT t.seq, ${TASK_COLUMNS} ${FROM_TASKS}
  WHERE t.state IN ('queued', 'running') AND (t.created_at, t.seq) > ($1, $2) ORDER BY t.created_at, t.seq LIMIT $3`;
const UNFINISHED_PAGE_ROWS = 1_000;

const GET = `${SELECT_TASKS} WHERE t.id = $1`;

/**
 * A new task's notice carries the task itself when it fits (a notice holds 8,000 bytes; a txt2img spec
 * is a few hundred): every other gateway adopts every task, and a read of each from the database by
 * each of them was most of the load that more gateways added (bench:scale).
 */
const SMALL_TASK_NEWS = `, 'task', CASE WHEN length(i.spec) <= 6000 THEN json_build_object('kind', i.kind, 'owner', i.owner, 'createdAt', i.created_at, 'weight', i.weight, 'spec', convert_from(i.spec, 'UTF8')::json) END`;

/**
 * The tasks stored in one turn, each with its spec, Idempotency-Key and webhook, in one statement; one
 * the pass of that turn sends is stored running with its first attempt ($11–$13 and $15, null for the others),
 * its start claimed by the insert itself: no other gateway hears of the task before it runs. $14: this gateway.
 */
const INSERT_MANY = `
  WITH i AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[], $11::int[], $12::text[], $13::bigint[], $15::text[])
      AS i(id, kind, owner, created_at, spec, idempotency_key, body_hash, webhook_id, webhook_url, weight, attempt, node_id, started_at, node_identity)
  ), t AS (
    INSERT INTO tasks (id, kind, state, owner, created_at, attempts, node_id, started_at, node_identity, gateway_id)
    SELECT id, kind, CASE WHEN attempt IS NULL THEN 'queued' ELSE 'running' END, owner, created_at, coalesce(attempt, 0), node_id, started_at, node_identity,
           CASE WHEN attempt IS NULL THEN NULL ELSE $14 END
    FROM i RETURNING id
  ), s AS (
    INSERT INTO task_payloads (task_id, name, format, data) SELECT id, 'spec', 'json', spec FROM i JOIN t USING (id)
  ), k AS (
    INSERT INTO idempotency_keys (owner, key, body_hash, task_id, created_at)
    SELECT owner, idempotency_key, body_hash, id, created_at FROM i JOIN t USING (id) WHERE idempotency_key IS NOT NULL
  ), d AS (
    INSERT INTO webhook_deliveries (id, owner, task_id, url, state, created_at)
    SELECT webhook_id, owner, id, webhook_url, 'waiting', created_at FROM i JOIN t USING (id) WHERE webhook_id IS NOT NULL
  )
  SELECT i.id, ${notify('queued', '$14', SMALL_TASK_NEWS, 'i.id')} AS queued,
         CASE WHEN i.attempt IS NOT NULL THEN ${notify('started', '$14', ", 'a', i.attempt, 'n', i.node_id", 'i.id')} END AS started
  FROM i JOIN t USING (id)`;

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
    WHERE t.id = i.id AND t.state IN ('queued', 'running') AND t.attempts = i.attempt RETURNING t.id, t.attempts
  ), r AS (
    INSERT INTO task_payloads (task_id, name, format, data) SELECT i.id, 'result', i.format, i.data FROM i JOIN u ON u.id = i.id AND u.attempts = i.attempt
    ON CONFLICT (task_id, name) DO UPDATE SET format = EXCLUDED.format, data = EXCLUDED.data
  ), s AS (
    DELETE FROM task_payloads WHERE task_id IN (SELECT id FROM u) AND name = 'spec'
  )
  SELECT u.id, u.attempts, ${notify('ended', '$6', '', 'u.id')} AS told FROM u`;

/** A failure of an attempt ($2) ends the task only while that attempt is queued, or runs on this gateway ($6): not one another gateway took over. */
const FAIL = finishing(
  `state = 'failed', error_id = $3, error_message = $4, finished_at = $5`,
  `state IN ('queued', 'running') AND ($2::int IS NULL OR (attempts = $2 AND (state = 'queued' OR gateway_id = $6 OR gateway_id IS NULL)))`,
  '$6',
);
const CANCEL = finishing(
  `state = 'cancelled', error_id = 'DAN_ERR_TASK_CANCELLED', error_message = $3, finished_at = $4`,
  `state IN ('queued', 'running') AND ($2::int IS NULL OR attempts = $2)`,
  '$5',
);
/**
 * The starts of one pass ($1 ids, $2 attempts, $3 nodes, $4 times, $5 this gateway, $6 nodes' identities): each
 * made if its attempt is higher than the row's, from queued, or from running on this gateway (a requeue of its
 * own that was not written). Not over another gateway's running attempt: one a node brought there and that
 * gateway took over (TAKE_OVER) stays at its attempt, and a start here that has not heard of it would end it.
 */
const MARK_RUNNING_MANY = `
  WITH i AS (SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $6::text[]) AS i(id, attempt, node_id, at, node_identity)),
  u AS (
    UPDATE tasks t SET state = 'running', attempts = i.attempt, node_id = i.node_id, node_identity = i.node_identity, started_at = i.at, gateway_id = $5 FROM i
    WHERE t.id = i.id AND (t.state = 'queued' OR (t.state = 'running' AND (t.gateway_id = $5 OR t.gateway_id IS NULL))) AND t.attempts < i.attempt RETURNING t.id, t.attempts, t.node_id
  )
  SELECT u.id, u.attempts, ${notify('started', '$5', `, 'a', u.attempts, 'n', u.node_id`, 'u.id')} AS told FROM u`;
/**
 * Only an attempt this gateway runs: one another gateway took over (TAKE_OVER) is not put back from here. One
 * that names no gateway (started before the database recorded gateways, version 1) is anyone's to put back.
 */
const REQUEUE = `
  WITH u AS (UPDATE tasks SET state = 'queued' WHERE id = $1 AND state = 'running' AND attempts = $2 AND (gateway_id = $3 OR gateway_id IS NULL) RETURNING id)
  ${countTelling('queued', '$3')}`;
/**
 * The attempt ($2) of a task ($1) moves to this gateway ($5) and its node's new connection ($4), if the row
 * still names it and it was given to that node ($3, its identity): running, or put back in the queue and not
 * started again since. Told as `moved`: the gateway that ran it lets it go, the others follow its progress here.
 */
const TAKE_OVER = `
  WITH u AS (
    UPDATE tasks SET state = 'running', node_id = $4, gateway_id = $5
    WHERE id = $1 AND state IN ('queued', 'running') AND attempts = $2 AND node_identity = $3 RETURNING id, attempts, node_id
  )
  ${countTelling('moved', '$5', ", 'a', u.attempts, 'n', u.node_id")}`;

/** A task on its way into the store, and the start of its first attempt when the pass of its turn sent it. */
interface PendingInsert {
  task: NewTask;
  start: { attempt: number; nodeId: string; nodeIdentity: string | null; at: number } | null;
  /** Its statement has been sent: a start now comes after it. */
  written: boolean;
  /** Why it alone was not stored, when the others of its turn were (#insertTurn). */
  error: unknown;
  /** Settles when it is stored; rejects as its statement did. */
  done: Promise<void>;
}

export class PostgresTaskStore implements TaskStore {
  readonly #pool: pg.Pool;
  readonly #name: string;
  readonly #gatewayId: string | null;
  readonly #starts = new StatementBatch<{ id: string; attempt: number; nodeId: string; nodeIdentity: string | null; at: number }>({
    at: 'microtask',
    keyOf: (start) => `${start.id}:${start.attempt}`,
    run: (starts) =>
      this.#changed('mark_running_many', MARK_RUNNING_MANY, [
        starts.map((s) => s.id),
        starts.map((s) => s.attempt),
        starts.map((s) => s.nodeId),
        starts.map((s) => s.at),
        this.#who,
        starts.map((s) => s.nodeIdentity),
      ]),
  });
  readonly #inserts = new StatementBatch<PendingInsert>({ at: 'turn', keyOf: (pending) => pending.task.id, run: (inserts) => this.#insertTurn(inserts) });
  /** Inserts not settled yet, by task id: a start of one of them is written with it or after it (TaskStore.markRunning). */
  readonly #inserting = new Map<string, PendingInsert>();
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

  #guarded<T>(failure: string, operation: () => Promise<T>): Promise<T> {
    return guarded({ name: this.#name }, failure, operation);
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

  /**
   * Stores the task with the others stored in this turn of the event loop, in one statement; one with
   * an Idempotency-Key alone and at once (its key may be taken by another gateway: that refusal is its own).
   */
  insert(task: NewTask): Promise<void> {
    const pending: PendingInsert = { task, start: null, written: false, error: null, done: Promise.resolve() };
    const idempotent = task.idempotency !== undefined && task.owner !== null;
    pending.done = this.#guarded(`could not store task ${task.id}`, async () => {
      if (!(await (idempotent ? this.#insertAlone(pending) : this.#inserts.add(pending)))) throw pending.error ?? new Error(`task ${task.id} was not stored`);
    });
    this.#inserting.set(task.id, pending);
    const settled = () => {
      if (this.#inserting.get(task.id) === pending) this.#inserting.delete(task.id);
    };
    pending.done.then(settled, settled);
    return pending.done;
  }

  /**
   * The inserts of one turn in one statement. A statement that fails for a reason of its own (a duplicate
   * id: a bug) fails every task in it, so they are then tried one at a time: that one fails alone.
   */
  async #insertTurn(inserts: readonly PendingInsert[]): Promise<ReadonlySet<string>> {
    try {
      return await this.#insertMany(inserts);
    } catch (error) {
      if (inserts.length === 1 || isStorageFailure(error)) throw error;
      const stored = new Set<string>();
      for (const pending of inserts) {
        try {
          for (const id of await this.#insertMany([pending])) stored.add(id);
        } catch (alone) {
          pending.error = alone;
        }
      }
      return stored;
    }
  }

  async #insertAlone(pending: PendingInsert): Promise<boolean> {
    const { idempotency } = pending.task;
    try {
      return (await this.#insertMany([pending])).has(pending.task.id);
    } catch (error) {
      if (idempotency && (error as { constraint?: string }).constraint === 'idempotency_keys_pkey') throw new IdempotencyKeyTaken(idempotency.key, { cause: error });
      throw error;
    }
  }

  /** Runs INSERT_MANY for `inserts`, each with its start if the pass of its turn sent it; answers the ids stored. */
  async #insertMany(inserts: readonly PendingInsert[]): Promise<ReadonlySet<string>> {
    for (const pending of inserts) pending.written = true;
    const column = <T>(of: (pending: PendingInsert) => T) => inserts.map(of);
    const owned = (pending: PendingInsert) => pending.task.owner !== null;
    const { rows } = await this.#prepared<{ id: string }>('insert_many', INSERT_MANY, [
      column((p) => p.task.id),
      column((p) => p.task.kind),
      column((p) => p.task.owner),
      column((p) => p.task.createdAt),
      column((p) => toJsonBuffer(p.task.spec)),
      column((p) => (owned(p) && p.task.idempotency ? p.task.idempotency.key : null)),
      column((p) => (owned(p) && p.task.idempotency ? p.task.idempotency.bodyHash : null)),
      column((p) => (owned(p) && p.task.endWebhook ? p.task.endWebhook.id : null)),
      column((p) => (owned(p) && p.task.endWebhook ? p.task.endWebhook.url : null)),
      column((p) => p.task.weight ?? 1),
      column((p) => p.start?.attempt ?? null),
      column((p) => p.start?.nodeId ?? null),
      column((p) => p.start?.at ?? null),
      this.#who,
      column((p) => p.start?.nodeIdentity ?? null),
    ]);
    return new Set(rows.map((row) => row.id));
  }

  get(id: string): Promise<StoredTask | undefined> {
    return this.#guarded(`could not read task ${id}`, async () => {
      const { rows } = await this.#prepared<TaskRow>('get', GET, [id]);
      return rows[0] ? toStoredTask(rows[0]) : undefined;
    });
  }

  markRunning(id: string, attempt: number, nodeId: string, at: number, nodeIdentity?: string): Promise<boolean> {
    const failure = `could not mark task ${id} running (attempt ${attempt})`;
    const start = { attempt, nodeId, nodeIdentity: nodeIdentity ?? null, at };
    const inserting = this.#inserting.get(id);
    if (!inserting) return this.#guarded(failure, () => this.#starts.add({ id, ...start }));
    // Sent by the pass of the turn it was submitted in: the start goes in with the insert, one round trip
    // and one commit for both. Once the insert is on its way, the start follows it.
    if (!inserting.written && inserting.start === null) {
      inserting.start = start;
      return inserting.done.then(() => true);
    }
    return inserting.done.then(() => this.#guarded(failure, () => this.#starts.add({ id, ...start })));
  }

  requeue(id: string, attempt: number): Promise<boolean> {
    return this.#afterInsert(id, () => this.#guarded(`could not requeue task ${id} (attempt ${attempt})`, async () => (await this.#count('requeue', REQUEUE, [id, attempt, this.#who])) === 1));
  }

  takeOver(id: string, attempt: number, nodeIdentity: string, nodeId: string): Promise<boolean> {
    return this.#guarded(`could not take over task ${id} (attempt ${attempt})`, async () => (await this.#count('take_over', TAKE_OVER, [id, attempt, nodeIdentity, nodeId, this.#who])) === 1);
  }

  /**
   * `write` once the task's insert (if one is on its way) has settled: a change made before it would find
   * no row, and the insert would then write the task as the change never happened (a start merged into it).
   */
  #afterInsert<T>(id: string, write: () => Promise<T>): Promise<T> {
    const inserting = this.#inserting.get(id);
    return inserting ? inserting.done.then(write, write) : write();
  }

  complete(id: string, attempt: number, result: RelayedResult, at: number): Promise<boolean> {
    return this.#guarded(`could not store the result of task ${id} (attempt ${attempt})`, async () => {
      const [format, data] = result.kind === 'images' ? (['images', Buffer.concat(storedResultParts(result))] as const) : (['json', toJsonBuffer(result)] as const);
      return this.#results.add({ id, attempt, at, format, data });
    });
  }

  fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean> {
    return this.#afterInsert(id, () => this.#guarded(`could not mark task ${id} failed`, async () => (await this.#count('fail', FAIL, [id, attempt, error.id, error.message, at, this.#who])) === 1));
  }

  cancel(id: string, attempt: number | null, reason: string, at: number): Promise<boolean> {
    return this.#afterInsert(id, () => this.#guarded(`could not cancel task ${id}`, async () => (await this.#count('cancel', CANCEL, [id, attempt, reason, at, this.#who])) === 1));
  }

  listUnfinished(): Promise<StoredTask[]> {
    return this.#guarded('could not read the unfinished tasks', async () => {
      const tasks: StoredTask[] = [];
      let after = { createdAt: -1, seq: 0 };
      for (;;) {
        const { rows } = await this.#pool.query<TaskRow & { seq: number }>(UNFINISHED_PAGE, [after.createdAt, after.seq, UNFINISHED_PAGE_ROWS]);
        for (const row of rows) tasks.push(toStoredTask(row));
        const last = rows.at(-1);
        if (!last || rows.length < UNFINISHED_PAGE_ROWS) return tasks;
        after = { createdAt: last.created_at, seq: last.seq };
      }
    });
  }

  listRunningHere(): Promise<{ id: string; attempts: number }[]> {
    return this.#guarded('could not read the running tasks', async () => {
      const { rows } = await this.#pool.query<{ id: string; attempts: number }>(`SELECT id, attempts FROM tasks WHERE state = 'running' AND gateway_id = $1`, [this.#who]);
      return rows;
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
      return deleteInBatches(this.#pool, 'tasks', 'finished_at IS NOT NULL AND finished_at < $1', [at]);
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
    nodeIdentity: row.node_identity,
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
