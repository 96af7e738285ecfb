/**
 * @module scheduler/arrival-log
 *
 * The work that arrived lately: units of each task as it was queued, by time, so that a plan can tell a
 * queue that drains (the end of a burst) from one that refills as fast as it is served (steady arrivals).
 * A lane many times slower than the rest holds back from the end of the first (plan-state.ts
 * `#othersClearFirst`), not from the second: there its GPU is capacity the others need. Pure: times are
 * given.
 */

/** How far back arrivals are kept: a plan asks about the time one task takes on its slowest lane. */
const KEEP_MS = 10 * 60_000;

export class ArrivalLog {
  /** Arrival times (epoch ms, never decreasing) and the units arrived up to each, from `#first` on. */
  #at: number[] = [];
  #upTo: number[] = [];
  #first = 0;
  #total = 0;
  /** Units that arrived up to the last entry forgotten. */
  #forgotten = 0;

  /** `units` arrived at `at` (an arrival earlier than the last one counts as at the last one). */
  add(at: number, units: number): void {
    const last = this.#at.length > this.#first ? this.#at[this.#at.length - 1]! : -Infinity;
    const time = Math.max(at, last);
    this.#total += units;
    this.#at.push(time);
    this.#upTo.push(this.#total);
    while (this.#first < this.#at.length && this.#at[this.#first]! < time - KEEP_MS) this.#forgotten = this.#upTo[this.#first++]!;
    // Dropped entries are cut off now and then, not at every arrival.
    if (this.#first > 1024 && this.#first * 2 > this.#at.length) {
      this.#at = this.#at.slice(this.#first);
      this.#upTo = this.#upTo.slice(this.#first);
      this.#first = 0;
    }
  }

  /** Units that arrived in the `seconds` before `now` (epoch ms). */
  unitsWithin(now: number, seconds: number): number {
    const from = now - seconds * 1000;
    let low = this.#first;
    let high = this.#at.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#at[middle]! < from) low = middle + 1;
      else high = middle;
    }
    if (low >= this.#at.length) return 0;
    return this.#total - (low > this.#first ? this.#upTo[low - 1]! : this.#forgotten);
  }
}
