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
 * base64 JSON.
 *
 * Order of writes: a payload file is complete before the row that points to
 * it changes, so a row never refers to a missing or partial payload. A result
 * file is named after its attempt, so a late answer from an abandoned attempt
 * cannot overwrite the result of the attempt that won.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { GenerationSpec, RelayedResult } from '../../domain/spec.js';
import type { TaskError, TaskState } from '../../domain/task.js';
import { loadMigrations, SchemaTooNewError } from '../migrations.js';
import type { NewTask, StoredTask, TaskStore } from '../task-store.js';
import { toJsonBuffer } from '../../util/json-buffer.js';
import { PayloadFiles } from './payload-files.js';
import { base64Length, readStoredResult, storedResultParts } from './stored-result.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { createQueries, type TaskRow } from './queries.js';

const SPEC = 'spec.json';
/** A result too big for the row: JSON (a long caption), or images as bytes (stored-result.ts). */
const resultJson = (attempt: number) => `result-${attempt}.json`;
const resultBin = (attempt: number) => `result-${attempt}.bin`;
/** Payloads larger than this go to a file; below it the thread-pool round trips cost more than the write. */
const INLINE_MAX_BYTES = 32 * 1024;
const SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

export interface SqliteTaskStoreOptions {
  /** Where the store reports trouble it works around (a failed WAL checkpoint). */
  warn?: (message: string) => void;
  /** How often the WAL is checkpointed. @defaultValue 1 s */
  checkpointIntervalMs?: number;
}

export class SqliteTaskStore implements TaskStore {
  readonly #db: Database.Database;
  readonly #q: ReturnType<typeof createQueries>;
  readonly #payloads: PayloadFiles;
  readonly #checkpointer: WalCheckpointer | undefined;

  /** Opens (creating if needed) `tasks.sqlite` and `payloads/` in `dataDir`, or keeps all in memory for `':memory:'`. */
  constructor(dataDir: string, options: SqliteTaskStoreOptions = {}) {
    const inMemory = dataDir === ':memory:';
    if (!inMemory) mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, 'tasks.sqlite');
    this.#db = new Database(inMemory ? ':memory:' : file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    migrate(this.#db);
    this.#q = createQueries(this.#db);
    this.#payloads = inMemory ? PayloadFiles.inMemory() : PayloadFiles.inDirectory(join(dataDir, 'payloads'));
    if (!inMemory) this.#checkpointer = this.#checkpointInWorker(file, options);
  }

  /** Moves WAL checkpoints (a copy and an fsync) off the event loop; see wal-checkpointer.ts. */
  #checkpointInWorker(file: string, options: SqliteTaskStoreOptions): WalCheckpointer {
    const warn = options.warn ?? (() => {});
    this.#db.pragma('wal_autocheckpoint = 0');
    return new WalCheckpointer({
      file,
      intervalMs: options.checkpointIntervalMs,
      onCheckpointError: (message) => warn(`WAL checkpoint failed: ${message}`),
      onGone: (error) => {
        if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES}`);
        warn(`WAL checkpoint worker gone (${error.message}); checkpoints run on the event loop again`);
      },
    });
  }

  async insert(task: NewTask): Promise<void> {
    const spec = await this.#place(task.id, SPEC, task.spec);
    this.#q.insert.run({ id: task.id, kind: task.kind, api_key: task.apiKey, spec, created_at: task.createdAt });
  }

  /** The JSON to keep in the row, or null after writing it to the payload file `file`. */
  async #place(id: string, file: string, value: unknown): Promise<string | null> {
    const json = toJsonBuffer(value);
    if (json.length <= INLINE_MAX_BYTES) return json.toString('utf8');
    await this.#payloads.write(id, file, [json]);
    return null;
  }

  /** Like `#place`, but images too big for the row go to their file as bytes. */
  async #placeResult(id: string, attempt: number, result: RelayedResult): Promise<string | null> {
    if (result.kind !== 'images' || base64Length(result) <= INLINE_MAX_BYTES) return this.#place(id, resultJson(attempt), result);
    await this.#payloads.write(id, resultBin(attempt), storedResultParts(result));
    return null;
  }

  async get(id: string): Promise<StoredTask | undefined> {
    const row = this.#q.get.get(id);
    return row ? this.#withPayloads(row) : undefined;
  }

  async markRunning(id: string, attempt: number, nodeId: string, at: number): Promise<boolean> {
    return this.#q.markRunning.run({ id, attempt, node_id: nodeId, at }).changes === 1;
  }

  async requeue(id: string, attempt: number): Promise<boolean> {
    return this.#q.requeue.run({ id, attempt }).changes === 1;
  }

  async complete(id: string, attempt: number, result: RelayedResult, at: number): Promise<boolean> {
    const specInFile = this.#specInFile(id);
    const inline = await this.#placeResult(id, attempt, result);
    const done = this.#q.complete.run({ id, attempt, result: inline, at }).changes === 1;
    if (!done && inline === null) await this.#payloads.remove(id, resultJson(attempt), resultBin(attempt));
    if (done && specInFile) await this.#payloads.remove(id, SPEC);
    return done;
  }

  async fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean> {
    const specInFile = this.#specInFile(id);
    const params = { id, attempt, error_id: error.id, error_message: error.message, at };
    const done = this.#q.fail.run(params).changes === 1;
    if (done && specInFile) await this.#payloads.remove(id, SPEC);
    return done;
  }

  async cancel(id: string, attempt: number | null, reason: string, at: number): Promise<boolean> {
    const specInFile = this.#specInFile(id);
    const done = this.#q.cancel.run({ id, attempt, reason, at }).changes === 1;
    if (done && specInFile) await this.#payloads.remove(id, SPEC);
    return done;
  }

  /**
   * Asked before a task finishes (finishing clears the spec): most specs are
   * inline, and a removal that finds no file still costs thread-pool round trips
   * while the next request waits.
   */
  #specInFile(id: string): boolean {
    return this.#q.specInFile.get(id)?.in_file === 1;
  }

  async listUnfinished(): Promise<StoredTask[]> {
    return Promise.all(this.#q.listUnfinished.all().map((row) => this.#withPayloads(row)));
  }

  async deleteFinishedBefore(at: number): Promise<number> {
    const rows = this.#q.listFinishedBefore.all({ at });
    this.#db.transaction(() => rows.forEach((row) => this.#q.delete.run(row.id)))();
    await Promise.all(rows.map((row) => this.#payloads.remove(row.id, SPEC, resultJson(row.attempts), resultBin(row.attempts))));
    return rows.length;
  }

  async close(): Promise<void> {
    await this.#checkpointer?.stop();
    if (this.#db.open) this.#db.close();
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
      apiKey: row.api_key,
      spec: spec === undefined ? null : (JSON.parse(spec) as GenerationSpec),
      attempts: row.attempts,
      nodeId: row.node_id,
      createdAt: row.created_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      result,
      error: row.error_id === null ? null : { id: row.error_id as TaskError['id'], message: row.error_message ?? '' },
    };
  }

  /** A succeeded task's result: in the row, or in its file (images as bytes, else JSON). */
  async #result(row: TaskRow): Promise<RelayedResult | null> {
    if (row.result !== null) return JSON.parse(row.result) as RelayedResult;
    const bin = await this.#payloads.read(row.id, resultBin(row.attempts));
    if (bin) return readStoredResult(bin);
    const json = await this.#payloads.read(row.id, resultJson(row.attempts));
    return json ? (JSON.parse(json.toString('utf8')) as RelayedResult) : null;
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS dan_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const migrations = loadMigrations('sqlite');
  const latest = migrations.at(-1)?.version ?? 0;
  // IMMEDIATE takes the write lock first, so two gateways starting on one file cannot both migrate.
  db.transaction(() => {
    const row = db.prepare('SELECT MAX(version) AS v FROM dan_migrations').get() as { v: number | null };
    const current = row.v ?? 0;
    if (current > latest) throw new SchemaTooNewError(current, latest);
    for (const m of migrations.filter((m) => m.version > current)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO dan_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
  }).immediate();
}
