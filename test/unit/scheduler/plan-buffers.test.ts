import { describe, expect, it } from 'vitest';
import { createRandom, type Random } from '../../../bench/schedule-random.js';
import { PlanBuffers } from '../../../src/scheduler/plan-buffers.js';
import { planTasks } from '../../../src/scheduler/planner.js';
import type { PlanNode, PlanTask } from '../../../src/scheduler/plan-types.js';

describe('PlanBuffers', () => {
  it('hands out the same arrays, zero-filled, to each plan that takes them in the same order', () => {
    const buffers = new PlanBuffers();
    buffers.start();
    const first = buffers.int32(10);
    const second = buffers.int32(4);
    const bytes = buffers.uint8(3);
    first.fill(7);
    second.fill(9);
    bytes.fill(1);
    buffers.start();
    const again = buffers.int32(8);
    expect(again.buffer).toBe(first.buffer);
    expect([...again]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(buffers.int32(4).buffer).toBe(second.buffer);
    expect([...buffers.uint8(3)]).toEqual([0, 0, 0]);
  });

  it('grows an array a plan needs longer than the pool has', () => {
    const buffers = new PlanBuffers();
    buffers.start();
    const small = buffers.float64(4);
    buffers.start();
    const large = buffers.float64(100);
    expect(large.length).toBe(100);
    expect(large.buffer).not.toBe(small.buffer);
  });
});

/** A random world: nodes holding some of four checkpoints, tasks with waits and some promises. */
function world(random: Random): { tasks: PlanTask[]; nodes: PlanNode[] } {
  const checkpoints = ['A', 'B', 'C', 'D'];
  const nodes = Array.from({ length: random.int(2, 12) }, (_, i): PlanNode => ({
    id: `n${i}`,
    unitsPerSecond: 5 + 20 * random.next(),
    switchSeconds: 2 + 10 * random.next(),
    lanes: Array.from({ length: random.int(1, 2) }, () => (random.chance(0.5) ? 0 : 10 * random.next())),
    loaded: random.chance(0.8) ? checkpoints[random.int(0, 3)]! : null,
    available: random.chance(0.9),
  }));
  const tasks = Array.from({ length: random.int(1, 400) }, (_, i): PlanTask => {
    const checkpoint = checkpoints[random.int(0, 3)]!;
    const capable = nodes.map((_, n) => n).filter(() => random.chance(0.6));
    return { id: `t${i}`, units: 5 + random.int(0, 40), checkpoint, capable, waitedSeconds: 200 * random.next(), ...(random.chance(0.2) ? { promisedAt: 20 * random.next() - 5 } : {}) };
  });
  return { tasks, nodes };
}

describe('a plan in pooled arrays', () => {
  it('is the plan made in arrays of its own, plan after plan of different sizes', () => {
    const random = createRandom(7, 1);
    const buffers = new PlanBuffers();
    for (let round = 0; round < 40; round++) {
      const { tasks, nodes } = world(random);
      const until = round % 2 === 0 ? 0 : Infinity;
      const own = planTasks(tasks, nodes, {}, until);
      const pooled = planTasks(tasks, nodes, {}, until, buffers);
      expect(pooled.assignments).toEqual(own.assignments);
      expect([...pooled.startAt]).toEqual([...own.startAt]);
      expect([...pooled.nodeOf]).toEqual([...own.nodeOf]);
    }
  });
});
