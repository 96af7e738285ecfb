/**
 * @module store/sqlite/sqlite-task-store
 *
 * The embedded task store: one SQLite file under the gateway's data directory,
 * via better-sqlite3 (synchronous, in-process: a statement costs microseconds,
 * far less than an async round trip would). WAL journal with synchronous=NORMAL:
 * a committed write survives a process crash; only an OS crash or power loss can
 * lose the last transactions, the usual trade-off for an embedded queue.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { TaskError, TaskRecord, TaskState } from '../../domain/task.js';
import type { TaskResult } from '../../domain/spec.js';
import { loadMigrations, SchemaTooNewError } from '../migrations.js';
import type { NewTask, TaskStore } from '../task-store.js';
import { createQueries, type TaskRow } from './queries.js';

export class SqliteTaskStore implements TaskStore {
  readonly #db: Database.Database;
  readonly #q: ReturnType<typeof createQueries>;

  /** Opens (creating if needed) `tasks.sqlite` in `dataDir`, or an in-memory DB for `':memory:'`. */
  constructor(dataDir: string) {
    const file = dataDir === ':memory:' ? ':memory:' : join(dataDir, 'tasks.sqlite');
    if (file !== ':memory:') mkdirSync(dataDir, { recursive: true });
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    migrate(this.#db);
    this.#q = createQueries(this.#db);
  }

  async insert(task: NewTask): Promise<void> {
    this.#q.insert.run({
      id: task.id,
      kind: task.kind,
      api_key: task.apiKey,
      spec: JSON.stringify(task.spec),
      created_at: task.createdAt,
    });
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const row = this.#q.get.get(id);
    return row ? fromRow(row) : undefined;
  }

  async markRunning(id: string, attempt: number, nodeId: string, at: number): Promise<boolean> {
    return this.#q.markRunning.run({ id, attempt, node_id: nodeId, at }).changes === 1;
  }

  async requeue(id: string, attempt: number): Promise<boolean> {
    return this.#q.requeue.run({ id, attempt }).changes === 1;
  }

  async complete(id: string, attempt: number, result: TaskResult, at: number): Promise<boolean> {
    return this.#q.complete.run({ id, attempt, result: JSON.stringify(result), at }).changes === 1;
  }

  async fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean> {
    const params = { id, attempt, error_id: error.id, error_message: error.message, at };
    return this.#q.fail.run(params).changes === 1;
  }

  async listUnfinished(): Promise<TaskRecord[]> {
    return this.#q.listUnfinished.all().map(fromRow);
  }

  async deleteFinishedBefore(at: number): Promise<number> {
    return this.#q.deleteFinishedBefore.run({ at }).changes;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
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

function fromRow(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state as TaskState,
    apiKey: row.api_key,
    spec: row.spec === null ? null : JSON.parse(row.spec),
    attempts: row.attempts,
    nodeId: row.node_id,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    result: row.result === null ? null : JSON.parse(row.result),
    error: row.error_id === null ? null : { id: row.error_id as TaskError['id'], message: row.error_message ?? '' },
  };
}
