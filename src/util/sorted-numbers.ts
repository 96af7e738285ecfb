/**
 * @module util/sorted-numbers
 *
 * Lookups in arrays of numbers kept in ascending order.
 */

/** The position of the first value ≥ `value` in the ascending `list` (its length when there is none). */
export function firstAtLeast(list: readonly number[], value: number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (list[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
