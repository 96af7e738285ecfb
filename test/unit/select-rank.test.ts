import { describe, expect, it } from 'vitest';
import { selectRank } from '../../src/util/select-rank.js';

/** A small deterministic generator: the same arrays on every run. */
function numbers(seed: number, length: number, spread: number): Float64Array {
  let state = seed;
  return Float64Array.from({ length }, () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return Math.floor((state / 2 ** 31) * spread) / 4;
  });
}

describe('selectRank', () => {
  it('finds each rank as a sort would, for random, sorted, reversed and repetitive values', () => {
    const cases = [numbers(1, 1000, 1e6), numbers(2, 257, 3), numbers(3, 2, 10), Float64Array.from({ length: 500 }, (_, i) => i), Float64Array.from({ length: 500 }, (_, i) => 500 - i), new Float64Array(64).fill(7)];
    for (const values of cases) {
      const sorted = values.slice().sort();
      for (const rank of [0, values.length >> 1, Math.floor(values.length * 0.95), values.length - 1]) {
        expect(selectRank(values.slice(), rank)).toBe(sorted[rank]);
      }
    }
  });

  it('takes several ranks in one pass of calls, lowest first, each from the one before', () => {
    const values = numbers(4, 10_000, 1e5);
    const sorted = values.slice().sort();
    const ranks = [4999, 9499, 9899, 9999];
    let from = 0;
    for (const rank of ranks) {
      expect(selectRank(values, rank, from)).toBe(sorted[rank]);
      from = rank;
    }
    // Everything before a selected rank is no larger than it, everything after no smaller.
    for (let i = 0; i < values.length; i++) expect(i < 4999 ? values[i]! <= sorted[4999]! : values[i]! >= sorted[4999]!).toBe(true);
  });
});
