/**
 * @module util/wake-watch
 *
 * Whether a periodic check ran late. A check that runs well after its time means this process itself
 * was not running (a laptop asleep, a paused VM, SIGSTOP, an event loop blocked): it could not read
 * anything meanwhile, and its peers' frames may sit unread in the socket's buffer. Silence over that
 * time says nothing of a peer, so a check that judges peers by silence counts it from when the process
 * woke (`tick`'s answer), giving them their full allowance again, rather than dropping every one of
 * them at the first check after waking.
 *
 * @example
 * const wake = new WakeWatch(intervalMs, Date.now());
 * setInterval(() => {
 *   const now = Date.now();
 *   const awakeSince = wake.tick(now);
 *   if (now - Math.max(lastHeardAt, awakeSince) > 3 * intervalMs) dropPeer();
 * }, intervalMs);
 */
export class WakeWatch {
  readonly #intervalMs: number;
  #lastTickAt: number | null = null;
  #awakeSince = -Infinity;

  /** `startedAt`: when the checks were set going, so that a stall before the first check counts too. */
  constructor(intervalMs: number, startedAt: number | null = null) {
    this.#intervalMs = intervalMs;
    this.#lastTickAt = startedAt;
  }

  /**
   * Called at each check with the time: since when the process has been running without a stall (a check
   * a whole interval late or more, against the one before). Long ago, until the first stall. A loop that is
   * merely slow (checks a little late, again and again) is no stall: it reads its sockets between checks, and
   * a dead peer's silence goes on counting.
   */
  tick(now: number): number {
    if (this.#lastTickAt !== null && now - this.#lastTickAt >= 2 * this.#intervalMs) this.#awakeSince = now;
    this.#lastTickAt = now;
    return this.#awakeSince;
  }

  /**
   * What `tick(now)` would answer, without counting `now` as a check: for an event handled right after a
   * wake, before the first check that would notice it (a peer's frame read from the buffer comes first).
   */
  awakeSinceAt(now: number): number {
    return this.#lastTickAt !== null && now - this.#lastTickAt >= 2 * this.#intervalMs ? now : this.#awakeSince;
  }
}
