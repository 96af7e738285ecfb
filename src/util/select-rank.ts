/**
 * @module util/select-rank
 *
 * The value of a given rank in an array of numbers, without sorting it: Hoare's
 * quickselect, in place. A percentile summary of thousands of samples asked on
 * every health request sorted a copy of them (about 1 ms per 10,000) on the
 * gateway's event loop; selecting a few ranks is linear.
 */

/**
 * Rearranges `values[from..]` so that `values[rank]` holds the value of that rank in ascending order, every
 * value before it is no larger and every value after it no smaller; returns it. Values before `from` must
 * be no larger than those from `from` on (true after an earlier call for a lower rank, which is how
 * several ranks are taken in one pass of calls, lowest first). No NaN.
 */
export function selectRank(values: Float64Array, rank: number, from = 0): number {
  let low = from;
  let high = values.length - 1;
  while (high > low) {
    // Median of three as the pivot: samples often arrive already sorted, the worst case of a fixed pivot.
    const middle = (low + high) >>> 1;
    const pivot = medianOfThree(values[low]!, values[middle]!, values[high]!);
    let i = low;
    let j = high;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i] = values[j]!;
        values[j] = swap;
        i++;
        j--;
      }
    }
    if (rank <= j) high = j;
    else if (rank >= i) low = i;
    else break;
  }
  return values[rank]!;
}

function medianOfThree(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
}
