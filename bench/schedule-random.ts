/**
 * @module bench/schedule-random
 *
 * A seeded PRNG for the schedule benchmark, so a seed names one trace exactly.
 * mulberry32: tiny, fast and good enough for drawing a workload (not for
 * cryptography). Each concern (nodes, tasks, arrivals, audit samples) gets its
 * own stream, so changing how many tasks are drawn does not reshuffle the nodes
 * and both arrival patterns carry the same tasks.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number;
  chance(probability: number): boolean;
  /** An index drawn with the given (unnormalised) weights. */
  weightedIndex(weights: readonly number[]): number;
  /** Exponentially distributed, with mean 1 / rate. */
  exponential(rate: number): number;
}

/** Stream offsets: one per concern (see the module comment). */
export const Streams = { nodes: 1, tasks: 2, arrivals: 3, audit: 4, jitter: 5 } as const;

export function createRandom(seed: number, stream = 0): Random {
  let state = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (probability) => next() < probability,
    weightedIndex: (weights) => {
      const total = weights.reduce((a, b) => a + b, 0);
      let draw = next() * total;
      for (let i = 0; i < weights.length; i++) {
        draw -= weights[i]!;
        if (draw < 0) return i;
      }
      return weights.length - 1;
    },
    // 1 − next() is in (0, 1]: never log(0).
    exponential: (rate) => -Math.log(1 - next()) / rate,
  };
}

/** Zipf(s) probabilities over ranks 1..n. */
export function zipfWeights(n: number, s: number): number[] {
  const raw = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => w / total);
}
