/**
 * @module gateway/dispatcher-types
 *
 * The dispatcher's data (dispatcher.ts): what it holds of a task, what it
 * answers about one, what it is given and what it tells. In a module of
 * their own so that the helpers the dispatcher is made of (shared-queue.ts,
 * node-returns.ts, node-attempts.ts, idle-recheck.ts) can share them without
 * importing the dispatcher: import/no-cycle counts type-only imports too.
 * Other code imports them from dispatcher.ts, which re-exports them.
 *
 * `DispatcherInternals` is what the dispatcher lends those helpers of its
 * state and of its steps; each takes only the members it uses.
 */
import type { ModelFamily } from '../domain/families.js';
import type { GenerationSpec, ResourceRef, TaskKind } from '../domain/spec.js';
import type { TaskError } from '../domain/task.js';
import type { NodeHub } from '../network/node-hub.js';
import type { NodeSession } from '../network/node-session.js';
import type { AttemptTimeout, RunningAttempt } from '../scheduler/attempt-ledger.js';
import type { Assignment, Scheduler } from '../scheduler/scheduler.js';
import type { StoredTask, TaskStore } from '../store/task-store.js';
import type { Clock, Timer } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { AttemptError } from './attempt-failures.js';
import type { OutcomeBook, TaskOutcome } from './outcome-book.js';
import type { PassPacing } from './pass-pacing.js';
import type { StartRetry } from './start-retry.js';
import type { UnservableWatch } from './unservable-watch.js';

export interface TaskEntry {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  /** Whom the task is for (tasks.ts `owner`): its budget and fair share. */
  owner: string | null;
  /** The owner's fair-share weight (auth/api-key.ts). */
  weight: number;
  createdAt: number;
  /** Attempts made so far (the store's count). */
  attempts: number;
  /** One line per failed attempt, for the final message. */
  failures: string[];
  /** Set only during the scheduling pass right after submit: the request's arrival, to time the dispatch. */
  receivedAt?: number;
  /**
   * Running on a node of another gateway sharing the store (`attempt`: its attempt): not in this gateway's
   * queue. Its progress, once a client here asked about it and its gateway told it (`progressElsewhere`).
   */
  elsewhere?: {
    attempt: number;
    progress?: { value: number; etaSeconds: number | null };
    wanted?: true;
    /** The wait of the first status answer for that gateway's word (`progressFromElsewhere`): once per attempt. */
    firstWord?: Promise<void>;
  };
  /** Queued while its insert is under way (`submit`): whether it was stored. If not, it leaves again. */
  unsaved?: Promise<boolean>;
  /**
   * Running when the gateway stopped, on the node of this name (attempt `attempt`): not queued while the
   * node may come back with it (`recover`, node-returns.ts `resume`), for the resume grace after the start.
   */
  away?: { attempt: number; nodeName: string; nodeIdentity: string | null };
}

/** A running task's latest live preview, kept while someone watches it (`Dispatcher.previewOf`). */
export interface LivePreview {
  /** Base64 of the image, as the backend made it (PNG, JPEG or WebP). */
  image: string;
  /** Higher for a newer preview (of any task). */
  seq: number;
  /** The task's progress (0–1) when its node sent it. */
  progress: number;
}

/** Where a task the dispatcher holds stands; `owner` says who may see it (auth/caller.ts `mayAccess`). */
export type LiveStatus = { owner: string | null } & (
  /** `waiting`: why it waits beyond its turn (no node can run it, or none of those that can takes work now). */
  | { state: 'queued'; position: number; etaSeconds: number | null; waiting: string | null }
  /**
   * `held`: sent to a node that holds it ready behind the task it runs (`dan node --prefetch`), and not begun
   * yet: as the gateway knows it, when the result of the task before it came in (an A1111 node begins it the
   * moment the WebUI lets go of the one before, a little earlier), unless the node already told progress.
   */
  | { state: 'running'; progress: number; etaSeconds: number | null; nodeId: string; held: boolean }
  | { state: 'finished'; outcome: TaskOutcome }
);

export interface DispatcherOptions {
  store: TaskStore;
  hub: NodeHub;
  clock: Clock;
  log: Logger;
  maxAttempts: number;
  /** Upper bound of one attempt's timeout. */
  taskTimeoutMs: number;
  /** How long a queued task may go without any node able to serve it. */
  unservableGraceMs: number;
  /** Told how long the gateway took to send each task that went out at once. */
  overhead?: { dispatched(ms: number): void };
  /** Told what happens to tasks (the webhook outbox, the metrics). */
  observer?: DispatcherObserver;
  scheduler?: Scheduler;
  /** The family the network knows a model by, for the scheduler the dispatcher makes (`SchedulerOptions.familyOf`). */
  familyOf?: (model: ResourceRef) => ModelFamily | null;
  /** When a pass asked for may run (pass-pacing.ts). @defaultValue a new PassPacing */
  pacing?: PassPacing;
  /**
   * The fair-share weight of a task's owner when it is read from the store (after a restart, or told by
   * another gateway): its key's, as a submit would have it. @defaultValue 1
   */
  weightOf?: (owner: string | null) => number;
  /** Given when other gateways share the store (docs/decisions/0015). */
  shared?: {
    /** Whether a task the store holds as running runs on another gateway's node that is alive (else this gateway runs it again). */
    runsElsewhere(task: StoredTask): boolean;
    /** Whether a task the store holds as running was started by this gateway (its row names this one). @defaultValue never */
    startedHere?(task: StoredTask): boolean;
    /** Whether a node of another gateway (its WebUI up) can run `spec`: then its task is not unservable here. */
    servableElsewhere(spec: GenerationSpec): boolean;
    /** Asks the gateway whose node runs the task for its progress (`progressElsewhere`), until that attempt ends. */
    wantProgress(taskId: string): void;
    /** Progress of an attempt running on this gateway's node, for the gateways that want it. */
    progressed(taskId: string, attempt: number, progress: number, etaSeconds: number | null): void;
  };
}

/** The outcome an attempt ends with when its task, held ready on a busy node, is given to an idle node (`NodeAttempts.takeBack`). */
export const TAKEN_BACK = 'taken_back';

/** What the dispatcher tells of the tasks it moves; every method optional. */
export interface DispatcherObserver {
  /** A task was stored and queued. */
  submitted?(kind: TaskKind): void;
  /**
   * An attempt ended: `succeeded`, `taken_back` (`TAKEN_BACK`), or the id of the error it ended with (`DAN_ERR_NODE_LOST`, …); `nodeIdentity`:
   * the node it ran on (SchedulerNode.identity), null for a cancel of a task no node ran.
   */
  attemptEnded?(outcome: string, nodeIdentity: string | null): void;
  /** A task ended, once: succeeded, failed or cancelled; `task` when the dispatcher held it (its spec and when it was made). */
  finished?(taskId: string, kind: TaskKind | null, state: TaskOutcome['state'], task: { spec: GenerationSpec; createdAt: number } | null): void;
  /** A scheduling pass ran, for `ms` (on the event loop: every request and node frame waits behind it). */
  passed?(ms: number): void;
}

export interface SubmittedTask {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  /** Whom the task is for: a key id, or `anon:<address>` (auth/caller.ts). */
  owner: string;
  /** Unfinished tasks the owner may have, this one included; 0 = no limit. */
  maxTasks: number;
  /** The owner's fair-share weight. @defaultValue 1 */
  weight?: number;
  /** Recorded with the task, in the same write (store/task-store.ts `NewTask`). */
  idempotency?: { key: string; bodyHash: string };
  /** Recorded with the task, in the same write: where its end is posted. */
  endWebhook?: { id: string; url: string };
  /** When the request arrived (`performance.now()`), for the overhead meter. */
  receivedAt?: number;
}

/**
 * What the dispatcher lends the helpers it is made of (shared-queue.ts, node-returns.ts, node-attempts.ts,
 * idle-recheck.ts): its state, and the steps of a task's life they share, each written once, in the file that
 * keeps it (its doc comment there says why it does what it does). Built once, in the Dispatcher's
 * constructor; each helper takes a `Pick` of it, only what it uses. The Dispatcher stays the one API the rest
 * of the gateway calls.
 */
export interface DispatcherInternals {
  readonly scheduler: Scheduler;
  readonly store: TaskStore;
  readonly hub: NodeHub;
  readonly clock: Clock;
  readonly log: Logger;
  /** Given when other gateways share the store (`DispatcherOptions.shared`). */
  readonly shared: DispatcherOptions['shared'];
  /** `DispatcherOptions.overhead`: told how long the gateway took to send each task that went out at once. */
  readonly overhead: DispatcherOptions['overhead'];
  /** `DispatcherOptions.observer`: told what happens to tasks. */
  readonly observer: DispatcherOptions['observer'];
  /** `DispatcherOptions.maxAttempts`: failed attempts before a task fails. */
  readonly maxAttempts: number;
  /** `DispatcherOptions.taskTimeoutMs`: the upper bound of one attempt's timeout. */
  readonly taskTimeoutMs: number;
  /** The unfinished tasks the dispatcher holds, by id: queued, running here or elsewhere, or away. */
  readonly entries: Map<string, TaskEntry>;
  readonly outcomes: OutcomeBook;
  readonly unservable: UnservableWatch;
  readonly startRetry: StartRetry;
  /** Whether `close()` was called: no new starts, and nodes that go are not failures. */
  closing(): boolean;
  /** Queues a task already counted against its key's budget. */
  enqueue(entry: TaskEntry): void;
  /** One unfinished task more for the owner's budget. */
  reserve(owner: string | null): void;
  /** A task read from the store, as this gateway holds it. */
  toEntry(record: StoredTask, spec: GenerationSpec): TaskEntry;
  /** The task leaves the dispatcher (ended, here or elsewhere): no longer held, counted or previewed; the entry it was. */
  drop(taskId: string): TaskEntry | undefined;
  /** A task the store did not take leaves the queue (and its node slot), as if never submitted. */
  withdraw(entry: TaskEntry): void;
  /** What a log line about a task names: the task and its key's id. */
  about(taskId: string): { task: string; key: string | null };
  /** Tells those who watch the task that it changed. */
  changed(taskId: string): void;
  /** Whether someone watches the task (`Dispatcher.watch`). */
  watched(taskId: string): boolean;
  /** `Dispatcher.watch`: calls `listener` when the task changes; returns the unsubscribe. */
  watch(taskId: string, listener: () => void): () => void;
  /** `Dispatcher.schedule`: a scheduling pass now. */
  schedule(): void;
  /**
   * A scheduling pass at the end of this turn of the event loop, or in a large fleet when its turn comes
   * (pass-pacing.ts; `paced: false`, this turn all the same); settles once it has run.
   */
  passSoon(paced?: boolean): Promise<void>;
  /** `schedule()` where a throw would end the process (a timer): logged instead. */
  scheduleGuarded(): void;
  /** Starts an assignment of the scheduler's: its attempt claimed in the store, then sent to the node (node-attempts.ts). */
  start(entry: TaskEntry, session: NodeSession, assignment: Assignment): Promise<void>;
  /** An attempt's timeout on its node: from its expected time there, and the time it may wait there first. */
  timeoutFor(expectedSeconds: number, waitSeconds: number): AttemptTimeout;
  /** Back to its place in the queue, counted as no failure and blamed on nobody (`why`: the log line). */
  putBack(entry: TaskEntry, running: RunningAttempt, why?: string): void;
  /** Ends a failed attempt: the task is retried elsewhere, or fails for good. */
  settleFailure(running: RunningAttempt, error: AttemptError): void;
  /** The task fails (as of `attempt` in the store, null: whatever attempt the row holds). */
  fail(entry: TaskEntry, attempt: number | null, error: TaskError): void;
  /**
   * Ends the task in memory and announces its outcome (written to the store as of `attempt`); `stored` runs
   * once the store holds it, before the observer hears that the task finished.
   */
  finish(outcome: TaskOutcome, attempt: number | null, stored?: () => void): void;
  /** Writes a requeue at `attempt`; a failed write is logged and otherwise harmless. */
  requeueStored(taskId: string, attempt: number): Promise<void>;
  /** Stops an attempt of this gateway's that is no longer the task's: no failure counted. */
  abandon(running: RunningAttempt, reason: string): void;
  /** Runs `run` after `ms` on the clock, unless the dispatcher closes first. */
  later(ms: number, run: () => void): Timer;
  /** Cancels a timer of `later`. */
  cancelLater(timer: Timer): void;
  /** Runs detached work whose error is logged, never thrown. */
  guard(work: Promise<unknown>): void;
  /** News of a task (shared-queue.ts): a resync leaves alone what changed while it read. */
  touch(taskId: string): void;
  /** Brings a task in line with its row in the store, where news of it may have come late (shared-queue.ts). */
  reconcile(taskId: string): Promise<void>;
  /** `reconcile`, tried again while the store cannot say. */
  reconcileSurely(taskId: string): void;
  /** `Dispatcher.startedElsewhere`: the task runs on another gateway's node at `attempt`. */
  startedElsewhere(taskId: string, attempt: number, how?: { moved?: boolean }): void;
  /** Whether a take-over of the task is being written (node-returns.ts): its row is changing. */
  takingOver(taskId: string): boolean;
}
