/**
 * @module scheduler/node-bits
 *
 * Sets of node indices as bits, 32 per word, for the plan's per-task and
 * per-class node sets (plan-state.ts, long-poles.ts): a plan is rebuilt on
 * every scheduling pass, and a `Set` per task was its largest allocation.
 */

/** Words needed for a set over `nodeCount` nodes. */
export const wordsFor = (nodeCount: number): number => Math.ceil(nodeCount / 32);

/** Adds `node` to the set held in `bits` from word `offset` on. */
export function addNode(bits: Uint32Array, offset: number, node: number): void {
  bits[offset + (node >>> 5)]! |= 1 << (node & 31);
}

/** Whether the set held in `bits` from word `offset` on has `node`. */
export function hasNode(bits: Uint32Array, offset: number, node: number): boolean {
  return ((bits[offset + (node >>> 5)]! >>> (node & 31)) & 1) === 1;
}

export function sameNodes(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
  return true;
}

export function isSubset(inner: Uint32Array, outer: Uint32Array): boolean {
  for (let w = 0; w < inner.length; w++) if ((inner[w]! & ~outer[w]!) !== 0) return false;
  return true;
}

/**
 * How many nodes the set holds, and the sum of `values` over them. No callback: a closure that adds
 * to a captured number boxes each sum, and this runs per node set on every plan.
 */
export function countAndSum(bits: Uint32Array, values: Float64Array): { count: number; sum: number } {
  let count = 0;
  let sum = 0;
  for (let w = 0; w < bits.length; w++) {
    for (let rest = bits[w]!; rest !== 0; rest &= rest - 1) {
      sum += values[w * 32 + (31 - Math.clz32(rest & -rest))]!;
      count += 1;
    }
  }
  return { count, sum };
}
