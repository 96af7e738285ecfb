/**
 * @module gateway/retention-sweeper
 *
 * Deletes finished tasks and their results once they are older than the
 * retention time: once at start, then every `intervalMs` on the clock.
 */
import type { TaskStore } from '../store/task-store.js';
import { type Clock, MINUTE, type Timer } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export interface RetentionSweeperOptions {
  store: TaskStore;
  /** How long a finished task is kept. */
  retentionMs: number;
  clock: Clock;
  log: Logger;
  /** How often to sweep. @defaultValue 1 min */
  intervalMs?: number;
  /** Other records kept as long as tasks are (webhook deliveries): told the same cutoff. */
  alsoExpire?: (before: number) => Promise<unknown>;
}

export class RetentionSweeper {
  readonly #options: RetentionSweeperOptions;
  #timer: Timer | undefined;

  constructor(options: RetentionSweeperOptions) {
    this.#options = options;
  }

  /** Sweeps now, then every interval. */
  async start(): Promise<void> {
    this.#timer ??= this.#options.clock.setInterval(() => void this.sweep(), this.#options.intervalMs ?? MINUTE);
    await this.sweep();
  }

  /** Deletes what expired; resolves with how many tasks went. A failed sweep is logged and tried at the next interval. */
  async sweep(): Promise<number> {
    const { store, clock, log, retentionMs } = this.#options;
    try {
      const before = clock.now() - retentionMs;
      const removed = await store.deleteFinishedBefore(before);
      await this.#options.alsoExpire?.(before);
      if (removed > 0) log.info({ removed }, 'removed expired task results');
      return removed;
    } catch (error) {
      log.error({ err: error }, 'could not remove expired task results; trying again at the next sweep');
      return 0;
    }
  }

  close(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
