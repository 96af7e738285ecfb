/**
 * A clock tests drive (src/util/clock.ts), on @sinonjs/fake-timers: time moves
 * only when a test says so, and every timer due on the way fires in order, with
 * the promise chains each one starts run to their next real wait before the
 * next timer. Only the injected clock is fake: the process's own timers (SQLite's
 * worker, sockets, vitest) keep real time.
 */
import { createClock } from '@sinonjs/fake-timers';
import type { Clock, Timer } from '../../src/util/clock.js';

/** A fixed start, so that times in failing tests read the same every run. */
export const REFERENCE_TIMESTAMP = Date.UTC(2026, 0, 1);

export class FakeClock implements Clock {
  readonly #clock = createClock(REFERENCE_TIMESTAMP);

  now(): number {
    return this.#clock.now;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    const id = this.#clock.setTimeout(callback, ms);
    return { cancel: () => this.#clock.clearTimeout(id) };
  }

  setInterval(callback: () => void, ms: number): Timer {
    const id = this.#clock.setInterval(callback, ms);
    return { cancel: () => this.#clock.clearInterval(id) };
  }

  /** Moves time forward by `ms`, firing the timers due on the way. */
  async advance(ms: number): Promise<void> {
    await this.#clock.tickAsync(ms);
  }

  /**
   * Moves time forward by `ms` as a process that was asleep meets it: each timer due on the way fires once,
   * late, at the end (an interval once, not once per period).
   */
  async sleep(ms: number): Promise<void> {
    this.#clock.jump(ms);
    await this.#clock.tickAsync(0);
  }

  /** Moves time to the next timer and fires it; resolves with the new time. */
  async next(): Promise<number> {
    return this.#clock.nextAsync();
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#clock.countTimers();
  }
}
