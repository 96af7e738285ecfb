/**
 * @module gateway/outcome-book
 *
 * Where a task's end is announced and recorded. Waiters (sync requests) hear
 * the outcome first, then it is written to the store: a waiting client gets
 * its images without waiting for the write. Until the write lands, `recent`
 * answers from memory, so a status poll never sees a finished task go back to
 * "running". `close` lets pending writes land.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { RelayedResult } from '../protocol/result-frame.js';
import type { TaskError } from '../domain/task.js';
import type { TaskStore } from '../store/task-store.js';

/** How a finished task ended, as waiters receive it. */
export type TaskOutcome =
  /** `resultReceivedAt`: when the result frame reached the gateway (`performance.now()`), for the overhead meter. */
  | { id: string; state: 'succeeded'; result: RelayedResult; resultReceivedAt?: number }
  | { id: string; state: 'failed' | 'cancelled'; error: TaskError };

export class OutcomeBook {
  /** Who waits for which task; keyed so an outcome wakes only its own waiters. */
  readonly #waiters = new Map<string, Set<(outcome: TaskOutcome | null) => void>>();
  /** Outcomes told to waiters but not yet in the store. */
  readonly #unwritten = new Map<string, TaskOutcome>();
  readonly #writes = new Set<Promise<void>>();
  readonly #store: TaskStore;
  readonly #log: FastifyBaseLogger;
  readonly #now: () => number;

  constructor(options: { store: TaskStore; log: FastifyBaseLogger; now: () => number }) {
    this.#store = options.store;
    this.#log = options.log;
    this.#now = options.now;
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

  /** Tells the waiters, then stores the outcome of `attempt` (null: whatever attempt is current). */
  announce(outcome: TaskOutcome, attempt: number | null): Promise<void> {
    this.#unwritten.set(outcome.id, outcome);
    for (const wake of [...(this.#waiters.get(outcome.id) ?? [])]) wake(outcome);
    const write = this.#write(outcome, attempt);
    this.#writes.add(write);
    return write.finally(() => this.#writes.delete(write));
  }

  async #write(outcome: TaskOutcome, attempt: number | null): Promise<void> {
    // Let the woken waiters answer their clients before the write takes its turn on the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      const at = this.#now();
      const stored =
        outcome.state === 'succeeded'
          ? await this.#store.complete(outcome.id, attempt ?? 0, outcome.result, at)
          : outcome.state === 'cancelled'
            ? await this.#store.cancel(outcome.id, attempt, outcome.error.message, at)
            : await this.#store.fail(outcome.id, attempt, outcome.error, at);
      if (!stored) this.#log.error({ task: outcome.id }, 'task outcome not stored: the stored attempt moved on');
    } finally {
      this.#unwritten.delete(outcome.id);
    }
  }

  /** Lets pending writes land (shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
  }
}
