/**
 * @module auth/request-rate
 *
 * Requests per minute, counted per caller in a fixed window that starts at the
 * caller's first request: the count a caller may make, what is left, when the
 * window starts again. Each gateway counts its own requests (several gateways
 * behind one address each allow the full rate).
 *
 * Written here rather than taken from @fastify/rate-limit: counting is a map
 * lookup and an addition, and the plugin's own hook, key generator, store and
 * header builder made a status request with a key 15 % slower (BENCHMARKS.md,
 * requests per second).
 */

/** One caller's window: when it started and how many requests it has seen. */
interface Window {
  startedAt: number;
  count: number;
}

/** What a request was told: allowed or not, what is left, milliseconds until the window starts again. */
export interface RateVerdict {
  allowed: boolean;
  remaining: number;
  resetMs: number;
}

export class RequestRate {
  readonly #windows = new Map<string, Window>();
  #sweptAt: number;

  /**
   * `maxCallers`: callers counted at once, at most. Past it, ended windows are dropped at once, then the
   * oldest windows (a caller forgotten starts a new window: the cap bounds memory, not a caller's rate,
   * and 100,000 callers in one minute is a flood to meet at the proxy).
   */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = 60_000,
    private readonly maxCallers = 100_000,
  ) {
    this.#sweptAt = now();
  }

  /** Counts one request of `owner`, who may make `limit` a window (limit > 0). */
  take(owner: string, limit: number): RateVerdict {
    const now = this.now();
    this.#sweep(now, this.#windows.size >= this.maxCallers);
    let window = this.#windows.get(owner);
    if (!window || now - window.startedAt >= this.windowMs) {
      window = { startedAt: now, count: 0 };
      // Deleted first, so that the Map's order stays the windows' age (the oldest are evicted first).
      this.#windows.delete(owner);
      this.#windows.set(owner, window);
    }
    const resetMs = window.startedAt + this.windowMs - now;
    if (window.count >= limit) return { allowed: false, remaining: 0, resetMs };
    window.count++;
    return { allowed: true, remaining: limit - window.count, resetMs };
  }

  /** Callers counted now (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }

  /**
   * Once a window (or when full), forgets the callers whose window has ended: memory follows the callers
   * of the last minute or two, not every address ever seen, at a cost spread over the minute's requests.
   */
  #sweep(now: number, full: boolean): void {
    if (!full && now - this.#sweptAt < this.windowMs) return;
    this.#sweptAt = now;
    for (const [owner, window] of this.#windows) {
      if (now - window.startedAt >= this.windowMs) this.#windows.delete(owner);
    }
    // Still full: the oldest windows go (a Map keeps insertion order, and a new window is inserted anew).
    if (this.#windows.size < this.maxCallers) return;
    let excess = this.#windows.size - Math.floor(this.maxCallers * 0.9);
    for (const owner of this.#windows.keys()) {
      if (excess-- <= 0) break;
      this.#windows.delete(owner);
    }
  }
}
