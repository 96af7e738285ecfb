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
import { selectRank } from '../util/select-rank.js';

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
  /** `summary`'s working copy, kept between calls. */
  #scratch: Float64Array | undefined;
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

  /** Percentiles of the samples kept. Selected, not sorted: `/api/health` asks on every call. */
  summary(): OverheadSummary | null {
    const count = this.#count;
    if (count === 0) return null;
    const work = (this.#scratch ??= new Float64Array(this.#values.length)).subarray(0, count);
    work.set(this.#values.subarray(0, count));
    const rankOf = (p: number) => Math.max(0, Math.ceil(p * count) - 1);
    // Lowest rank first: each selection leaves what follows it no smaller, so the next searches from there.
    const [r50, r95, r99] = [rankOf(0.5), rankOf(0.95), rankOf(0.99)];
    const p50 = selectRank(work, r50);
    const p95 = selectRank(work, r95, r50);
    const p99 = selectRank(work, r99, r95);
    const max = selectRank(work, count - 1, r99);
    return { samples: count, p50: round(p50), p95: round(p95), p99: round(p99), max: round(max) };
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
