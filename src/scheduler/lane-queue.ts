/**
 * @module scheduler/lane-queue
 *
 * A plan's lanes (node slots) in the order they free: a binary heap by free
 * time, the faster node first among equal times, then the lane's place in the
 * list. The planner takes the earliest lane, moves it later or retires it, and
 * takes the next: a log-time step, where a walk over every lane made a plan
 * over a thousand nodes cost a thousand steps per planned task.
 */
import { OWN_BUFFERS, type PlanArrays } from './plan-buffers.js';
import type { Lane, PlanNode } from './plan-types.js';

export type { Lane } from './plan-types.js';

export class LaneQueue {
  readonly lanes: readonly Lane[];
  /**
   * Where each node's lanes start in `lanes` (they are listed node by node, one per slot); the next
   * node's start ends them. Offsets, not a list per node: a pass over a thousand nodes made a thousand.
   */
  readonly #firstOf: Int32Array;
  /** When each node's first lane frees (Infinity for a node with none): read for every node able to run a task, again and again. */
  readonly #firstFree: Float64Array;
  readonly #heap: Lane[];
  /** The earliest free time of a retired lane (they keep it: a node's finish times still count them). */
  #retiredFrom = Infinity;
  /** Bumped whenever a lane's free time changes: what is worked out from them may be kept until then. */
  #version = 0;

  /** `arrays`: where its lanes and lists come from (plan-buffers.ts). */
  constructor(
    private readonly nodes: readonly PlanNode[],
    arrays: PlanArrays = OWN_BUFFERS,
  ) {
    this.#firstOf = arrays.int32(nodes.length + 1);
    const lanes = arrays.laneList();
    for (let node = 0; node < nodes.length; node++) {
      this.#firstOf[node] = lanes.length;
      const n = nodes[node]!;
      if (!n.available) continue;
      if (n.lanes.length === 0) lanes.push(arrays.lane(lanes.length, node, 0));
      for (const freeAt of n.lanes) lanes.push(arrays.lane(lanes.length, node, freeAt));
    }
    this.#firstOf[nodes.length] = lanes.length;
    this.lanes = lanes;
    this.#firstFree = arrays.float64(nodes.length);
    for (let node = 0; node < nodes.length; node++) this.#firstFree[node] = this.#earliestOf(node);
    this.#heap = arrays.laneList();
    for (const lane of lanes) this.#heap.push(lane);
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  /** The lane that frees first (the faster node's among equals), or undefined when all are retired. */
  earliest(): Lane | undefined {
    return this.#heap[0];
  }

  /** The earliest lane takes no more work in this plan. */
  retire(lane: Lane): void {
    this.#expectEarliest(lane);
    lane.done = true;
    this.#retiredFrom = Math.min(this.#retiredFrom, lane.freeAt);
    const last = this.#heap.pop()!;
    if (this.#heap.length > 0 && last !== lane) {
      this.#heap[0] = last;
      this.#down(0);
    }
  }

  /** The earliest lane frees later now (`freeAt` only grows within a plan). */
  delay(lane: Lane, freeAt: number): void {
    this.#expectEarliest(lane);
    lane.freeAt = freeAt;
    this.#firstFree[lane.node] = this.#earliestOf(lane.node);
    this.#version += 1;
    this.#down(0);
  }

  /** No lane, retired or not, frees before this: the earliest lane's time, or a retired lane's if earlier. */
  freesNoEarlierThan(): number {
    return Math.min(this.#heap[0]?.freeAt ?? Infinity, this.#retiredFrom);
  }

  /** When `node`'s first lane frees (Infinity for a node with no lane: not available). */
  freeAtOf(node: number): number {
    return this.#firstFree[node]!;
  }

  #earliestOf(node: number): number {
    let freeAt = Infinity;
    for (let i = this.#firstOf[node]!; i < this.#firstOf[node + 1]!; i++) if (this.lanes[i]!.freeAt < freeAt) freeAt = this.lanes[i]!.freeAt;
    return freeAt;
  }

  /** `node`'s lanes. */
  lanesOf(node: number): readonly Lane[] {
    return this.lanes.slice(this.#firstOf[node], this.#firstOf[node + 1]);
  }

  /** How many lanes `node` has (0: not available), without the list `lanesOf` makes. */
  laneCount(node: number): number {
    return this.#firstOf[node + 1]! - this.#firstOf[node]!;
  }

  /** Seconds of work `node`'s lanes (retired ones too) hold past `at`, summed. */
  busyPast(node: number, at: number): number {
    let busy = 0;
    for (let i = this.#firstOf[node]!; i < this.#firstOf[node + 1]!; i++) busy += Math.max(0, this.lanes[i]!.freeAt - at);
    return busy;
  }

  /** Changes whenever a lane's free time does. */
  get version(): number {
    return this.#version;
  }

  /**
   * The next time another lane frees, after `lane`'s (the earliest). A walk of the heap that descends
   * only through lanes freeing no later than it: the lanes tied with it, no more.
   */
  nextAfter(lane: Lane): number | undefined {
    return this.#nextAfter(lane.freeAt, 0);
  }

  /** The earliest free time after `freeAt` in the subtree of the heap at `at`. */
  #nextAfter(freeAt: number, at: number): number | undefined {
    const other = this.#heap[at];
    if (!other) return undefined;
    if (other.freeAt > freeAt) return other.freeAt;
    const left = this.#nextAfter(freeAt, 2 * at + 1);
    const right = this.#nextAfter(freeAt, 2 * at + 2);
    return left === undefined ? right : right === undefined ? left : Math.min(left, right);
  }

  #expectEarliest(lane: Lane): void {
    if (this.#heap[0] !== lane) throw new Error('LaneQueue: only the earliest lane moves');
  }

  #before(a: Lane, b: Lane): boolean {
    if (a.freeAt !== b.freeAt) return a.freeAt < b.freeAt;
    const speedA = this.nodes[a.node]!.unitsPerSecond;
    const speedB = this.nodes[b.node]!.unitsPerSecond;
    if (speedA !== speedB) return speedA > speedB;
    return a.order < b.order;
  }

  #down(at: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let first = at;
      if (left < heap.length && this.#before(heap[left]!, heap[first]!)) first = left;
      if (right < heap.length && this.#before(heap[right]!, heap[first]!)) first = right;
      if (first === at) return;
      [heap[at], heap[first]] = [heap[first]!, heap[at]!];
      at = first;
    }
  }
}
