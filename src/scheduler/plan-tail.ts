/**
 * @module scheduler/plan-tail
 *
 * Tasks placed after a plan's rules are done with: each on the lane among its
 * nodes that frees first (a checkpoint switch counted when it needs one).
 *
 * - The far end of a plan. The rules (planner.ts) cost little per task on a
 *   long queue, but once the queue left to plan is shorter than the fleet,
 *   lanes wait for each other ("another node would finish it sooner") and
 *   every lane wakes at every other lane's event: over a thousand nodes that
 *   is millions of steps for the last thousand tasks. The plan's step budget
 *   stops that, and what is left is placed here.
 * - Arrivals after a plan was made (eta-plans.ts): a plan of a long queue is
 *   kept for a while rather than remade for every new task's ETA, and the
 *   newcomer is placed after what it planned.
 *
 * These are ETAs of the far queue, where a few seconds' error matters little;
 * what is sent now always comes from the rules.
 */
import TinyQueue from 'tinyqueue';
import type { PlanState } from './plan-state.js';
import type { PlanTask } from './plan-types.js';

interface Entry {
  freeAt: number;
  lane: number;
  /** The lane's stamp when pushed: entries of a lane that moved since are stale. */
  stamp: number;
}

const byFreeAt = (a: Entry, b: Entry) => a.freeAt - b.freeAt || a.lane - b.lane;

export class TailPlacer {
  readonly #freeAt: Float64Array;
  readonly #stamps: Uint32Array;
  /** One heap of lanes per `capable` list (tasks mostly share a handful), made when its first task comes. */
  readonly #heaps = new Map<readonly number[], TinyQueue<Entry>>();
  /** Per node: the lists whose heaps hold its lanes. */
  readonly #listsOfNode: (readonly number[])[][];

  /** Starts from the lanes' free times and loaded checkpoints as `state` left them. */
  constructor(private readonly state: PlanState) {
    this.#freeAt = Float64Array.from(state.lanes, (lane) => lane.freeAt);
    this.#stamps = new Uint32Array(state.lanes.length);
    this.#listsOfNode = state.nodes.map(() => []);
  }

  /** Places the plan's task `index`, which its rules left unplanned, and marks it planned. */
  placeTask(index: number): { startAt: number; node: number } | undefined {
    const placed = this.place(this.state.tasks[index]!);
    this.state.markPlanned(index);
    return placed;
  }

  /** Places `task` after everything placed before: its start (seconds from the plan's time) and node, or undefined if no lane can run it. */
  place(task: PlanTask): { startAt: number; node: number } | undefined {
    const heap = this.#heapOf(task.capable);
    while (heap.length > 0 && heap.peek()!.stamp !== this.#stamps[heap.peek()!.lane]) heap.pop();
    const first = heap.peek();
    if (!first) return undefined;
    const lane = this.state.lanes[first.lane]!;
    const startAt = this.#freeAt[first.lane]!;
    this.#freeAt[first.lane]! += this.state.secondsOf(task, lane.node);
    this.#stamps[first.lane]! += 1;
    if (task.checkpoint !== null) this.state.load(lane.node, task.checkpoint);
    const moved = { freeAt: this.#freeAt[first.lane]!, lane: first.lane, stamp: this.#stamps[first.lane]! };
    for (const capable of this.#listsOfNode[lane.node]!) this.#heaps.get(capable)!.push(moved);
    return { startAt, node: lane.node };
  }

  #heapOf(capable: readonly number[]): TinyQueue<Entry> {
    let heap = this.#heaps.get(capable);
    if (heap) return heap;
    const entries: Entry[] = [];
    for (const node of capable) {
      if (node >= this.state.nodes.length) continue;
      for (const lane of this.state.lanesOf(node)) entries.push({ freeAt: this.#freeAt[lane.order]!, lane: lane.order, stamp: this.#stamps[lane.order]! });
      this.#listsOfNode[node]!.push(capable);
    }
    this.#heaps.set(capable, (heap = new TinyQueue(entries, byFreeAt)));
    return heap;
  }
}
