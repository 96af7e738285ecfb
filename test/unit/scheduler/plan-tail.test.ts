import { describe, expect, it } from 'vitest';
import { LaneQueue } from '../../../src/scheduler/lane-queue.js';
import { PlanState } from '../../../src/scheduler/plan-state.js';
import { TailPlacer } from '../../../src/scheduler/plan-tail.js';
import { planTasks } from '../../../src/scheduler/planner.js';
import type { PlanNode, PlanTask } from '../../../src/scheduler/plan-types.js';

function planNode(id: string, options: Partial<PlanNode> = {}): PlanNode {
  return { id, unitsPerSecond: 10, switchSeconds: 8, lanes: [0], loaded: null, available: true, ...options };
}

const t = (id: string, checkpoint: string | null, capable: readonly number[], units = 20): PlanTask => ({ id, units, checkpoint, capable, waitedSeconds: 0 });

/** Places what `state` left unplanned: task id → [node id, start]. */
function placeAll(state: PlanState): Map<string, [string, number]> {
  const placed = new Map<string, [string, number]>();
  const tail = new TailPlacer(state);
  for (let index = state.nextUnplanned(0); index < state.tasks.length; index = state.nextUnplanned(index + 1)) {
    const at = tail.placeTask(index);
    if (at) placed.set(state.tasks[index]!.id, [state.nodes[at.node]!.id, at.startAt]);
  }
  return placed;
}

describe('LaneQueue: lanes in the order they free', () => {
  it('hands out the earliest lane, the faster node first among equal times, then list order', () => {
    const nodes = [planNode('slow', { lanes: [2], unitsPerSecond: 5 }), planNode('fast', { lanes: [2, 1], unitsPerSecond: 20 }), planNode('off', { available: false }), planNode('same', { lanes: [2], unitsPerSecond: 20 })];
    const queue = new LaneQueue(nodes);
    expect(queue.lanes.map((l) => nodes[l.node]!.id)).toEqual(['slow', 'fast', 'fast', 'same']);
    const order: string[] = [];
    for (let lane = queue.earliest(); lane; lane = queue.earliest()) {
      order.push(`${nodes[lane.node]!.id}@${lane.freeAt}`);
      queue.retire(lane);
    }
    expect(order).toEqual(['fast@1', 'fast@2', 'same@2', 'slow@2']);
  });

  it('moves the earliest lane later, and tells the next other lane to free after it (ties skipped)', () => {
    const nodes = [planNode('a'), planNode('b'), planNode('c', { lanes: [5] })];
    const queue = new LaneQueue(nodes);
    const first = queue.earliest()!;
    expect(queue.nextAfter(first)).toBe(5);
    queue.delay(first, 7);
    expect(queue.earliest()!.node).toBe(1);
    expect(queue.nextAfter(queue.earliest()!)).toBe(5);
    expect(queue.freeAtOf(0)).toBe(7);
    expect(queue.freeAtOf(2)).toBe(5);
    expect(() => queue.delay(first, 9)).toThrow(/only the earliest lane/);
  });
});

describe('TailPlacer: the far queue, estimated', () => {
  it('puts each task in service order on the first lane to free among its nodes, a switch counted', () => {
    const nodes = [planNode('a', { loaded: 'X', lanes: [1] }), planNode('b', { loaded: 'Y', lanes: [0] }), planNode('c', { loaded: 'X', lanes: [4] })];
    const onlyA = [0];
    const any = [0, 1, 2];
    const tasks = [t('t1', 'X', any), t('t2', 'X', onlyA), t('t3', 'X', any), t('t4', 'X', any)];
    const state = new PlanState(tasks, nodes, { longPoleSeconds: 60 });
    // t1 on b (free at 0; switch 8 s + run 2 s), t2 on a (free at 1, run 2 s), t3 on a (free at 3), t4 on c (free at 4).
    expect([...placeAll(state)]).toEqual([['t1', ['b', 0]], ['t2', ['a', 1]], ['t3', ['a', 3]], ['t4', ['c', 4]]]);
    expect(state.unplanned).toBe(0);
    expect(state.loaded).toEqual(['X', 'X', 'X']);
  });

  it('leaves a task no available node can run unplanned', () => {
    const nodes = [planNode('a'), planNode('down', { available: false })];
    const state = new PlanState([t('t1', null, [1]), t('t2', null, [0])], nodes, { longPoleSeconds: 60 });
    expect([...placeAll(state)]).toEqual([['t2', ['a', 0]]]);
    expect(state.unplanned).toBe(0);
  });
});

describe('a whole plan appends tasks that arrived after it', () => {
  it('places a newcomer after everything it planned, on the first of its nodes to free', () => {
    const nodes = [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'Y', unitsPerSecond: 20 })];
    const plan = planTasks([t('x1', 'X', [0, 1]), t('y1', 'Y', [0, 1])], nodes);
    expect(Object.fromEntries(plan.nodeOf)).toEqual({ x1: 'a', y1: 'b' });
    // a frees at 2 s, b at 1 s: the newcomer (Y, 20 units) goes to b at 1 s, the next to a at 2 s with a switch.
    expect(plan.append?.(t('y2', 'Y', [0, 1]))).toBe(true);
    expect(plan.append?.(t('y3', 'Y', [0]))).toBe(true);
    expect([plan.nodeOf.get('y2'), plan.startAt.get('y2')]).toEqual(['b', 1]);
    expect([plan.nodeOf.get('y3'), plan.startAt.get('y3')]).toEqual(['a', 2]);
    expect(plan.append?.(t('z1', 'Z', []))).toBe(false);
    expect(planTasks([t('x1', 'X', [0])], nodes, {}, 0).append).toBeUndefined();
  });
});

describe('planTasks with ruledTasks', () => {
  it('places the first tasks by the rules and estimates the rest', () => {
    // a has X loaded. By the rules it keeps to X (affinity) and leaves y1 for later; estimated, y1 simply
    // goes to the first lane to free, with its switch.
    const nodes = [planNode('a', { loaded: 'X' })];
    const tasks = [t('x1', 'X', [0]), t('y1', 'Y', [0]), t('x2', 'X', [0]), t('x3', 'X', [0])];
    const ruled = planTasks(tasks, nodes);
    expect([...ruled.startAt]).toEqual([['x1', 0], ['x2', 2], ['x3', 4], ['y1', 6]]);
    const estimated = planTasks(tasks, nodes, { ruledTasks: 1 });
    expect([...estimated.startAt]).toEqual([['x1', 0], ['y1', 2], ['x2', 12], ['x3', 22]]);
  });
});

describe('planTasks: a large idle fleet with few tasks', () => {
  it('sends each task to the node that finishes it first, waiting for a busy one when that is sooner', () => {
    const nodes = [
      ...Array.from({ length: 100 }, (_, i) => planNode(`y${i}`, { loaded: 'Y' })),
      planNode('x', { loaded: 'X' }),
      planNode('z-busy', { loaded: 'Z', lanes: [1] }),
    ];
    const all = nodes.map((_, i) => i);
    const plan = planTasks([t('z1', 'Z', all), t('x1', 'X', all), t('y1', 'Y', all)], nodes, {}, 0);
    // z1: the busy node ends its run at 1 s and needs no load (done at 3 s); an idle one would load for 8 s.
    expect(plan.assignments).toEqual([{ taskId: 'x1', nodeId: 'x' }, { taskId: 'y1', nodeId: 'y0' }]);
    expect([plan.nodeOf.get('z1'), plan.startAt.get('z1')]).toEqual(['z-busy', 1]);
  });
});

describe('planTasks over a fleet larger than its queue', () => {
  // 400 nodes, 300 tasks: lanes wait for each other past the step budget, and the tail is estimated.
  const nodes = Array.from({ length: 400 }, (_, i) => planNode(`n${i}`, { loaded: `c${i % 4}`, unitsPerSecond: 5 + (i % 7), lanes: [(i % 13) * 0.5] }));
  const all = nodes.map((_, i) => i);
  const tasks = Array.from({ length: 300 }, (_, i) => t(`t${i}`, `c${i % 5}`, all, 10 + (i % 3) * 20));

  it('gives every task a start and sends now exactly what the exact rules send', () => {
    const whole = planTasks(tasks, nodes);
    expect(whole.startAt.size).toBe(300);
    expect(whole.assignments).toEqual(planTasks(tasks, nodes, {}, 0).assignments);
    expect(whole.assignments.length).toBeGreaterThan(0);
    // No lane runs two tasks at once: on each node, starts are at least one run apart.
    const byNode = new Map<string, number[]>();
    for (const [id, node] of whole.nodeOf) byNode.set(node, [...(byNode.get(node) ?? []), whole.startAt.get(id)!]);
    for (const starts of byNode.values()) {
      starts.sort((a, b) => a - b);
      for (let k = 1; k < starts.length; k++) expect(starts[k]! - starts[k - 1]!).toBeGreaterThanOrEqual(10 / 11 - 1e-9);
    }
  });
});
