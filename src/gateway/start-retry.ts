/**
 * @module gateway/start-retry
 *
 * When the store cannot record that a task started (disk full, database
 * away), the dispatcher stops starting tasks for a while instead of failing
 * every free slot's pick on every event: the tasks wait in the queue, blamed
 * on no node, and starts are tried again after a pause that doubles while the
 * store keeps failing (1 s up to 30 s).
 */
import { type Clock, SECOND, type Timer } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

const FIRST_WAIT_MS = SECOND;
const MAX_WAIT_MS = 30 * SECOND;

export class StartRetry {
  #waitMs = 0;
  #timer: Timer | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #wake: () => void;

  constructor(options: { clock: Clock; log: Logger; wake: () => void }) {
    this.#clock = options.clock;
    this.#log = options.log;
    this.#wake = options.wake;
  }

  /** True while starts wait for the next try. */
  get waiting(): boolean {
    return this.#timer !== undefined;
  }

  /** A start could not be stored: pause starts (once for the tasks of one pass). */
  failed(error: unknown): void {
    if (this.#timer) return;
    this.#waitMs = Math.min(Math.max(FIRST_WAIT_MS, 2 * this.#waitMs), MAX_WAIT_MS);
    this.#log.warn({ err: error, retryInMs: this.#waitMs }, 'task store cannot record task starts; tasks wait in the queue, starts are tried again');
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#wake();
    }, this.#waitMs);
  }

  succeeded(): void {
    if (this.#waitMs === 0) return;
    this.#waitMs = 0;
    this.#log.info({}, 'task store records task starts again');
  }

  close(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
