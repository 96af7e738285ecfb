/**
 * @module domain/speed-estimates
 *
 * What the gateway has learned about each node's GPU, by node name (so it
 * survives reconnects): its speed in work units per second (it/s at 512²,
 * see cost.ts) and what a checkpoint switch costs it. Both are exponentially
 * weighted averages of what the node's results report (backend time per task);
 * the first observation replaces the default outright. A node not measured yet
 * is assumed to be like the average measured node (or the defaults when none
 * is): guessing it much slower or faster than its peers would skew the plan
 * until its first result. Pure.
 */

export interface NodeEstimate {
  unitsPerSecond: number;
  switchSeconds: number;
  /** Observations so far (0: the defaults are guesses). */
  samples: number;
}

export interface Observation {
  units: number;
  elapsedSeconds: number;
  /** The task made the node load another checkpoint first. */
  switched: boolean;
}

const WEIGHT = 0.3;

export class NodeEstimates {
  readonly #byName = new Map<string, NodeEstimate>();
  readonly #defaults: NodeEstimate;
  /**
   * The measured nodes' average, kept until an estimate changes: a scheduling pass asks
   * it of every node not measured yet, and averaging over every measured node each time
   * was quadratic in a large fleet.
   */
  #average: NodeEstimate | null = null;

  constructor(defaults: { unitsPerSecond?: number; switchSeconds?: number } = {}) {
    this.#defaults = { unitsPerSecond: defaults.unitsPerSecond ?? 10, switchSeconds: defaults.switchSeconds ?? 6, samples: 0 };
  }

  get(name: string): NodeEstimate {
    return this.#byName.get(name) ?? (this.#average ??= this.#peerAverage());
  }

  #peerAverage(): NodeEstimate {
    const known = [...this.#byName.values()].filter((e) => e.samples > 0);
    if (known.length === 0) return this.#defaults;
    const mean = (f: (e: NodeEstimate) => number) => known.reduce((sum, e) => sum + f(e), 0) / known.length;
    return { unitsPerSecond: mean((e) => e.unitsPerSecond), switchSeconds: mean((e) => e.switchSeconds), samples: 0 };
  }

  /**
   * Takes a node's own report of its speed as if it were one observation, unless
   * results have already taught us better (nodes measure themselves, see node/agent.ts).
   */
  seed(name: string, reported: { unitsPerSecond: number; switchSeconds: number }): void {
    if ((this.#byName.get(name)?.samples ?? 0) > 0) return;
    this.#byName.set(name, { ...reported, samples: 1 });
    this.#average = null;
  }

  record(name: string, observation: Observation): void {
    const current = this.get(name);
    const next = { ...current, samples: current.samples + 1 };
    const { units, elapsedSeconds, switched } = observation;
    if (elapsedSeconds <= 0 || units <= 0) return;
    if (!switched) {
      const observed = units / elapsedSeconds;
      next.unitsPerSecond = current.samples === 0 ? observed : blend(current.unitsPerSecond, observed);
    } else if (current.samples > 0) {
      // Only with a measured speed can the switch be told apart from the work.
      const observed = Math.max(0, elapsedSeconds - units / current.unitsPerSecond);
      next.switchSeconds = blend(current.switchSeconds, observed);
    } else {
      return;
    }
    this.#byName.set(name, next);
    this.#average = null;
  }
}

function blend(old: number, observed: number): number {
  return old + WEIGHT * (observed - old);
}
