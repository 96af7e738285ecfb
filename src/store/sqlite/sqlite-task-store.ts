/**
 * @module store/sqlite/sqlite-task-store
 *
 * The embedded task store: task rows in one SQLite file under the gateway's
 * data directory (better-sqlite3: synchronous and in-process, microseconds
 * per statement for small rows). Inputs and results are JSON in the row when
 * they are small (a txt2img spec, a caption), and in payload files beside the
 * database when they carry images: those are written off the event loop,
 * where a synchronous SQLite write of half a megabyte would stall every other
 * request for milliseconds. WAL journal with synchronous=NORMAL:
 * a committed write survives a process crash; only an OS crash or power loss
 * can lose the last transactions, the usual trade-off for an embedded queue.
 *
 * Image results are stored as the images' bytes (stored-result.ts), not as
 * base64 JSON: a small one in the row's `result` as a BLOB (a TEXT column
 * keeps a BLOB as it is given), a large one in its payload file.
 *
 * Order of writes: a payload file is complete before the row that points to
 * it changes, so a row never refers to a missing or partial payload. A result
 * file is named after its attempt, so a late answer from an abandoned attempt
 * cannot overwrite the result of the attempt that won.
 *
 * Failures: every operation runs through `#guarded`, which turns a storage
 * failure into `DAN_ERR_STORE_UNAVAILABLE` (storage-failure.ts) and leaves a
 * bug as it was. A failed operation changes no row: a payload file written for
 * a row change that then fails is removed again. Removing files a finished
 * task no longer needs is cleanup: if that fails the operation has still done
 * what it said, so it resolves, and the file left behind is reported through
 * `warn` (a spec file is tried again when its task expires).
 */
import type Database from 'better-sqlite3';
import type { GenerationSpec, RelayedResult } from '../../domain/spec.js';
import type { TaskError, TaskState } from '../../domain/task.js';
import { type IdempotentTask, IdempotencyKeyTaken, type NewTask, type StoredTask, type TaskStore } from '../task-store.js';
import { toJsonBuffer } from '../../util/json-buffer.js';
import { openDatabase } from './open-database.js';
import { PayloadFiles } from './payload-files.js';
import { describeFailure, guardedSync, isStorageFailure, storeUnavailable } from './storage-failure.js';
import { readStoredResult, storedResultParts } from '../stored-result.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { createQueries, type TaskRow } from './queries.js';

const SPEC = 'spec.json';
/** A result too big for the row: JSON (a long caption), or images as bytes (stored-result.ts). */
const resultJson = (attempt: number) => `result-${attempt}.json`;
const resultBin = (attempt: number) => `result-${attempt}.bin`;
/** Payloads larger than this go to a file; below it the thread-pool round trips cost more than the write. */
const INLINE_MAX_BYTES = 32 * 1024;
const SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/** A write waiting for its batch's commit (SqliteTaskStore.#inBatch). */
interface BatchedWrite {
  write: () => unknown;
  /** One statement: atomic by itself (SQLite undoes a statement that fails, and the transaction goes on), no savepoint. */
  oneStatement: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface SqliteTaskStoreOptions {
  /** Where the store reports trouble it works around (a failed WAL checkpoint, a payload file it could not remove). */
  warn?: (message: string) => void;
  /** How often the WAL is checkpointed. @defaultValue 1 s */
  checkpointIntervalMs?: number;
  /** How long a statement waits for another connection's lock before it fails (SQLITE_BUSY). @defaultValue 5 s */
  busyTimeoutMs?: number;
}

export class SqliteTaskStore implements TaskStore {
  readonly #db: Database.Database;
  /** `tasks.sqlite`, absolute (or `:memory:`): SQLite's errors do not name it, the store's do. */
  readonly #file: string;
  readonly #q: ReturnType<typeof createQueries>;
  readonly #payloads: PayloadFiles;
  readonly #checkpointer: WalCheckpointer | undefined;
  readonly #warn: (message: string) => void;

  /**
   * Opens (creating if needed) `tasks.sqlite` and `payloads/` in `dataDir`, or keeps all in memory for `':memory:'`.
   * @throws StoreOpenError when `dataDir` cannot hold the store (open-database.ts).
   */
  constructor(dataDir: string, options: SqliteTaskStoreOptions = {}) {
    const opened = openDatabase(dataDir, options.busyTimeoutMs ?? 5_000);
    this.#db = opened.db;
    this.#file = opened.file;
    this.#warn = options.warn ?? (() => {});
    this.#q = createQueries(this.#db);
    this.#payloads = opened.payloadsDir === null ? PayloadFiles.inMemory() : PayloadFiles.inDirectory(opened.payloadsDir);
    if (opened.payloadsDir !== null) this.#checkpointer = this.#checkpointInWorker(opened.file, options);
  }

  /** Writes waiting for their shared commit (#inBatch), and whether a flush is due at the next microtask or turn. */
  #batch: BatchedWrite[] = [];
  #flushDue = { microtask: false, turn: false };

  /** `tasks.sqlite`, absolute, or `:memory:`. */
  get file(): string {
    return this.#file;
  }

  /** The open connection, for the stores that keep their tables in the same file (sqlite-key-store.ts). */
  get connection(): Database.Database {
    return this.#db;
  }

  /** Moves WAL checkpoints (a copy and an fsync) off the event loop; see wal-checkpointer.ts. */
  #checkpointInWorker(file: string, options: SqliteTaskStoreOptions): WalCheckpointer {
    this.#db.pragma('wal_autocheckpoint = 0');
    return new WalCheckpointer({
      file,
      intervalMs: options.checkpointIntervalMs,
      onCheckpointError: (message) => this.#warn(`WAL checkpoint failed: ${message}`),
      onGone: (error) => {
        if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES}`);
        this.#warn(`WAL checkpoint worker gone (${error.message}); checkpoints run on the event loop again`);
      },
    });
  }

  /**
   * Resolves once a WAL checkpoint that started after this call has finished (at once
   * for an in-memory store): for tests and benchmarks that must see the log reused.
   */
  async walCheckpointed(): Promise<void> {
    await this.#checkpointer?.nextCheckpoint();
  }

  /**
   * Runs one operation. A storage failure rejects as DAN_ERR_STORE_UNAVAILABLE,
   * `failure` saying what could not be done (storage-failure.ts); a bug rejects as itself.
   */
  async #guarded<T>(failure: string, operation: () => Promise<T> | T): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw storeUnavailable(failure, error, this.#file);
    }
  }

  /** `#guarded` for an operation that is one synchronous statement (storage-failure.ts `guardedSync`). */
  #guardedSync<T>(failure: string, operation: () => T): Promise<T> {
    return guardedSync(failure, this.#file, operation);
  }

  /** Inserts not settled yet, by task id: a start of one of them waits for it (TaskStore.markRunning). */
  readonly #inserting = new Map<string, Promise<void>>();

  insert(task: NewTask): Promise<void> {
    const inserted = this.#insert(task);
    this.#inserting.set(task.id, inserted);
    const settled = () => {
      if (this.#inserting.get(task.id) === inserted) this.#inserting.delete(task.id);
    };
    inserted.then(settled, settled);
    return inserted;
  }

  #insert(task: NewTask): Promise<void> {
    return this.#guarded(`could not store task ${task.id}`, async () => {
      const spec = await this.#place(task.id, SPEC, task.spec);
      try {
        // One transaction: a task whose key was not recorded would run twice when the client retries, and
        // one whose webhook was not would end unannounced. Written with the other tasks stored in this
        // turn of the event loop, in one commit (a savepoint of its own when it is more than the task's row): see #inBatch.
        const { idempotency, endWebhook, owner } = task;
        const key = idempotency && owner !== null ? { owner, key: idempotency.key, body_hash: idempotency.bodyHash, task_id: task.id, created_at: task.createdAt } : null;
        const delivery = endWebhook && owner !== null ? { id: endWebhook.id, owner, task_id: task.id, url: endWebhook.url, created_at: task.createdAt } : null;
        await this.#inBatch(
          () => {
            this.#q.insert.run({ id: task.id, kind: task.kind, owner: task.owner, spec, created_at: task.createdAt });
            if (key) this.#q.insertIdempotency.run(key);
            if (delivery) this.#q.insertDelivery.run(delivery);
          },
          'turn',
          key === null && delivery === null,
        );
      } catch (error) {
        // Not for a bug such as a duplicate id: the file written would be the other task's spec.
        if (spec === null && isStorageFailure(error)) await this.#cleanUp(task.id, SPEC);
        // Another process sharing the file stored a task under the same key meanwhile.
        if (task.idempotency && error instanceof Error && /UNIQUE constraint failed: idempotency_keys\./.test(error.message)) {
          if (spec === null) await this.#cleanUp(task.id, SPEC);
          throw new IdempotencyKeyTaken(task.idempotency.key, { cause: error });
        }
        throw error;
      }
    });
  }

  /**
   * Runs `write` with the other writes asked for at about the same time, in one commit: each is a
   * savepoint of its own, so one that fails (a duplicate id) fails alone, while a storage failure fails
   * them all (the commit would). A commit per write was most of the store's time on the event loop at
   * hundreds of submits and results a second (bench:fleet): 70 µs a task inserted alone, 15 in batches.
   * A write of `oneStatement` takes no savepoint: SQLite undoes a statement that fails by itself, and the
   * savepoints of starts and results were a third of the store's time (107 → 74 µs a task without them).
   *
   * `at` says how long the write may wait for company. 'turn': until the event loop has run what this
   * turn holds (submits arrive in separate HTTP callbacks of one turn). 'microtask': only until the
   * running code yields, for writes something waits on at once (the starts of one scheduling pass, made
   * in one loop, each awaited before its task is sent).
   */
  #inBatch<T>(write: () => T, at: 'turn' | 'microtask', oneStatement = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#batch.push({ write, oneStatement, resolve: resolve as (value: unknown) => void, reject });
      if (at === 'microtask' && !this.#flushDue.microtask) {
        this.#flushDue.microtask = true;
        queueMicrotask(() => {
          this.#flushDue.microtask = false;
          this.#flushBatch();
        });
      } else if (at === 'turn' && !this.#flushDue.turn) {
        this.#flushDue.turn = true;
        setImmediate(() => {
          this.#flushDue.turn = false;
          this.#flushBatch();
        });
      }
    });
  }

  #flushBatch(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#db.transaction(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: item.oneStatement ? item.write() : this.#db.transaction(item.write)() });
          } catch (error) {
            if (isStorageFailure(error)) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }

  /** The JSON to keep in the row, or null after writing it to the payload file `file`. */
  async #place(id: string, file: string, value: unknown): Promise<string | null> {
    const json = toJsonBuffer(value);
    if (json.length <= INLINE_MAX_BYTES) return json.toString('utf8');
    await this.#payloads.write(id, file, [json]);
    return null;
  }

  /**
   * Like `#place`, but images are kept as their bytes (stored-result.ts): in the row as a BLOB when
   * small, else in their file. As base64 JSON a 64² image's row was a third larger, and encoding it
   * ran on the event loop with every result.
   */
  async #placeResult(id: string, attempt: number, result: RelayedResult): Promise<string | Buffer | null> {
    if (result.kind !== 'images') return this.#place(id, resultJson(attempt), result);
    const parts = storedResultParts(result);
    if (parts.reduce((sum, part) => sum + part.length, 0) <= INLINE_MAX_BYTES) return Buffer.concat(parts);
    await this.#payloads.write(id, resultBin(attempt), parts);
    return null;
  }

  get(id: string): Promise<StoredTask | undefined> {
    return this.#guarded(`could not read task ${id}`, async () => {
      const row = this.#q.get.get(id);
      return row ? this.#withPayloads(row) : undefined;
    });
  }

  markRunning(id: string, attempt: number, nodeId: string, at: number, nodeIdentity?: string): Promise<boolean> {
    const start = () =>
      this.#guarded(`could not mark task ${id} running (attempt ${attempt})`, () =>
        this.#inBatch(() => this.#q.markRunning.run({ id, attempt, node_id: nodeId, node_identity: nodeIdentity ?? null, at }).changes === 1, 'microtask', true),
      );
    // Its insert may still wait for its commit (or for the spec's file): the start follows it.
    const inserting = this.#inserting.get(id);
    return inserting ? inserting.then(start) : start();
  }

  requeue(id: string, attempt: number): Promise<boolean> {
    const failure = `could not requeue task ${id} (attempt ${attempt})`;
    const write = () => this.#q.requeue.run({ id, attempt }).changes === 1;
    // After an insert it waited for, in the batch of the start that waited too: after it, not before.
    if (this.#inserting.has(id)) return this.#afterInsert(id, () => this.#guarded(failure, () => this.#inBatch(write, 'microtask', true)));
    return this.#guardedSync(failure, write);
  }

  /** `write` once the task's insert (if one is on its way) has settled: a change made before it would find no row. */
  #afterInsert<T>(id: string, write: () => Promise<T>): Promise<T> {
    const inserting = this.#inserting.get(id);
    return inserting ? inserting.then(write, write) : write();
  }

  complete(id: string, attempt: number, result: RelayedResult, at: number): Promise<boolean> {
    return this.#guarded(`could not store the result of task ${id} (attempt ${attempt})`, async () => {
      const row = this.#q.current.get(id);
      // A late answer, or one the row already holds: nothing to write, and no file of the winner's to touch.
      if ((row?.state !== 'running' && row?.state !== 'queued') || row.attempts !== attempt) return false;
      const inline = await this.#placeResult(id, attempt, result);
      let done = false;
      try {
        done = await this.#inBatch(() => this.#q.complete.run({ id, attempt, result: inline, at }).changes === 1, 'turn', true);
      } finally {
        // The row changed while the file was written (cancelled, say), or the update failed: the file is no one's.
        if (!done && inline === null) await this.#cleanUpResult(id, attempt);
      }
      if (done && row.spec_in_file === 1) await this.#cleanUp(id, SPEC);
      return done;
    });
  }

  fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean> {
    const params = { id, attempt, error_id: error.id, error_message: error.message, at };
    return this.#afterInsert(id, () => this.#guarded(`could not mark task ${id} failed`, () => this.#finish(id, () => this.#q.fail.run(params).changes === 1)));
  }

  cancel(id: string, attempt: number | null, reason: string, at: number): Promise<boolean> {
    return this.#afterInsert(id, () => this.#guarded(`could not cancel task ${id}`, () => this.#finish(id, () => this.#q.cancel.run({ id, attempt, reason, at }).changes === 1)));
  }

  /**
   * Runs `update`, a change to a finished state (which clears the spec), then removes the spec file if there was one.
   * Asked first because most specs are inline, and a removal that finds no file still costs thread-pool round trips
   * while the next request waits.
   */
  async #finish(id: string, update: () => boolean): Promise<boolean> {
    const specInFile = this.#q.current.get(id)?.spec_in_file === 1;
    const done = update();
    if (done && specInFile) await this.#cleanUp(id, SPEC);
    return done;
  }

  listUnfinished(): Promise<StoredTask[]> {
    return this.#guarded('could not read the unfinished tasks', () => Promise.all(this.#q.listUnfinished.all().map((row) => this.#withPayloads(row))));
  }

  listRunningHere(): Promise<{ id: string; attempts: number }[]> {
    // One gateway per SQLite store: every running task is this gateway's.
    return this.#guardedSync('could not read the running tasks', () => this.#q.listRunning.all());
  }

  ping(): Promise<void> {
    return this.#guardedSync('the task store does not answer', () => {
      this.#db.prepare('SELECT 1').get();
    });
  }

  findIdempotent(owner: string, key: string, since: number): Promise<IdempotentTask | undefined> {
    return this.#guardedSync('could not read an idempotency key', () => {
      const row = this.#q.findIdempotency.get({ owner, key, since });
      if (row) return { taskId: row.task_id, bodyHash: row.body_hash };
      // An expired record no longer holds the key: drop it, so the next insert may use it.
      this.#q.deleteIdempotency.run({ owner, key });
      return undefined;
    });
  }

  deleteFinishedBefore(at: number): Promise<number> {
    return this.#guarded('could not delete expired tasks', async () => {
      const rows = this.#q.listFinishedBefore.all({ at });
      // Rows first: a failure between the two leaves files no row points to, never a row without its file.
      this.#db.transaction(() =>
        rows.forEach((row) => {
          this.#q.delete.run(row.id);
          this.#q.deleteIdempotencyOf.run(row.id);
        }),
      )();
      await Promise.all(rows.map((row) => this.#cleanUp(row.id, SPEC, resultJson(row.attempts), resultBin(row.attempts))));
      return rows.length;
    });
  }

  close(): Promise<void> {
    return this.#guarded('could not close the task store', async () => {
      // Writes asked for before the close are made.
      this.#flushBatch();
      await this.#checkpointer?.stop();
      if (this.#db.open) this.#db.close();
    });
  }

  /**
   * Removes payload files no row needs. A storage failure here is reported, not thrown:
   * the operation it follows is done, and a caller told otherwise would retry a change
   * that has been made. An expired task's spec and result files are removed again with it.
   */
  async #cleanUp(id: string, ...files: string[]): Promise<void> {
    try {
      await this.#payloads.remove(id, ...files);
    } catch (error) {
      if (!isStorageFailure(error)) throw error;
      this.#warn(`task ${id}: a payload file no longer needed stays behind: ${describeFailure(error, this.#file)}`);
    }
  }

  /** Removes attempt `attempt`'s result files unless the row holds that attempt's result (a duplicate answer won the race). */
  async #cleanUpResult(id: string, attempt: number): Promise<void> {
    let row: { state: string; attempts: number } | undefined;
    try {
      row = this.#q.current.get(id);
    } catch (error) {
      // Unknown whether the row refers to the file: keeping a stray file beats losing a result.
      if (isStorageFailure(error)) return;
      throw error;
    }
    if (row?.state === 'succeeded' && row.attempts === attempt) return;
    await this.#cleanUp(id, resultJson(attempt), resultBin(attempt));
  }

  async #withPayloads(row: TaskRow): Promise<StoredTask> {
    const state = row.state as TaskState;
    const unfinished = state === 'queued' || state === 'running';
    const spec = unfinished ? (row.spec ?? (await this.#payloads.read(row.id, SPEC))?.toString('utf8')) : undefined;
    const result = state === 'succeeded' ? await this.#result(row) : null;
    return {
      id: row.id,
      kind: row.kind,
      state,
      owner: row.owner,
      spec: spec === undefined ? null : (JSON.parse(spec) as GenerationSpec),
      attempts: row.attempts,
      nodeId: row.node_id,
      nodeIdentity: row.node_identity,
      createdAt: row.created_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      result,
      error: row.error_id === null ? null : { id: row.error_id as TaskError['id'], message: row.error_message ?? '' },
    };
  }

  /** A succeeded task's result: in the row, or in its file (images as bytes, else JSON). */
  async #result(row: TaskRow): Promise<RelayedResult | null> {
    if (Buffer.isBuffer(row.result)) return readStoredResult(row.result);
    if (row.result !== null) return JSON.parse(row.result) as RelayedResult;
    const bin = await this.#payloads.read(row.id, resultBin(row.attempts));
    if (bin) return readStoredResult(bin);
    const json = await this.#payloads.read(row.id, resultJson(row.attempts));
    return json ? (JSON.parse(json.toString('utf8')) as RelayedResult) : null;
  }
}
