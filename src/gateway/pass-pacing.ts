/**
 * @module gateway/pass-pacing
 *
 * When the next scheduling pass may run. Every turn of the event loop that
 * brought a result, a submit or a node change asks for one (dispatcher.ts
 * `#passSoon`). Over a thousand busy nodes that came to 300–450 passes a
 * second of about a millisecond each (bench:fleet, paced): a quarter of the
 * gateway's time, most of it what any pass costs there (every node's view is
 * read), not the work that changed. In a large fleet a pass now waits until
 * `GAP_FACTOR` times the typical pass has gone by since the last one ended:
 * passes take at most about a fifth of the event loop, each sends what several
 * results freed, and a node that holds a task ready (`dan node --prefetch`, on
 * by default) begins it meanwhile as before.
 *
 * A fleet of fewer than `PACED_FROM_NODES` nodes is never paced: its passes
 * cost microseconds, and its tasks may take a tenth of a second.
 */

/** How many times the typical pass's time goes by between two passes in a large fleet. */
const GAP_FACTOR = 4;
/** The fewest connected nodes at which passes are paced. */
export const PACED_FROM_NODES = 100;
/** The longest a pass waits for its turn, ms: a pass slowed by a pause must not hold up the next for long. */
const MAX_WAIT_MS = 20;
/** Each pass's share of the typical time (an average that forgets). */
const WEIGHT = 0.1;

export class PassPacing {
  /** The typical pass, ms. */
  #typicalMs = 0;
  /** When the last pass ended (`performance.now()`). */
  #endedAt = -Infinity;
  /** Nodes connected at the last pass. */
  #nodes = 0;
  /** A pass is running (`began`, not yet `ran`). */
  #running = false;

  /** A pass begins. */
  began(): void {
    this.#running = true;
  }

  /** A pass ran for `ms` and ended at `endedAt`, with `nodes` connected. */
  ran(ms: number, endedAt: number, nodes: number): void {
    this.#typicalMs = this.#typicalMs === 0 ? ms : this.#typicalMs + WEIGHT * (ms - this.#typicalMs);
    this.#endedAt = endedAt;
    this.#nodes = nodes;
    this.#running = false;
  }

  /**
   * How long (ms) a pass asked for at `now` waits for its turn: 0 for at once. Asked for while a pass runs
   * (what that pass did asks for the next), the whole gap from now: the running pass ends about now.
   */
  waitMs(now: number): number {
    if (this.#nodes < PACED_FROM_NODES) return 0;
    const from = this.#running ? now : this.#endedAt;
    return Math.min(MAX_WAIT_MS, Math.max(0, from + GAP_FACTOR * this.#typicalMs - now));
  }
}
