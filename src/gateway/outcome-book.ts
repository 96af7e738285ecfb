/**
 * @module gateway/outcome-book
 *
 * Where a task's end is announced and recorded. Waiters (sync requests) hear
 * the outcome first, then it is written to the store: a waiting client gets
 * its images without waiting for the write. Until the write lands, `recent`
 * answers from memory, so a status poll never sees a finished task go back to
 * "running".
 *
 * A write that fails for storage (the disk is full, the database is away) is
 * retried, less often each time, until it lands; meanwhile the outcome stays in memory
 * and is what status polls and waiters read. Should the gateway stop first,
 * the store still holds the task as unfinished, and it runs again after the
 * restart: a true state, never a lost one. `close` lets pending writes land.
 */
import type { RelayedResult } from '../domain/spec.js';
import type { TaskError } from '../domain/task.js';
import type { TaskStore } from '../store/task-store.js';
import { type Clock, SECOND } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { isStoreUnavailable } from './store-errors.js';

/** How a finished task ended, as waiters receive it. */
export type TaskOutcome = {
  /** Whom the task was for (who may read the outcome), when known. */
  owner?: string | null;
} & (
  /** `resultReceivedAt`: when the result frame reached the gateway (`performance.now()`), for the overhead meter. */
  | { id: string; state: 'succeeded'; result: RelayedResult; resultReceivedAt?: number }
  | { id: string; state: 'failed' | 'cancelled'; error: TaskError }
);

/** First wait before a failed outcome write is tried again; doubles up to `MAX_RETRY_MS`. */
const FIRST_RETRY_MS = SECOND;
const MAX_RETRY_MS = 30 * SECOND;

export class OutcomeBook {
  /** Who waits for which task; keyed so an outcome wakes only its own waiters. */
  readonly #waiters = new Map<string, Set<(outcome: TaskOutcome | null) => void>>();
  /** Outcomes told to waiters but not yet in the store. */
  readonly #unwritten = new Map<string, TaskOutcome>();
  readonly #writes = new Set<Promise<boolean>>();
  readonly #store: TaskStore;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** Wakes the writes waiting to try again (shutdown tries them at once). */
  readonly #retryWakers = new Set<() => void>();
  #closed = false;

  constructor(options: { store: TaskStore; log: Logger; clock: Clock }) {
    this.#store = options.store;
    this.#log = options.log;
    this.#clock = options.clock;
  }

  /** An outcome announced but not yet stored, if any. */
  recent(id: string): TaskOutcome | undefined {
    return this.#unwritten.get(id);
  }

  /** Resolves with the outcome when the task finishes, or null after `timeoutMs` or when `signal` aborts. */
  waitFor(id: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskOutcome | null> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, waiters);
      const finish = (outcome: TaskOutcome | null) => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(finish);
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        resolve(outcome);
      };
      const onAbort = () => finish(null);
      const timer = this.#clock.setTimeout(onAbort, timeoutMs);
      waiters.add(finish);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** Whether a sync request waits for the task. */
  hasWaiters(id: string): boolean {
    return this.#waiters.has(id);
  }

  /** Tells the waiters an outcome already stored (by another gateway sharing the store): nothing to write. */
  tell(outcome: TaskOutcome): void {
    for (const wake of this.#waiters.get(outcome.id) ?? []) wake(outcome);
  }

  /**
   * Tells the waiters, then stores the outcome of `attempt` (null: whatever attempt is current). Resolves
   * with whether the store holds it: false when the task had moved on (another gateway started it again:
   * this gateway was counted gone while it stood still, and woke to its nodes' old results), or the
   * outcome could not be stored before shutdown.
   */
  announce(outcome: TaskOutcome, attempt: number | null): Promise<boolean> {
    this.#unwritten.set(outcome.id, outcome);
    for (const wake of this.#waiters.get(outcome.id) ?? []) wake(outcome);
    const write = this.#writeUntilStored(outcome, attempt);
    this.#writes.add(write);
    return write.finally(() => this.#writes.delete(write));
  }

  async #writeUntilStored(outcome: TaskOutcome, attempt: number | null): Promise<boolean> {
    // Let the woken waiters answer their clients before the write takes its turn on the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let waitMs = FIRST_RETRY_MS; ; waitMs = Math.min(2 * waitMs, MAX_RETRY_MS)) {
      try {
        let stored = await this.#write(outcome, attempt);
        if (stored) this.#log.debug({ task: outcome.id, state: outcome.state }, 'task outcome stored');
        else stored = await this.#explainRefusal(outcome, attempt);
        this.#unwritten.delete(outcome.id);
        return stored;
      } catch (error) {
        if (!isStoreUnavailable(error)) {
          // A bug, not the disk: it would fail the same way forever. The outcome stays in memory (status
          // answers it) until the gateway restarts and the task runs again.
          this.#log.error({ task: outcome.id, err: error }, 'task outcome not stored (not a storage failure); not tried again');
          return false;
        }
        if (this.#closed) {
          this.#log.error({ task: outcome.id, err: error }, 'task outcome not stored before shutdown; the task runs again after the restart');
          return false;
        }
        this.#log.warn({ task: outcome.id, err: error, retryInMs: waitMs }, 'task outcome not stored yet; kept in memory and tried again');
        await this.#waitToRetry(waitMs);
      }
    }
  }

  /**
   * Why the store did not take an outcome: a try given up on (a timeout) may have landed after all, and the row
   * already holds it; else the task was started again (another gateway counted this one gone) or ended otherwise.
   * Whether the store holds this outcome after all.
   */
  async #explainRefusal(outcome: TaskOutcome, attempt: number | null): Promise<boolean> {
    // A store that cannot say (away again) throws: the write is tried again, and the refusal explained then.
    // Whether the store holds the outcome decides whether it is counted (metrics, webhooks made due).
    const row = await this.#store.get(outcome.id);
    if (row?.state === outcome.state && (attempt === null || row.attempts === attempt)) {
      this.#log.debug({ task: outcome.id, state: outcome.state }, 'task outcome stored (an earlier try landed)');
      return true;
    }
    const now = row === undefined ? 'no longer stored' : `now ${row.state}, attempt ${row.attempts}`;
    this.#log.error({ task: outcome.id, attempt, stored: row?.state }, `task outcome not stored: the task moved on (${now}); its later outcome is the one kept`);
    return false;
  }

  #waitToRetry(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        timer.cancel();
        this.#retryWakers.delete(wake);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      this.#retryWakers.add(wake);
    });
  }

  #write(outcome: TaskOutcome, attempt: number | null): Promise<boolean> {
    const at = this.#clock.now();
    switch (outcome.state) {
      case 'succeeded':
        return this.#store.complete(outcome.id, attempt ?? 0, outcome.result, at);
      case 'cancelled':
        return this.#store.cancel(outcome.id, attempt, outcome.error.message, at);
      case 'failed':
        return this.#store.fail(outcome.id, attempt, outcome.error, at);
    }
  }

  /**
   * Lets pending writes land (shutdown). A write still failing gets one more try
   * now, instead of its next retry: its task then runs again after the restart.
   */
  async close(): Promise<void> {
    this.#closed = true;
    // Sync requests waiting for a task are answered now, as unfinished (they poll, or ask again after the
    // restart), not cut off when the server closes.
    for (const waiters of [...this.#waiters.values()]) for (const finish of [...waiters]) finish(null);
    for (const wake of [...this.#retryWakers]) wake();
    await Promise.allSettled(this.#writes);
  }
}
