/**
 * @module scheduler/plan-buffers
 *
 * The typed arrays a plan works in (plan-state.ts), kept from one plan to the
 * next. The scheduler makes a plan after every few results to send work, and
 * over a long queue each one's new arrays came to hundreds of KB; V8 saw them
 * outlive young-generation collections (a collection in the middle of a
 * plan), moved them to the old generation, and collected them there in
 * pauses of 10–30 ms. Arrays from here cost nothing once the pool has grown.
 *
 * Lane objects too (lane-queue.ts): over 5,000 nodes they were most of what
 * was left.
 *
 * A plan takes its arrays in the same order every time (`start`, then one
 * call per array); each comes zero-filled. Only a plan that is dropped before
 * the next one starts may use a pool: a kept plan (ETAs) has arrays of its own.
 */
import type { Lane } from './plan-types.js';

export class PlanBuffers {
  readonly #int32: Int32Array[] = [];
  readonly #uint8: Uint8Array[] = [];
  readonly #float64: Float64Array[] = [];
  readonly #lanes: Lane[] = [];
  readonly #lists: Lane[][] = [];
  #next = { int32: 0, uint8: 0, float64: 0, list: 0 };

  /** A new plan: every array is free again (the plan before must not be used any more). */
  start(): void {
    this.#next = { int32: 0, uint8: 0, float64: 0, list: 0 };
  }

  /** The plan's lane `order` (lane-queue.ts), set to free at `freeAt` on `node`. */
  lane(order: number, node: number, freeAt: number): Lane {
    const lane = (this.#lanes[order] ??= { node, freeAt, done: false, order });
    lane.node = node;
    lane.freeAt = freeAt;
    lane.done = false;
    return lane;
  }

  /** An empty list of lanes. */
  laneList(): Lane[] {
    const list = (this.#lists[this.#next.list++] ??= []);
    list.length = 0;
    return list;
  }

  int32(length: number): Int32Array {
    return take(this.#int32, this.#next.int32++, length, (size) => new Int32Array(size));
  }

  uint8(length: number): Uint8Array {
    return take(this.#uint8, this.#next.uint8++, length, (size) => new Uint8Array(size));
  }

  float64(length: number): Float64Array {
    return take(this.#float64, this.#next.float64++, length, (size) => new Float64Array(size));
  }
}

/** Arrays for a plan that is its own: new each time (the default). */
export const OWN_BUFFERS = {
  start(): void {},
  lane: (order: number, node: number, freeAt: number): Lane => ({ node, freeAt, done: false, order }),
  laneList: (): Lane[] => [],
  int32: (length: number) => new Int32Array(length),
  uint8: (length: number) => new Uint8Array(length),
  float64: (length: number) => new Float64Array(length),
} satisfies Pick<PlanBuffers, 'start' | 'lane' | 'laneList' | 'int32' | 'uint8' | 'float64'>;

export type PlanArrays = typeof OWN_BUFFERS | PlanBuffers;

function take<T extends Int32Array | Uint8Array | Float64Array>(pool: T[], slot: number, length: number, make: (size: number) => T): T {
  let buffer = pool[slot];
  // Grown by half again: a queue that grows by a task at a time must not make a new array per plan.
  if (!buffer || buffer.length < length) pool[slot] = buffer = make(Math.max(length, Math.ceil((buffer?.length ?? 0) * 1.5)));
  const view = buffer.subarray(0, length) as T;
  view.fill(0);
  return view;
}
