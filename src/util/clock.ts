/**
 * @module util/clock
 *
 * Time as the gateway and the sandbox see it: the current time and timers,
 * through one injected port so that tests drive them (a fake clock moves time
 * forward at once, firing the timers due) instead of sleeping. The system
 * clock's timers are unref'd: none of them may hold a process open; the
 * servers and sockets do that.
 *
 * Durations measured for reports (`performance.now()` in the overhead meter)
 * are not the clock's business: they measure the process, not decide anything.
 *
 * @example
 * const timer = clock.setTimeout(() => retry(), 5 * SECOND);
 * timer.cancel();
 */

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

export interface Timer {
  /** Stops the timer; calling it again, or after the timer fired, does nothing. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, ms: number): Timer;
  setInterval(callback: () => void, ms: number): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  setInterval(callback, ms) {
    const handle = setInterval(callback, ms);
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
};
