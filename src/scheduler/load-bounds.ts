/**
 * @module scheduler/load-bounds
 *
 * Per checkpoint, the longest and shortest load of it on an available node (each node's own figure for it,
 * else its typical load: `PlanState.loadSeconds`), for rule 0c's gate (checkpoint-supply.ts). Worked out
 * per checkpoint when first asked. Every node's figure for every checkpoint was a fifth of a scheduling pass
 * over 1,000 nodes whose loads differ (bench:fleet), and it changes only when a load is learned or a node
 * comes or goes: the scheduler keeps one `LoadBounds` from pass to pass while its key holds (`KeptLoadBounds`).
 * Pure.
 */
import { type LoadBoundsReader, type LoadRange, loadSecondsOf, type PlanNode } from './plan-types.js';

export class LoadBounds implements LoadBoundsReader {
  readonly #nodes: readonly PlanNode[];
  readonly #byCheckpoint = new Map<string, LoadRange>();
  #all: LoadRange | undefined;

  constructor(nodes: readonly PlanNode[]) {
    this.#nodes = nodes;
  }

  /**
   * The longest and shortest of every load the available nodes may be asked (their own figures and their
   * typical loads): where these do not differ much, no checkpoint's do. Most fleets load every checkpoint at
   * about one price, and this says so without looking up each checkpoint on each node.
   */
  all(): LoadRange {
    if (this.#all !== undefined) return this.#all;
    let longest = 0;
    let shortest = Infinity;
    for (const node of this.#nodes) {
      if (!node.available) continue;
      longest = Math.max(longest, node.switchSeconds);
      shortest = Math.min(shortest, node.switchSeconds);
      if (node.loadSeconds === undefined) continue;
      for (const seconds of node.loadSeconds.values()) {
        longest = Math.max(longest, seconds);
        shortest = Math.min(shortest, seconds);
      }
    }
    return (this.#all = { longest, shortest });
  }

  /** The longest and shortest load of `checkpoint` on an available node (0 and Infinity without one). */
  of(checkpoint: string): LoadRange {
    const known = this.#byCheckpoint.get(checkpoint);
    if (known !== undefined) return known;
    let longest = 0;
    let shortest = Infinity;
    for (const node of this.#nodes) {
      if (!node.available) continue;
      const seconds = loadSecondsOf(node, checkpoint);
      longest = Math.max(longest, seconds);
      shortest = Math.min(shortest, seconds);
    }
    const range = { longest, shortest };
    this.#byCheckpoint.set(checkpoint, range);
    return range;
  }
}

/**
 * One `LoadBounds` kept while `key` is the same: the caller makes the key of whatever its nodes' loads and
 * availability are read from (the node list, availability changes, loads learned).
 */
export class KeptLoadBounds {
  #key: string | undefined;
  #bounds: LoadBounds | undefined;

  for(key: string, nodes: readonly PlanNode[]): LoadBounds {
    if (this.#bounds === undefined || key !== this.#key) {
      this.#key = key;
      this.#bounds = new LoadBounds(nodes);
    }
    return this.#bounds;
  }
}
