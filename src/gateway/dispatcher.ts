/**
 * @module gateway/dispatcher
 *
 * Moves tasks through their life (see domain/task.ts). It owns the I/O around
 * the scheduling core (scheduler/scheduler.ts): it feeds it node views and
 * events, sends the assignments it returns, and settles each attempt exactly
 * once: result, failure, node lost, timeout or cancel. The store is the
 * durable copy; the queue and the running attempts live here and in the core.
 *
 * - A retryable failure puts the task back at its place in the queue, to be
 *   tried on another node where one can serve it; after `maxAttempts` failed
 *   attempts the task fails with every attempt's reason.
 * - A node that keeps failing is set aside for a while (scheduler/node-health.ts).
 * - A queued task that no connected node can serve any more says so in its
 *   status, and fails after `unservableGraceMs` unless a node that can serve it
 *   (re)connects.
 * - Each attempt's timeout follows from the task's cost and the node's measured
 *   speed, within `taskTimeoutMs`.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Static } from '@sinclair/typebox';
import type { GenerationSpec, TaskKind } from '../domain/spec.js';
import type { TaskError } from '../domain/task.js';
import type { ErrorId } from '../errors/catalog.js';
import { DanError, isErrorId } from '../errors/dan-error.js';
import type { NodeHub } from '../network/node-hub.js';
import type { NodeSession } from '../network/node-session.js';
import type { Failure, Progress } from '../protocol/messages.js';
import type { RelayedResultMessage } from '../protocol/result-frame.js';
import { type Assignment, Scheduler } from '../scheduler/scheduler.js';
import type { StoredTask, TaskStore } from '../store/task-store.js';
import { OutcomeBook, type TaskOutcome } from './outcome-book.js';
import type { OverheadMeter } from './overhead-meter.js';

interface TaskEntry {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  apiKey: string | null;
  createdAt: number;
  /** Attempts made so far (the store's count). */
  attempts: number;
  /** One line per failed attempt, for the final message. */
  failures: string[];
  /** Since when no connected node can serve it, and why. */
  unservable: { since: number; reason: string } | null;
  /** Set only during the scheduling pass right after submit: the request's arrival, to time the dispatch. */
  receivedAt?: number;
}

interface RunningEntry {
  entry: TaskEntry;
  nodeId: string;
  attempt: number;
  timer: NodeJS.Timeout;
  progress: number;
  etaSeconds: number | null;
}

export type { TaskOutcome } from './outcome-book.js';

export type LiveStatus =
  | { state: 'queued'; position: number; etaSeconds: number | null; unservable: string | null }
  | { state: 'running'; progress: number; etaSeconds: number | null; nodeId: string }
  | { state: 'finished'; outcome: TaskOutcome };

export interface DispatcherOptions {
  store: TaskStore;
  hub: NodeHub;
  maxAttempts: number;
  /** Upper bound of one attempt's timeout. */
  taskTimeoutMs: number;
  /** Unfinished tasks one API key may have; 0 = no limit. */
  maxTasksPerKey: number;
  /** How long a queued task may go without any node able to serve it. */
  unservableGraceMs: number;
  log: FastifyBaseLogger;
  /** Told how long the gateway took to send each task that went out at once. */
  overhead?: OverheadMeter;
  scheduler?: Scheduler;
  now?: () => number;
}

export interface SubmittedTask {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  apiKey: string | null;
  /** When the request arrived (`performance.now()`), for the overhead meter. */
  receivedAt?: number;
}

interface AttemptError {
  id: ErrorId;
  message: string;
  retryable: boolean;
}

/** Failures that say something about the node, as opposed to the request. */
const NODE_FAULTS: ReadonlySet<ErrorId> = new Set(['DAN_ERR_BACKEND_FAILED', 'DAN_ERR_BACKEND_BAD_RESPONSE', 'DAN_ERR_TASK_TIMEOUT', 'DAN_ERR_NODE_LOST']);
const MIN_TIMEOUT_MS = 60_000;

export class Dispatcher {
  readonly scheduler: Scheduler;
  readonly #entries = new Map<string, TaskEntry>();
  readonly #running = new Map<string, RunningEntry>();
  readonly #outcomes: OutcomeBook;
  readonly #options: DispatcherOptions;
  readonly #now: () => number;
  readonly #log: FastifyBaseLogger;
  #wakeTimer: NodeJS.Timeout | undefined;
  /** The entries the last pass found no node for: the next pass clears those a node can serve again. */
  #markedUnservable = new Set<TaskEntry>();

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.scheduler = options.scheduler ?? new Scheduler();
    this.#outcomes = new OutcomeBook({ store: options.store, log: options.log, now: this.#now });
    const { hub } = options;
    hub.on('node:changed', () => this.schedule());
    hub.on('node:lost', (session, running, reason) => this.#guard(this.#onNodeLost(session, running, reason)));
    hub.on('task:progress', (session, message) => this.#onProgress(session, message));
    hub.on('task:result', (session, message, receivedAt) => this.#guard(this.#onResult(session, message, receivedAt)));
    hub.on('task:failure', (session, message) => this.#guard(this.#onFailure(session, message)));
  }

  /** Loads unfinished tasks after a restart; an attempt that was running is requeued. */
  async recover(): Promise<number> {
    const unfinished = await this.#options.store.listUnfinished();
    for (const record of unfinished) {
      if (!record.spec) continue;
      if (record.state === 'running') await this.#options.store.requeue(record.id, record.attempts);
      this.#enqueue(toEntry(record, record.spec));
    }
    if (unfinished.length > 0) this.#log.info({ tasks: unfinished.length }, 'recovered unfinished tasks');
    this.schedule();
    return unfinished.length;
  }

  /** Checks the key's budget, stores a new task, then queues it. Resolves once the task is durable. */
  async submit(task: SubmittedTask): Promise<void> {
    this.#assertWithinBudget(task.apiKey);
    const createdAt = this.#now();
    const { receivedAt, ...stored } = task;
    await this.#options.store.insert({ ...stored, createdAt });
    const entry: TaskEntry = { ...stored, createdAt, attempts: 0, failures: [], unservable: null };
    this.#enqueue(entry);
    // Only a task sent in this very pass is timed: one that waits, waits for a GPU, not for the gateway.
    if (receivedAt !== undefined) entry.receivedAt = receivedAt;
    this.schedule();
    delete entry.receivedAt;
  }

  #assertWithinBudget(apiKey: string | null): void {
    const limit = this.#options.maxTasksPerKey;
    if (limit <= 0) return;
    let count = 0;
    for (const entry of this.#entries.values()) if (entry.apiKey === apiKey) count += 1;
    if (count < limit) return;
    const who = apiKey === null ? 'requests without an API key' : 'this API key';
    throw new DanError('DAN_ERR_TASK_LIMIT', `${who} already has ${count} unfinished tasks, the most allowed (${limit}); wait for some to finish`);
  }

  #enqueue(entry: TaskEntry): void {
    this.#entries.set(entry.id, entry);
    this.scheduler.enqueue({ id: entry.id, apiKey: entry.apiKey ?? '', spec: entry.spec, priority: 0 }, entry.createdAt);
  }

  /** Where an unfinished task stands, or undefined when the dispatcher does not hold it. */
  liveStatus(id: string): LiveStatus | undefined {
    const outcome = this.#outcomes.recent(id);
    if (outcome) return { state: 'finished', outcome };
    const now = this.#now();
    const running = this.#running.get(id);
    if (running) {
      const etaSeconds = running.etaSeconds ?? this.scheduler.eta(id, now);
      return { state: 'running', progress: running.progress, etaSeconds, nodeId: running.nodeId };
    }
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    const position = this.scheduler.position(id) ?? 0;
    return { state: 'queued', position, etaSeconds: this.scheduler.eta(id, now), unservable: entry.unservable?.reason ?? null };
  }

  get queuedCount(): number {
    return this.scheduler.queuedCount;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  /** Resolves with the outcome when the task finishes, or null after `timeoutMs` or when `signal` aborts. */
  waitFor(id: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskOutcome | null> {
    return this.#outcomes.waitFor(id, timeoutMs, signal);
  }

  /** Sends queued tasks to free node slots as the plan says. Safe to call at any time. */
  schedule(): void {
    const now = this.#now();
    const sessions = [...this.#options.hub.sessions.values()];
    for (const s of sessions) if (s.measured) this.scheduler.estimates.seed(s.name, s.measured);
    this.scheduler.setNodes(
      sessions.map((s) => ({
        id: s.id,
        name: s.name,
        offering: s.offering,
        offeringVersion: s.offeringVersion,
        slots: s.slots,
        loadedModel: s.loadedModel,
        available: s.available,
      })),
    );
    for (const assignment of this.scheduler.assignments(now)) {
      const session = this.#options.hub.sessions.get(assignment.nodeId);
      const entry = this.#entries.get(assignment.taskId);
      if (session && entry) this.#guard(this.#start(entry, session, assignment));
    }
    this.#watchUnservable(now);
  }

  async #start(entry: TaskEntry, session: NodeSession, assignment: Assignment): Promise<void> {
    const { receivedAt } = entry;
    const attempt = entry.attempts + 1;
    entry.attempts = attempt;
    entry.unservable = null;
    const timeoutMs = Math.round(Math.min(this.#options.taskTimeoutMs, Math.max(MIN_TIMEOUT_MS, (3 * assignment.expectedSeconds + 30) * 1000)));
    const timer = setTimeout(() => this.#guard(this.#onTimeout(entry.id, attempt, timeoutMs)), timeoutMs);
    timer.unref();
    // Reserve the slot before any await, so the next scheduling pass sees it taken.
    this.scheduler.started(assignment, this.#now());
    this.#running.set(entry.id, { entry, nodeId: session.id, attempt, timer, progress: 0, etaSeconds: null });
    session.running.add(entry.id);
    await this.#options.store.markRunning(entry.id, attempt, session.id, this.#now());
    const sent = session.send({ type: 'assign', taskId: entry.id, attempt, spec: entry.spec, binding: assignment.binding, timeoutMs });
    if (sent && receivedAt !== undefined) this.#options.overhead?.dispatched(performance.now() - receivedAt);
    this.#log.debug({ task: entry.id, node: session.id, attempt, switched: assignment.switched }, 'task assigned');
    if (!sent) await this.#settleFailure(entry.id, session.id, { id: 'DAN_ERR_NODE_LOST', message: 'node went away before the task reached it', retryable: true });
  }

  #onProgress(session: NodeSession, message: Static<typeof Progress>): void {
    const running = this.#running.get(message.taskId);
    if (!running || running.nodeId !== session.id) return;
    running.progress = message.progress;
    running.etaSeconds = message.etaSeconds;
  }

  async #onResult(session: NodeSession, message: RelayedResultMessage, receivedAt: number): Promise<void> {
    const running = this.#release(message.taskId, session.id);
    if (!running) return;
    this.scheduler.finished(message.taskId, { ok: true, elapsedMs: message.elapsedMs }, this.#now());
    this.#log.info({ task: message.taskId, node: session.id, elapsedMs: Math.round(message.elapsedMs) }, 'task succeeded');
    // The waiting client is answered first (its handler resumes in this turn's microtasks); the node's next
    // task follows at once, then the store write (also deferred). A scheduling pass over a long queue
    // takes milliseconds, which every sync answer would otherwise wait for; the GPU waits for one answer.
    setImmediate(() => this.#scheduleGuarded());
    await this.#finish({ id: message.taskId, state: 'succeeded', result: message.result, resultReceivedAt: receivedAt }, running.attempt);
  }

  async #onFailure(session: NodeSession, message: Static<typeof Failure>): Promise<void> {
    const id: ErrorId = isErrorId(message.error) ? message.error : 'DAN_ERR_BACKEND_FAILED';
    await this.#settleFailure(message.taskId, session.id, { id, message: message.message, retryable: message.retryable });
  }

  async #onNodeLost(session: NodeSession, running: string[], reason: string): Promise<void> {
    for (const taskId of running) {
      await this.#settleFailure(taskId, session.id, { id: 'DAN_ERR_NODE_LOST', message: `node ${session.name} lost: ${reason}`, retryable: true });
    }
    this.schedule();
  }

  async #onTimeout(taskId: string, attempt: number, timeoutMs: number): Promise<void> {
    const running = this.#running.get(taskId);
    if (!running || running.attempt !== attempt) return;
    const seconds = Math.round(timeoutMs / 1000);
    this.#options.hub.sessions.get(running.nodeId)?.send({ type: 'cancel', taskId, reason: `timed out after ${seconds} s` });
    await this.#settleFailure(taskId, running.nodeId, { id: 'DAN_ERR_TASK_TIMEOUT', message: `no answer within ${seconds} s`, retryable: true });
  }

  /** Ends the running attempt of `taskId` on `nodeId`; undefined when there is none (a stale answer). */
  #release(taskId: string, nodeId: string): RunningEntry | undefined {
    const running = this.#running.get(taskId);
    if (!running || running.nodeId !== nodeId) return undefined;
    clearTimeout(running.timer);
    this.#running.delete(taskId);
    this.#options.hub.sessions.get(nodeId)?.running.delete(taskId);
    return running;
  }

  async #settleFailure(taskId: string, nodeId: string, error: AttemptError): Promise<void> {
    const running = this.#release(taskId, nodeId);
    if (!running) return;
    const { entry, attempt } = running;
    const nodeName = this.#options.hub.sessions.get(nodeId)?.name ?? nodeId.replace(/-[0-9a-f]{6}$/, '');
    entry.failures.push(`attempt ${attempt} on node ${nodeName}: ${error.message}`);
    this.#log.warn({ task: taskId, node: nodeId, attempt, error: error.id, reason: error.message }, 'task attempt failed');
    const retry = error.retryable && entry.failures.length < this.#options.maxAttempts;
    const setAside = this.scheduler.finished(taskId, { ok: false, countsAgainstNode: NODE_FAULTS.has(error.id), reason: error.message, requeue: retry }, this.#now());
    if (setAside) this.#noteSetAside(nodeName, setAside.until, setAside.reason);
    if (!error.retryable) return this.#fail(entry, attempt, { id: error.id, message: error.message });
    if (!retry) {
      const message = `failed ${entry.failures.length} times: ${entry.failures.join('; ')}`;
      return this.#fail(entry, attempt, { id: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED', message });
    }
    await this.#options.store.requeue(taskId, attempt);
    this.schedule();
  }

  #noteSetAside(nodeName: string, until: number, reason: string): void {
    const seconds = Math.round((until - this.#now()) / 1000);
    this.#log.warn({ node: nodeName, seconds, reason }, 'node keeps failing: set aside, no new work for a while');
    setTimeout(() => this.#scheduleGuarded(), Math.max(0, until - this.#now()) + 10).unref();
  }

  /**
   * Cancels an unfinished task: a queued one leaves the queue, a running one is
   * interrupted on its node. Returns false when the dispatcher does not hold it.
   */
  async cancel(taskId: string, reason: string): Promise<boolean> {
    const entry = this.#entries.get(taskId);
    if (!entry || this.#outcomes.recent(taskId)) return false;
    const running = this.#running.get(taskId);
    if (running) {
      this.#options.hub.sessions.get(running.nodeId)?.send({ type: 'cancel', taskId, reason });
      this.#release(taskId, running.nodeId);
      this.scheduler.finished(taskId, { ok: false }, this.#now());
      this.schedule();
    } else {
      this.scheduler.remove(taskId);
    }
    this.#log.info({ task: taskId, wasRunning: !!running }, 'task cancelled');
    await this.#finish({ id: taskId, state: 'cancelled', error: { id: 'DAN_ERR_TASK_CANCELLED', message: reason } }, running?.attempt ?? null);
    return true;
  }

  /** Notes queued tasks no node can serve; fails those past the grace time. */
  #watchUnservable(now: number): void {
    const lacking = this.scheduler.unservable();
    const marked = new Set<TaskEntry>();
    let nextDeadline = Infinity;
    for (const [taskId, reason] of lacking) {
      const entry = this.#entries.get(taskId);
      if (!entry) continue;
      entry.unservable = { since: entry.unservable?.since ?? now, reason };
      marked.add(entry);
      const deadline = entry.unservable.since + this.#options.unservableGraceMs;
      if (deadline <= now) {
        this.scheduler.remove(taskId);
        const seconds = Math.round(this.#options.unservableGraceMs / 1000);
        this.#guard(this.#fail(entry, null, { id: 'DAN_ERR_TASK_UNSERVABLE', message: `no node could serve this task for ${seconds} s: ${reason}` }));
      } else {
        nextDeadline = Math.min(nextDeadline, deadline);
      }
    }
    // Only last pass's marks can be stale: walking every entry here cost each pass over a long queue.
    for (const entry of this.#markedUnservable) if (!marked.has(entry)) entry.unservable = null;
    this.#markedUnservable = marked;
    clearTimeout(this.#wakeTimer);
    if (nextDeadline < Infinity) {
      this.#wakeTimer = setTimeout(() => this.#scheduleGuarded(), nextDeadline - now + 10);
      this.#wakeTimer.unref();
    }
  }

  async #fail(entry: TaskEntry, attempt: number | null, error: TaskError): Promise<void> {
    this.#log.info({ task: entry.id, error: error.id }, 'task failed');
    await this.#finish({ id: entry.id, state: 'failed', error }, attempt);
  }

  #finish(outcome: TaskOutcome, attempt: number | null): Promise<void> {
    this.#entries.delete(outcome.id);
    return this.#outcomes.announce(outcome, attempt);
  }

  /** `schedule()` from a timer or an immediate, where a throw would end the process: logged instead. */
  #scheduleGuarded(): void {
    try {
      this.schedule();
    } catch (error) {
      this.#log.error({ err: error }, 'dispatcher error');
    }
  }

  /** Handlers run detached from the emitter; an error in one is logged, never thrown into the hub. */
  #guard(work: Promise<unknown>): void {
    work.catch((error: unknown) => this.#log.error({ err: error }, 'dispatcher error'));
  }

  /** Stops timers and lets pending outcome writes land (gateway shutdown). Tasks resume after restart. */
  async close(): Promise<void> {
    clearTimeout(this.#wakeTimer);
    for (const running of this.#running.values()) clearTimeout(running.timer);
    await this.#outcomes.close();
  }
}

function toEntry(record: StoredTask, spec: GenerationSpec): TaskEntry {
  return {
    id: record.id,
    kind: record.kind,
    spec,
    apiKey: record.apiKey,
    createdAt: record.createdAt,
    attempts: record.attempts,
    failures: [],
    unservable: null,
  };
}
