/**
 * @module store/task-store
 *
 * The storage port for tasks. The gateway writes through it before it answers a
 * client ("accepted" means stored) and reads it to recover after a restart.
 *
 * Guarantees every adapter gives:
 * - `insert` is durable when its promise resolves (survives a process crash).
 * - `markRunning`, `complete`, `fail`, `cancel` and `requeue` are conditional: they change the
 *   row only if it is in the expected state and attempt, and say whether they did,
 *   so a late answer from an abandoned attempt can never overwrite a newer one.
 * - `listUnfinished` returns queued and running tasks in creation order.
 * Out of the contract: scheduling order and queue positions (the scheduler's job).
 */
import type { TaskError, TaskRecord } from '../domain/task.js';
import type { GenerationSpec, RelayedResult, TaskKind } from '../domain/spec.js';

export interface NewTask {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  apiKey: string | null;
  createdAt: number;
}

/**
 * A task as the store hands it back: its images held as bytes (util/base64-image.ts), which
 * become base64 only as an answer is written. As one base64 string each, a 512² image read back
 * for a status poll was a ~320 KiB string in V8's large-object space, old generation at once.
 */
export type StoredTask = Omit<TaskRecord, 'result'> & { result: RelayedResult | null };

export interface TaskStore {
  insert(task: NewTask): Promise<void>;
  get(id: string): Promise<StoredTask | undefined>;
  /** queued → running with `attempt` (= attempts + 1) on `nodeId`. */
  markRunning(id: string, attempt: number, nodeId: string, at: number): Promise<boolean>;
  /** running (this attempt) → queued, keeping the attempt count. */
  requeue(id: string, attempt: number): Promise<boolean>;
  /** running (this attempt) → succeeded; drops the inputs. */
  complete(id: string, attempt: number, result: RelayedResult, at: number): Promise<boolean>;
  /** queued or running → failed; drops the inputs. `attempt` null fails whatever attempt is current. */
  fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean>;
  /** queued or running → cancelled; drops the inputs. `attempt` null cancels whatever attempt is current. */
  cancel(id: string, attempt: number | null, reason: string, at: number): Promise<boolean>;
  /** Queued and running tasks, oldest first (for recovery at start). */
  listUnfinished(): Promise<StoredTask[]>;
  /** Deletes finished tasks that finished before `at`; returns how many. */
  deleteFinishedBefore(at: number): Promise<number>;
  close(): Promise<void>;
}
