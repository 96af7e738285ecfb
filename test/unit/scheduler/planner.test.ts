import { describe, expect, it } from 'vitest';
import { type PlanNode, planTasks } from '../../../src/scheduler/planner.js';

function planNode(id: string, options: Partial<PlanNode> = {}): PlanNode {
  return { id, unitsPerSecond: 10, switchSeconds: 8, lanes: [0], loaded: null, available: true, ...options };
}

const t = (id: string, checkpoint: string | null, capable: number[], units = 20, waitedSeconds = 0) => ({ id, units, checkpoint, capable, waitedSeconds });

describe('planTasks: earliest finish with checkpoint affinity', () => {
  it('prefers a free node that has the checkpoint loaded', () => {
    const plan = planTasks([t('t1', 'X', [0, 1])], [planNode('a', { loaded: 'Y' }), planNode('b', { loaded: 'X' })]);
    expect(plan.assignments).toEqual([{ taskId: 't1', nodeId: 'b' }]);
  });

  it('waits for a busy node with the checkpoint when that finishes sooner than a switch', () => {
    const nodes = [planNode('free', { loaded: 'Y' }), planNode('busy', { loaded: 'X', lanes: [3] })];
    const plan = planTasks([t('t1', 'X', [0, 1])], nodes);
    expect(plan.assignments).toEqual([]);
    expect(plan.startAt.get('t1')).toBe(3);
    expect(plan.nodeOf.get('t1')).toBe('busy');
  });

  it('switches a free node when the nodes with the checkpoint are backed up by more than a switch', () => {
    const nodes = [planNode('free', { loaded: 'Y' }), planNode('busy', { loaded: 'X', lanes: [30] })];
    expect(planTasks([t('t1', 'X', [0, 1])], nodes).assignments).toEqual([{ taskId: 't1', nodeId: 'free' }]);
  });

  it('serves the checkpoint with the most waiting work first when it must switch', () => {
    const tasks = [t('z1', 'Z', [0]), ...Array.from({ length: 8 }, (_, i) => t(`x${i}`, 'X', [0]))];
    expect(planTasks(tasks, [planNode('a', { loaded: 'Y' })]).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
  });

  it('lets affinity overtake the head only by tasks that arrived less than maxSkipSeconds after it', () => {
    const nodes = () => [planNode('a', { loaded: 'Y' })];
    const recent = [t('x-head', 'X', [0], 20, 30), ...Array.from({ length: 8 }, (_, i) => t(`x${i}`, 'X', [0], 20, 30)), t('y1', 'Y', [0], 20, 10)];
    expect(planTasks(recent, nodes()).assignments[0]?.taskId).toBe('y1');
    const stale = [t('x-head', 'X', [0], 20, 100), t('y1', 'Y', [0], 20, 10)];
    expect(planTasks(stale, nodes()).assignments[0]?.taskId).toBe('x-head');
  });

  it('keeps a node on its checkpoint while its own work lasts, instead of switching back and forth', () => {
    const nodes = [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'Y' })];
    const tasks = [t('x1', 'X', [0, 1]), t('y1', 'Y', [0, 1]), t('x2', 'X', [0, 1]), t('y2', 'Y', [0, 1])];
    const plan = planTasks(tasks, nodes);
    expect([...plan.nodeOf]).toEqual([['x1', 'a'], ['y1', 'b'], ['x2', 'a'], ['y2', 'b']]);
  });

  it('gives a big task to the node that finishes it first, fast beats free-and-slow', () => {
    const nodes = [planNode('slow', { unitsPerSecond: 5, loaded: 'X' }), planNode('fast', { unitsPerSecond: 20, loaded: 'X', lanes: [2] })];
    const plan = planTasks([t('big', 'X', [0, 1], 200)], nodes);
    expect(plan.nodeOf.get('big')).toBe('fast');
    expect(plan.assignments).toEqual([]);
  });

  it('plans only onto capable, available nodes, and one task per free lane', () => {
    const nodes = [planNode('a'), planNode('down', { available: false }), planNode('two', { lanes: [0, 0] })];
    const plan = planTasks([t('t1', null, [1]), t('t2', null, [2]), t('t3', null, [2]), t('t4', null, [2])], nodes);
    expect(plan.assignments).toEqual([
      { taskId: 't2', nodeId: 'two' },
      { taskId: 't3', nodeId: 'two' },
    ]);
    expect(plan.startAt.has('t1')).toBe(false);
    expect(plan.startAt.get('t4')).toBe(2);
  });
});
