/**
 * @module gateway/overhead-meter
 *
 * The gateway's own time per task, over its latest tasks, for operators
 * (`GET /api/health` → `overheadMs`) and for `npm run bench`:
 *
 * - dispatch: a request's arrival → its task's assignment handed to the node's
 *   socket, for tasks sent at once (a task that waits in the queue is waiting
 *   for a GPU, not for the gateway);
 * - relay: a result frame's arrival → the sync answer carrying it handed to
 *   the client's socket.
 *
 * Times come from `performance.now()` inside the gateway, so unlike spans
 * timed from a client they hold no network hops and no other process's delays.
 */

/** Percentiles of the latest samples, in milliseconds. */
export interface OverheadSummary {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** A fixed-size ring of the latest samples. */
export class SampleRing {
  readonly #values: Float64Array;
  #next = 0;
  #count = 0;

  constructor(size: number) {
    this.#values = new Float64Array(size);
  }

  add(value: number): void {
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#values.length;
    this.#count = Math.min(this.#count + 1, this.#values.length);
  }

  summary(): OverheadSummary | null {
    if (this.#count === 0) return null;
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (p: number) => round(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!);
    return { samples: this.#count, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(sorted[sorted.length - 1]!) };
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export class OverheadMeter {
  readonly #dispatch: SampleRing;
  readonly #relay: SampleRing;

  /** Keeps the latest `window` samples of each kind. @defaultValue 10 000 */
  constructor(window = 10_000) {
    this.#dispatch = new SampleRing(window);
    this.#relay = new SampleRing(window);
  }

  dispatched(ms: number): void {
    this.#dispatch.add(ms);
  }

  relayed(ms: number): void {
    this.#relay.add(ms);
  }

  summary(): { dispatch: OverheadSummary | null; relay: OverheadSummary | null } {
    return { dispatch: this.#dispatch.summary(), relay: this.#relay.summary() };
  }
}
