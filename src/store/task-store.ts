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
 *
 * On failure:
 * - An operation that fails because of storage (disk full, files or database not
 *   writable or readable, a path that is not a directory, the database locked past its
 *   timeout) rejects with a DanError `DAN_ERR_STORE_UNAVAILABLE` (HTTP 503, retryable),
 *   its `cause` the original error, its message naming the operation, the task id when
 *   there is one, the file when there is one, and the cause:
 *   `could not store task 3f2a…: writing /data/payloads/3f/3f2a….spec.json failed: ENOSPC: no space left on device`.
 *   Callers may retry it once storage is back; it is never a node's fault.
 * - A rejected operation changed nothing: a failed `insert` leaves no row, and a
 *   conditional transition that could not be written leaves the row in the state and
 *   attempt it had, so the same call can be made again. No row is ever left pointing
 *   at an input or result that is not there.
 * - Removing inputs a finished task no longer needs is cleanup, not part of the
 *   operation: if only that fails, the operation resolves (it was done) and the
 *   adapter reports the file left behind in its log.
 * - Anything else (a bug) rejects as it was thrown, not dressed as a storage failure.
 * - Opening a store whose location cannot serve (not a directory, not writable, a
 *   database that cannot be opened or migrated) throws a StoreOpenError
 *   (store-open-error.ts) naming the location, the cause and what to do.
 *
 * Out of the contract: scheduling order and queue positions (the scheduler's job).
 */
import type { TaskError, TaskRecord } from '../domain/task.js';
import type { GenerationSpec, RelayedResult, TaskKind } from '../domain/spec.js';

export interface NewTask {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  /** Who the task is for: a key id (`key_…`), or `anon:<address>` for a caller without a key. */
  owner: string | null;
  createdAt: number;
  /** The client's Idempotency-Key and the hash of what it sent, recorded with the task (needs an owner). */
  idempotency?: { key: string; bodyHash: string };
  /** The webhook the task's end goes to, recorded with the task as a waiting delivery (webhooks/delivery-store.ts). */
  endWebhook?: { id: string; url: string };
  /** The owner's fair-share weight: not stored, but told to the other gateways sharing the store with the new task. */
  weight?: number;
}

/**
 * `insert` refused the task because its owner's Idempotency-Key already names another task, stored
 * meanwhile by another process sharing the store (a second gateway): look the key up again and answer
 * with that task. Within one process, submits with one key are taken one at a time and never get here.
 */
export class IdempotencyKeyTaken extends Error {
  override readonly name = 'IdempotencyKeyTaken';
  constructor(key: string, options?: ErrorOptions) {
    super(`Idempotency-Key "${key}" already names another task`, options);
  }
}

/** A task an Idempotency-Key names. */
export interface IdempotentTask {
  taskId: string;
  bodyHash: string;
}

/**
 * A task as the store hands it back: its images held as bytes (util/base64-image.ts), which
 * become base64 only as an answer is written. As one base64 string each, a 512² image read back
 * for a status poll was a ~320 KiB string in V8's large-object space, old generation at once.
 */
export type StoredTask = Omit<TaskRecord, 'result'> & {
  result: RelayedResult | null;
  /** Where several gateways share the store: the gateway whose node runs (or ran) the current attempt. */
  runningOn?: string | null;
  /** Who the node of the current attempt is (`markRunning`'s `nodeIdentity`), where the store keeps it; null if not told. */
  nodeIdentity?: string | null;
};

export interface TaskStore {
  insert(task: NewTask): Promise<void>;
  get(id: string): Promise<StoredTask | undefined>;
  /**
   * → running with `attempt` on `nodeId`, from queued or running, if `attempt` is higher than
   * the row's. Attempt numbers only grow, but may skip: the dispatcher keeps the queue in
   * memory and goes on when a write fails (a requeue not written leaves the row running with
   * the old attempt; a start not written leaves its number unused). An old attempt's late
   * answer is still refused: `complete` and `fail` check the attempt.
   *
   * Called for a task whose `insert` has not settled yet (the dispatcher queues a task as it stores
   * it, so that the pass due that turn may send it), the start takes effect with that insert or
   * after it, never before it, and rejects as the insert did when it fails. A store that writes
   * the two in one commit saves the start a round trip (PostgreSQL). `requeue`, `fail` and `cancel`
   * of such a task wait for its insert too. `nodeIdentity`: who the node is (its token, name and key),
   * kept for whoever takes the attempt back from the node after a restart or over from another gateway.
   */
  markRunning(id: string, attempt: number, nodeId: string, at: number, nodeIdentity?: string): Promise<boolean>;
  /**
   * running (this attempt) → queued, keeping the attempt count. Where gateways share the store, only an
   * attempt this gateway started or took over (`takeOver`).
   */
  requeue(id: string, attempt: number): Promise<boolean>;
  /**
   * Where gateways share the store: attempt `attempt` of a task, given to the node `nodeIdentity` (as
   * `markRunning` recorded it) through another gateway, runs on through this one, on the node's new
   * connection `nodeId`. The node kept it running when its gateway died or could not be reached, and
   * connected here. Only if the row still names that attempt and that node, running or put back in the
   * queue (its gateway counted gone) and not started again. True if it moved.
   */
  takeOver?(id: string, attempt: number, nodeIdentity: string, nodeId: string): Promise<boolean>;
  /**
   * running (this attempt) → succeeded; drops the inputs. Also from queued at this attempt: put back in the queue
   * and not started again since (another gateway counted the one running it gone), its result still stands, as a
   * failure or a cancel of it would.
   */
  complete(id: string, attempt: number, result: RelayedResult, at: number): Promise<boolean>;
  /** queued or running → failed; drops the inputs. `attempt` null fails whatever attempt is current. */
  fail(id: string, attempt: number | null, error: TaskError, at: number): Promise<boolean>;
  /** queued or running → cancelled; drops the inputs. `attempt` null cancels whatever attempt is current. */
  cancel(id: string, attempt: number | null, reason: string, at: number): Promise<boolean>;
  /** Queued and running tasks, oldest first (for recovery at start). */
  listUnfinished(): Promise<StoredTask[]>;
  /**
   * The tasks the store holds as running on this gateway's nodes, with their attempt: every running task
   * for the store of a gateway alone; for one gateways share, those whose start this gateway wrote.
   */
  listRunningHere(): Promise<{ id: string; attempts: number }[]>;
  /**
   * The task `owner`'s Idempotency-Key `key` named at or after `since`, if any. A record made
   * before `since` is dropped, so the key may name a new task.
   */
  findIdempotent(owner: string, key: string, since: number): Promise<IdempotentTask | undefined>;
  /** Resolves when the store answers a trivial query; rejects (DAN_ERR_STORE_UNAVAILABLE) when it cannot. For readiness probes. */
  ping(): Promise<void>;
  /** Deletes finished tasks that finished before `at` (and the idempotency keys that name them); returns how many. */
  deleteFinishedBefore(at: number): Promise<number>;
  close(): Promise<void>;
}
