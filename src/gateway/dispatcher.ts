/**
 * @module gateway/dispatcher
 *
 * Moves tasks through their life (see domain/task.ts): keeps the queue and the
 * running attempts in memory (the store is the durable copy), asks the
 * scheduler for assignments whenever the queue or a node changes, sends them
 * to nodes, and settles each attempt exactly once: result, failure, node lost
 * or timeout. A retryable failure puts the task back at its place in the
 * queue, to be tried on another node where one can serve it; after
 * `maxAttempts` failed attempts the task fails with every attempt's reason.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Static } from '@sinclair/typebox';
import type { Binding } from '../domain/binding.js';
import type { GenerationSpec, TaskKind, TaskResult } from '../domain/spec.js';
import type { TaskError, TaskRecord } from '../domain/task.js';
import type { ErrorId } from '../errors/catalog.js';
import { isErrorId } from '../errors/dan-error.js';
import type { NodeHub } from '../network/node-hub.js';
import type { NodeSession } from '../network/node-session.js';
import type { Failure, Progress, Result } from '../protocol/messages.js';
import { planAssignments } from '../scheduler/plan-assignments.js';
import type { TaskStore } from '../store/task-store.js';

interface QueueEntry {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  apiKey: string | null;
  createdAt: number;
  /** Attempts made so far (the store's count). */
  attempts: number;
  failedOn: Set<string>;
  /** One line per failed attempt, for the final message. */
  failures: string[];
}

interface RunningEntry {
  entry: QueueEntry;
  nodeId: string;
  attempt: number;
  timer: NodeJS.Timeout;
  progress: number;
  etaSeconds: number | null;
}

/** How a finished task ended, as waiters receive it. */
export type TaskOutcome =
  | { id: string; state: 'succeeded'; result: TaskResult }
  | { id: string; state: 'failed'; error: TaskError };

export type LiveStatus =
  | { state: 'queued'; position: number }
  | { state: 'running'; progress: number; etaSeconds: number | null; nodeId: string }
  | { state: 'finished'; outcome: TaskOutcome };

export interface DispatcherOptions {
  store: TaskStore;
  hub: NodeHub;
  maxAttempts: number;
  taskTimeoutMs: number;
  log: FastifyBaseLogger;
  now?: () => number;
}

export interface SubmittedTask {
  id: string;
  kind: TaskKind;
  spec: GenerationSpec;
  apiKey: string | null;
}

interface AttemptError {
  id: ErrorId;
  message: string;
  retryable: boolean;
}

export class Dispatcher {
  readonly #queue: QueueEntry[] = [];
  readonly #running = new Map<string, RunningEntry>();
  /** Who waits for which task (sync requests); keyed so an outcome wakes only its own waiters. */
  readonly #waiters = new Map<string, Set<(outcome: TaskOutcome) => void>>();
  /** Outcomes told to waiters but not yet in the store. */
  readonly #finished = new Map<string, TaskOutcome>();
  readonly #writes = new Set<Promise<void>>();
  readonly #options: DispatcherOptions;
  readonly #now: () => number;
  readonly #log: FastifyBaseLogger;

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    const { hub } = options;
    hub.on('node:changed', () => this.schedule());
    hub.on('node:lost', (session, running, reason) => this.#guard(this.#onNodeLost(session, running, reason)));
    hub.on('task:progress', (session, message) => this.#onProgress(session, message));
    hub.on('task:result', (session, message) => this.#guard(this.#onResult(session, message)));
    hub.on('task:failure', (session, message) => this.#guard(this.#onFailure(session, message)));
  }

  /** Loads unfinished tasks after a restart; an attempt that was running is requeued. */
  async recover(): Promise<number> {
    const unfinished = await this.#options.store.listUnfinished();
    for (const record of unfinished) {
      if (!record.spec) continue;
      if (record.state === 'running') await this.#options.store.requeue(record.id, record.attempts);
      this.#queue.push(toEntry(record, record.spec));
    }
    if (unfinished.length > 0) this.#log.info({ tasks: unfinished.length }, 'recovered unfinished tasks');
    this.schedule();
    return unfinished.length;
  }

  /** Stores a new task, then queues it. Resolves once the task is durable. */
  async submit(task: SubmittedTask): Promise<void> {
    const createdAt = this.#now();
    await this.#options.store.insert({ ...task, createdAt });
    this.#queue.push({ ...task, createdAt, attempts: 0, failedOn: new Set(), failures: [] });
    this.schedule();
  }

  /** Where an unfinished task stands, or undefined when the dispatcher does not hold it. */
  liveStatus(id: string): LiveStatus | undefined {
    const outcome = this.#finished.get(id);
    if (outcome) return { state: 'finished', outcome };
    const running = this.#running.get(id);
    if (running) return { state: 'running', progress: running.progress, etaSeconds: running.etaSeconds, nodeId: running.nodeId };
    const index = this.#queue.findIndex((e) => e.id === id);
    return index >= 0 ? { state: 'queued', position: index + 1 } : undefined;
  }

  get queuedCount(): number {
    return this.#queue.length;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  /** Resolves with the outcome when the task finishes, or null after `timeoutMs` or when `signal` aborts. */
  waitFor(id: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskOutcome | null> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, waiters);
      const finish = (outcome: TaskOutcome | null) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(finish);
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        resolve(outcome);
      };
      const onAbort = () => finish(null);
      const timer = setTimeout(onAbort, timeoutMs);
      waiters.add(finish);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** Assigns queued tasks to free node slots. Safe to call at any time. */
  schedule(): void {
    if (this.#queue.length === 0) return;
    const sessions = [...this.#options.hub.sessions.values()];
    const nodes = sessions
      .filter((s) => s.freeSlots > 0)
      .map((s) => ({ id: s.id, offering: s.offering, freeSlots: s.freeSlots, loadedModel: s.loadedModel }));
    if (nodes.length === 0) return;
    for (const assignment of planAssignments(this.#queue, nodes)) {
      const session = this.#options.hub.sessions.get(assignment.nodeId);
      const index = this.#queue.findIndex((e) => e.id === assignment.taskId);
      if (!session || index < 0) continue;
      const [entry] = this.#queue.splice(index, 1);
      this.#guard(this.#start(entry!, session, assignment.binding));
    }
  }

  async #start(entry: QueueEntry, session: NodeSession, binding: Binding): Promise<void> {
    const attempt = entry.attempts + 1;
    entry.attempts = attempt;
    const timer = setTimeout(() => this.#guard(this.#onTimeout(entry.id, attempt)), this.#options.taskTimeoutMs);
    timer.unref();
    // Reserve the slot before any await, so the next scheduling pass sees it taken.
    this.#running.set(entry.id, { entry, nodeId: session.id, attempt, timer, progress: 0, etaSeconds: null });
    session.running.add(entry.id);
    await this.#options.store.markRunning(entry.id, attempt, session.id, this.#now());
    const sent = session.send({ type: 'assign', taskId: entry.id, attempt, spec: entry.spec, binding, timeoutMs: this.#options.taskTimeoutMs });
    this.#log.debug({ task: entry.id, node: session.id, attempt }, 'task assigned');
    if (!sent) await this.#settleFailure(entry.id, session.id, { id: 'DAN_ERR_NODE_LOST', message: 'node went away before the task reached it', retryable: true });
  }

  #onProgress(session: NodeSession, message: Static<typeof Progress>): void {
    const running = this.#running.get(message.taskId);
    if (!running || running.nodeId !== session.id) return;
    running.progress = message.progress;
    running.etaSeconds = message.etaSeconds;
  }

  async #onResult(session: NodeSession, message: Static<typeof Result>): Promise<void> {
    const running = this.#release(message.taskId, session.id);
    if (!running) return;
    this.#log.info({ task: message.taskId, node: session.id, elapsedMs: message.elapsedMs }, 'task succeeded');
    this.schedule();
    await this.#finish({ id: message.taskId, state: 'succeeded', result: message.result }, running.attempt);
  }

  /**
   * Tells waiters first, then stores. A waiting sync client gets its images without
   * waiting for the write (for a 512² PNG that write is most of the gateway's time on
   * the result path); until the write lands, `liveStatus` answers from memory, so a
   * status poll never sees the task go back to "running".
   */
  #finish(outcome: TaskOutcome, attempt: number | null): Promise<void> {
    this.#finished.set(outcome.id, outcome);
    for (const wake of [...(this.#waiters.get(outcome.id) ?? [])]) wake(outcome);
    const write = this.#store(outcome, attempt);
    this.#writes.add(write);
    return write.finally(() => this.#writes.delete(write));
  }

  async #store(outcome: TaskOutcome, attempt: number | null): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      const at = this.#now();
      const stored =
        outcome.state === 'succeeded'
          ? await this.#options.store.complete(outcome.id, attempt ?? 0, outcome.result, at)
          : await this.#options.store.fail(outcome.id, attempt, outcome.error, at);
      if (!stored) this.#log.error({ task: outcome.id }, 'task outcome not stored: the stored attempt moved on');
    } finally {
      this.#finished.delete(outcome.id);
    }
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

  async #onTimeout(taskId: string, attempt: number): Promise<void> {
    const running = this.#running.get(taskId);
    if (!running || running.attempt !== attempt) return;
    const seconds = Math.round(this.#options.taskTimeoutMs / 1000);
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
    entry.failedOn.add(nodeId);
    this.#log.warn({ task: taskId, node: nodeId, attempt, error: error.id, reason: error.message }, 'task attempt failed');
    if (!error.retryable) return this.#fail(entry, attempt, { id: error.id, message: error.message });
    if (entry.failures.length >= this.#options.maxAttempts) {
      const message = `failed ${entry.failures.length} times: ${entry.failures.join('; ')}`;
      return this.#fail(entry, attempt, { id: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED', message });
    }
    await this.#options.store.requeue(taskId, attempt);
    this.#requeue(entry);
    this.schedule();
  }

  /** Puts a task back at its place: the queue is in creation order. */
  #requeue(entry: QueueEntry): void {
    const index = this.#queue.findIndex((e) => e.createdAt > entry.createdAt);
    this.#queue.splice(index < 0 ? this.#queue.length : index, 0, entry);
  }

  async #fail(entry: QueueEntry, attempt: number | null, error: TaskError): Promise<void> {
    this.#log.info({ task: entry.id, error: error.id }, 'task failed');
    await this.#finish({ id: entry.id, state: 'failed', error }, attempt);
  }

  /** Handlers run detached from the emitter; an error in one is logged, never thrown into the hub. */
  #guard(work: Promise<unknown>): void {
    work.catch((error: unknown) => this.#log.error({ err: error }, 'dispatcher error'));
  }

  /** Stops attempt timers and lets pending outcome writes land (gateway shutdown). Tasks resume after restart. */
  async close(): Promise<void> {
    for (const running of this.#running.values()) clearTimeout(running.timer);
    await Promise.allSettled([...this.#writes]);
  }
}

function toEntry(record: TaskRecord, spec: GenerationSpec): QueueEntry {
  return {
    id: record.id,
    kind: record.kind,
    spec,
    apiKey: record.apiKey,
    createdAt: record.createdAt,
    attempts: record.attempts,
    failedOn: new Set(),
    failures: [],
  };
}
