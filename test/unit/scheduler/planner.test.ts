import { describe, expect, it } from 'vitest';
import { planTasks } from '../../../src/scheduler/planner.js';
import { PlanState } from '../../../src/scheduler/plan-state.js';
import type { PlanNode } from '../../../src/scheduler/plan-types.js';

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

  it('sends a lone long task to the idle node that finishes it first, though nodes that have its checkpoint loaded would cover it', () => {
    // B is loaded on two slower nodes (12 and 6 units/s), idle; the fast node (20) has Y loaded and a measured 8 s load.
    // A task of 275 units ends at 22 s on the fast node (load included), at 23 s on the faster loaded one. Each left it
    // to the other: the loaded node because the fast one finishes sooner, the fast one because B's work is covered.
    const nodes = [planNode('fast', { loaded: 'Y', unitsPerSecond: 20, switchMeasured: true }), planNode('mid', { loaded: 'B', unitsPerSecond: 12 }), planNode('slow', { loaded: 'B', unitsPerSecond: 6 })];
    expect(planTasks([t('long', 'B', [0, 1, 2], 275, 40)], nodes, {}, 0).assignments).toEqual([{ taskId: 'long', nodeId: 'fast' }]);
    // A shorter one the loaded node finishes first (10 s against 15.5 s): it runs there, no load.
    expect(planTasks([t('short', 'B', [0, 1, 2], 120, 40)], nodes, {}, 0).assignments).toEqual([{ taskId: 'short', nodeId: 'mid' }]);
  });

  it('waits for a node that finishes sooner only when the whole queue is short, not just the tasks it was handed', () => {
    const nodes = () => [planNode('free', { loaded: 'Y' }), planNode('busy', { loaded: 'X', lanes: [3] })];
    // The front of a long queue of X: the rest (beyondTasks) will keep every lane busy, so a lane that waited would idle.
    const beyondUnits = new Map([['X', 1000]]);
    const front = planTasks([t('t1', 'X', [0, 1])], nodes(), { beyondUnits, beyondTasks: 50 });
    expect(front.assignments).toEqual([{ taskId: 't1', nodeId: 'free' }]);
    expect(planTasks([t('t1', 'X', [0, 1])], nodes(), { beyondUnits, beyondTasks: 0 }).assignments).toEqual([]);
  });

  it('leaves the end of a queue longer than the lanes to the faster nodes when they would clear it all before a slow one finished one task', () => {
    // Four nodes of 20 units/s and one of 1.5, all with X loaded; tasks of 28 units (1.4 s on a fast node, 18.7 s on the slow one).
    // The slow node is free now, the fast ones in half a second: its lane picks first, with eight tasks queued for five lanes.
    const nodes = () => [planNode('slow', { loaded: 'X', unitsPerSecond: 1.5 }), ...['f1', 'f2', 'f3', 'f4'].map((id) => planNode(id, { loaded: 'X', unitsPerSecond: 20, lanes: [0.5] }))];
    const xs = (n: number) => Array.from({ length: n }, (_, i) => t(`x${i}`, 'X', [0, 1, 2, 3, 4], 28));
    // Eight tasks: the fast four clear them in under 5 s.
    const end = planTasks(xs(8), nodes());
    expect(end.assignments).toEqual([]);
    expect([...end.nodeOf.values()]).not.toContain('slow');
    // Sixty: 21 s of the fast nodes' work, more than one of the slow node's tasks: it takes one.
    expect(planTasks(xs(60), nodes()).assignments.map((a) => a.nodeId)).toContain('slow');
    // A node of the fleet's speed always takes its share.
    const even = () => [planNode('f0', { loaded: 'X', unitsPerSecond: 20 }), ...['f1', 'f2', 'f3', 'f4'].map((id) => planNode(id, { loaded: 'X', unitsPerSecond: 20, lanes: [0.5] }))];
    expect(planTasks(xs(8), even()).assignments).toEqual([{ taskId: 'x0', nodeId: 'f0' }]);
  });

  it('counts each node\'s fixed cost per task in how soon the others would clear the queue', () => {
    // Four nodes whose runs take 1.4 s whatever the work (a fit of 10^6 units/s and 1.4 s fixed), and one of
    // 1.5 units/s: tasks of 28 units take it 18.7 s. Summed in units per second, the four looked able to
    // clear any queue at once, and the slow node left even a long one to them.
    const nodes = () => [planNode('slow', { loaded: 'X', unitsPerSecond: 1.5 }), ...['f1', 'f2', 'f3', 'f4'].map((id) => planNode(id, { loaded: 'X', unitsPerSecond: 1e6, fixedSeconds: 1.4, lanes: [0.5] }))];
    const xs = (n: number) => Array.from({ length: n }, (_, i) => t(`x${i}`, 'X', [0, 1, 2, 3, 4], 28));
    // Sixty tasks: 21 s of the four's runs, more than one of the slow node's: it takes one.
    expect(planTasks(xs(60), nodes()).assignments.map((a) => a.nodeId)).toContain('slow');
    // Eight: the four clear them in under 4 s, and it leaves them.
    const end = planTasks(xs(8), nodes());
    expect(end.assignments).toEqual([]);
    expect([...end.nodeOf.values()]).not.toContain('slow');
  });

  it('counts the work other lanes took since it last asked whether they would clear the queue first', () => {
    // a and b (5 units/s) free now, four nodes of 20 units/s in half a second; one task of 100 units, seven of 28.
    const nodes = [planNode('a', { loaded: 'X', unitsPerSecond: 5 }), planNode('b', { loaded: 'X', unitsPerSecond: 5 }), ...['f1', 'f2', 'f3', 'f4'].map((id) => planNode(id, { loaded: 'X', unitsPerSecond: 20, lanes: [0.5] }))];
    // One list for all, as the scheduler gives equal lists (what a plan keeps per list is then shared).
    const all = [0, 1, 2, 3, 4, 5];
    const tasks = [t('big', 'X', all, 100), ...Array.from({ length: 7 }, (_, i) => t(`x${i}`, 'X', all, 28))];
    const state = new PlanState(tasks, nodes, { longPoleSeconds: 60 });
    const a = state.earliestLane()!;
    expect(state.nodes[a.node]!.id).toBe('a');
    // a (20 s for the big task) leaves it: the others clear all 296 units in about 9 s.
    expect(state.othersClearFirst(0, a)).toBe(true);
    state.occupy(a, 0);
    const b = state.earliestLane()!;
    expect(state.nodes[b.node]!.id).toBe('b');
    // b would run x0 in 5.6 s; the others hold a's 20 s and the fast nodes' half seconds first (22 s over 5
    // lanes), then 196 units: 8.1 s. b takes it. (Counting the lanes' work as it was before a took the big
    // task, 4.1 s: b would leave it.)
    expect(state.othersClearFirst(1, b)).toBe(false);
  });

  it('keeps a promise on a far slower lane only while the faster nodes would not clear the queue first', () => {
    // The slow node (1.5 units/s) is free now, four of 20 units/s in half a second; every task's promised start has come.
    // A live trial: kept by the slow node, a promise due at the end of a burst made the task end 9 s after all the others.
    const nodes = () => [planNode('slow', { loaded: 'X', unitsPerSecond: 1.5 }), ...['f1', 'f2', 'f3', 'f4'].map((id) => planNode(id, { loaded: 'X', unitsPerSecond: 20, lanes: [0.5] }))];
    const due = (n: number) => Array.from({ length: n }, (_, i) => ({ ...t(`x${i}`, 'X', [0, 1, 2, 3, 4], 28), promisedAt: -1 }));
    const end = planTasks(due(8), nodes());
    expect(end.assignments).toEqual([]);
    // Nor later, when fewer tasks are left than lanes: it is 13 times slower than the others.
    expect([...end.nodeOf.values()]).not.toContain('slow');
    // A long queue: the slow node's share is capacity, and it keeps the promise.
    expect(planTasks(due(60), nodes()).assignments).toEqual([{ taskId: 'x0', nodeId: 'slow' }]);
    // A queue shorter than the lanes: the 13 times slower node leaves it too; one 3 times slower keeps it
    // (leaving promises on lanes two or three times slower lengthened the simulated tail).
    expect(planTasks(due(4), nodes()).assignments).toEqual([]);
    const third = [planNode('mid', { loaded: 'X', unitsPerSecond: 20 / 3 }), ...['f1', 'f2', 'f3', 'f4'].map((id) => planNode(id, { loaded: 'X', unitsPerSecond: 20, lanes: [0.5] }))];
    expect(planTasks(due(4), third).assignments).toEqual([{ taskId: 'x0', nodeId: 'mid' }]);
  });

  it('moves a node whose loads are cheap early to a checkpoint its loaded nodes fall short of, when a node with costly loads would otherwise have to', () => {
    // f1 and f3 have C2 loaded, hdd C1. C0 (half the work) is loaded nowhere; f1 and hdd can run it. f3 alone
    // gets through C2 within the time the fleet needs for the queue: f1 is spare there, and C0 wants far more
    // than a node's whole time. By affinity f1 would serve C2 and leave C0 until C2 ran dry; then hdd, whose
    // loads take 30 s, would have had to load it too.
    const nodes = (hddLoad: number) => [
      planNode('f1', { loaded: 'C2', unitsPerSecond: 20, switchSeconds: 2 }),
      planNode('f3', { loaded: 'C2', unitsPerSecond: 20, switchSeconds: 2 }),
      planNode('hdd', { loaded: 'C1', unitsPerSecond: 20, switchSeconds: hddLoad }),
    ];
    const tasks = [
      ...Array.from({ length: 20 }, (_, i) => t(`c2-${i}`, 'C2', [0, 1], 28)),
      ...Array.from({ length: 40 }, (_, i) => t(`c0-${i}`, 'C0', [0, 2], 28)),
      ...Array.from({ length: 20 }, (_, i) => t(`c1-${i}`, 'C1', [1, 2], 28)),
    ];
    // Thresholds as the scheduler scales them to a fleet whose typical load takes 2 s.
    const scaled = { timeScale: 0.25 };
    const plan = planTasks(tasks, nodes(30), scaled);
    const sent = new Map(plan.assignments.map((a) => [a.nodeId, a.taskId]));
    expect(sent.get('f1')).toBe('c0-0');
    expect(sent.get('f3')).toBe('c2-0');
    expect(sent.get('hdd')).toBe('c1-0');
    // Loads that cost alike: who switches, and when, changes little; affinity decides as before.
    expect(new Map(planTasks(tasks, nodes(2), scaled).assignments.map((a) => [a.nodeId, a.taskId])).get('f1')).toBe('c2-0');
    // The costly load a figure of hdd's own for C0, its typical load as cheap as the others': the same.
    const ownFigure = nodes(2).map((node) => (node.id === 'hdd' ? { ...node, loadSeconds: new Map([['C0', 30]]) } : node));
    expect(new Map(planTasks(tasks, ownFigure, scaled).assignments.map((a) => [a.nodeId, a.taskId])).get('f1')).toBe('c0-0');
    // Off with shortfallLoads 0.
    expect(new Map(planTasks(tasks, nodes(30), { ...scaled, shortfallLoads: 0 }).assignments.map((a) => [a.nodeId, a.taskId])).get('f1')).toBe('c2-0');
    // C2 work f3 cannot run is not covered by f3 having C2 loaded: f1 keeps it (else hdd would have to load C2).
    const c2OnF1AndHdd = tasks.map((task) => (task.checkpoint === 'C2' ? { ...task, capable: [0, 2] } : task.checkpoint === 'C0' ? { ...task, capable: [0, 1, 2] } : task));
    expect(new Map(planTasks(c2OnF1AndHdd, nodes(30), scaled).assignments.map((a) => [a.nodeId, a.taskId])).get('f1')).toBe('c2-0');
    // Checkpoints of different sizes on nodes alike (C0 loads in 2 s everywhere, the rest in 8 s): no node loads
    // any checkpoint costlier than another does, and affinity decides.
    const alike = () => ['f1', 'f3', 'hdd'].map((id, i) => planNode(id, { loaded: i < 2 ? 'C2' : 'C1', unitsPerSecond: 20, switchSeconds: 8, loadSeconds: new Map([['C0', 2]]) }));
    expect(planTasks(tasks, alike(), scaled).assignments).toEqual(planTasks(tasks, alike(), { ...scaled, shortfallLoads: 0 }).assignments);
  });

  it('gives an estimated start, no promise, to a task its lanes each left to the other', () => {
    // a has X loaded and frees in 0.1 s, then runs the task in 4 s; b would load X (2 s) and run it in 1 s:
    // sooner, so a leaves it to b. But b, free first, keeps Y loaded, as a covers X's work within four of b's
    // loads. Nothing is sent now: the next event plans again, or the dispatcher sends the idle node work after
    // most of a load. (Over 30 simulated seeds, either lane always taking such a task at once made the wait
    // tail longer; only when both are free now does b take it, below.) Yet x1 has an ETA.
    const nodes = (aFreesIn: number) => [planNode('a', { loaded: 'X', unitsPerSecond: 5, lanes: [aFreesIn] }), planNode('b', { loaded: 'Y', unitsPerSecond: 20, switchSeconds: 2 })];
    const plan = planTasks([t('x1', 'X', [0, 1])], nodes(0.1));
    expect(plan.assignments).toEqual([]);
    expect(plan.startAt.get('x1')).toBe(0.1);
    expect([...(plan.leftover ?? [])]).toEqual(['x1']);
    // A task the rules place is no leftover.
    expect(planTasks([t('y1', 'Y', [1])], nodes(0.1)).leftover).toBeUndefined();
    // Both free now: a had its pick and left the task to b, which takes it (its switch is no longer covered).
    expect(planTasks([t('x1', 'X', [0, 1])], nodes(0)).assignments).toEqual([{ taskId: 'x1', nodeId: 'b' }]);
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

  it('serves a task whose promised start has come before tasks fair order put ahead of it since', () => {
    const nodes = () => [planNode('a', { loaded: 'X' })];
    const tasks = (promisedAt: number) => [t('new', 'X', [0]), { ...t('promised', 'X', [0]), promisedAt }];
    expect(planTasks(tasks(0), nodes()).assignments[0]?.taskId).toBe('promised');
    expect(planTasks(tasks(-3), nodes()).assignments[0]?.taskId).toBe('promised');
    expect(planTasks(tasks(5), nodes()).assignments[0]?.taskId).toBe('new');
  });

  it('lets a due promise yield to a task left behind that has waited much longer, switch or not', () => {
    // a has X loaded; x-promised is due. y-old needs a switch and only a can run it. The Z tasks (b's only)
    // hold the queue's median wait at 0, so y-old is left behind once it has waited 30 s.
    const nodes = [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'Z', lanes: [1000] })];
    const tasks = (yWaited: number) => [
      { ...t('x-promised', 'X', [0], 20, 100), promisedAt: 0 },
      t('y-old', 'Y', [0], 20, yWaited),
      ...Array.from({ length: 5 }, (_, i) => t(`z${i}`, 'Z', [1])),
    ];
    // Left behind, but not 30 s (urgentGapSeconds) longer than the promised task: the promise is kept.
    expect(planTasks(tasks(120), nodes).assignments).toEqual([{ taskId: 'x-promised', nodeId: 'a' }]);
    expect(planTasks(tasks(200), nodes).assignments).toEqual([{ taskId: 'y-old', nodeId: 'a' }]);
  });

  it('switches a lane to a task whose promise is a load overdue, once the other nodes with its own checkpoint cover that', () => {
    // y was promised 10 s ago (a load is 8 s); its checkpoint is loaded nowhere, and every lane has X.
    const queue = (capable: number[], promisedAt = -10) => [...Array.from({ length: 8 }, (_, i) => t(`x${i}`, 'X', capable)), { ...t('y', 'Y', capable, 100, -promisedAt), promisedAt }];
    const three = ['a', 'b', 'c'].map((id) => planNode(id, { loaded: 'X' }));
    // Work keeps arriving (as much as the fleet gets through): the queue does not drain.
    const steady = { arrivedUnits: (seconds: number) => 30 * seconds };
    // b and c get through X's 160 units in 8 s, within the 8.7 s the fleet needs for the queue: a loads Y now.
    expect(planTasks(queue([0, 1, 2]), three, steady).assignments).toEqual([{ taskId: 'y', nodeId: 'a' }, { taskId: 'x0', nodeId: 'b' }, { taskId: 'x1', nodeId: 'c' }]);
    // Two nodes: b alone would need 16 s for X against the fleet's 13: a stays, and y waits for X to run dry.
    const two = ['a', 'b'].map((id) => planNode(id, { loaded: 'X' }));
    expect(planTasks(queue([0, 1]), two, steady).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }, { taskId: 'x1', nodeId: 'b' }]);
    // A queue that drains (nothing arrived over the last two loads) brings no more X: b can run X, and a keeps the promise.
    expect(planTasks(queue([0, 1]), two).assignments).toEqual([{ taskId: 'y', nodeId: 'a' }, { taskId: 'x0', nodeId: 'b' }]);
    expect(planTasks(queue([0, 1]), two, { arrivedUnits: (seconds) => 1 * seconds }).assignments).toEqual([{ taskId: 'y', nodeId: 'a' }, { taskId: 'x0', nodeId: 'b' }]);
    // Loads of 1 s beside runs of 10 s: the last arrival came 3 s ago, but work keeps coming over the time the
    // fleet takes for a few tasks (the window is at least that): not a drain, and a stays.
    const quick = ['a', 'b'].map((id) => planNode(id, { loaded: 'X', switchSeconds: 1 }));
    const long = (capable: number[]) => [...Array.from({ length: 8 }, (_, i) => t(`x${i}`, 'X', capable, 100)), { ...t('y', 'Y', capable, 100, 10), promisedAt: -10 }];
    const lull = { arrivedUnits: (seconds: number) => (seconds > 3 ? 16 * (seconds - 3) : 0) };
    expect(planTasks(long([0, 1]), quick, lull).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }, { taskId: 'x1', nodeId: 'b' }]);
    // A lane with no work of its own checkpoint left has nothing to cover.
    // (Z has more work waiting: a switch by demand alone would load Z first.)
    const zs = Array.from({ length: 3 }, (_, i) => t(`z${i}`, 'Z', [0], 100));
    expect(planTasks([...zs, { ...t('y', 'Y', [0], 20, 10), promisedAt: -10 }], [planNode('a', { loaded: 'X' })]).assignments).toEqual([{ taskId: 'y', nodeId: 'a' }]);
    // X work only a can run is covered by no one else: a keeps it, and b takes y (review: a had left X for y).
    const onlyA = [...Array.from({ length: 8 }, (_, i) => t(`x${i}`, 'X', [0])), { ...t('y', 'Y', [0, 1, 2], 100, 10), promisedAt: -10 }];
    expect(planTasks(onlyA, three).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }, { taskId: 'y', nodeId: 'b' }]);
    // A node that has Y loaded and frees in half a second keeps the promise; nobody loads Y for it.
    const withY = [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'Y', lanes: [0.5] }), ...['c', 'd', 'e', 'f', 'g'].map((id) => planNode(id, { loaded: 'X' }))];
    const every = [0, 1, 2, 3, 4, 5, 6];
    const crowded = [...Array.from({ length: 8 }, (_, i) => t(`x${i}`, 'X', every)), { ...t('y', 'Y', every, 20, 10), promisedAt: -10 }, ...Array.from({ length: 30 }, (_, i) => t(`w${i}`, 'W', every))];
    const kept = planTasks(crowded, withY);
    expect(kept.nodeOf.get('y')).toBe('b');
    expect(kept.startAt.get('y')).toBe(0.5);
    // Promised only 5 s ago, less than a load: the lanes may still keep it without a switch.
    expect(planTasks(queue([0, 1, 2], -5), three).assignments.map((a) => a.taskId)).toEqual(['x0', 'x1', 'x2']);
  });

  it('lets a due promise wait for one made a load earlier that needs a switch, once the queue drains', () => {
    // Both nodes have X loaded. y (checkpoint Y, loaded nowhere) was promised 20 s ago; x-due 5 s ago; the
    // X work is far more than b could cover alone, so rule 0' never moves a lane while arrivals go on.
    const nodes = () => ['a', 'b'].map((id) => planNode(id, { loaded: 'X' }));
    // One list for all, as the scheduler gives equal lists (coverage is counted per list and checkpoint).
    const both = [0, 1];
    const xs = Array.from({ length: 20 }, (_, i) => t(`x${i}`, 'X', both));
    const tasks = [{ ...t('x-due', 'X', both), promisedAt: -5 }, ...xs, { ...t('y', 'Y', both, 20, 20), promisedAt: -20 }];
    // Steady arrivals: every lane keeps its checkpoint, the due X promise first.
    const steady = planTasks(tasks, nodes(), { arrivedUnits: (seconds) => 20 * seconds });
    expect(steady.assignments).toEqual([{ taskId: 'x-due', nodeId: 'a' }, { taskId: 'x0', nodeId: 'b' }]);
    // A draining queue: a loads Y for the older promise, and the X promise goes to b.
    const drained = planTasks(tasks, nodes());
    expect(drained.assignments).toEqual([{ taskId: 'y', nodeId: 'a' }, { taskId: 'x-due', nodeId: 'b' }]);
    // y promised only 10 s ago, 5 s before x-due (less than a load): the due promise keeps its lane.
    const close = [{ ...t('x-due', 'X', both), promisedAt: -5 }, ...xs, { ...t('y', 'Y', both, 20, 10), promisedAt: -10 }];
    expect(planTasks(close, nodes()).assignments[0]).toEqual({ taskId: 'x-due', nodeId: 'a' });
    // X work only a can run keeps a on X, draining or not: b loads Y.
    const onlyA = [0];
    const mine = [{ ...t('x-due', 'X', onlyA), promisedAt: -5 }, ...Array.from({ length: 20 }, (_, i) => t(`x${i}`, 'X', onlyA)), { ...t('y', 'Y', both, 20, 20), promisedAt: -20 }];
    expect(planTasks(mine, nodes()).assignments).toEqual([{ taskId: 'x-due', nodeId: 'a' }, { taskId: 'y', nodeId: 'b' }]);
  });

  it('keeps a promise without a switch: a lane with another checkpoint loaded leaves the promised task to its fair turn', () => {
    const tasks = [t('x-new', 'X', [0]), t('y1', 'Y', [0]), { ...t('x-promised', 'X', [0]), promisedAt: 0 }];
    const plan = planTasks(tasks, [planNode('a', { loaded: 'Y' })]);
    expect(plan.assignments[0]?.taskId).toBe('y1');
    expect(plan.startAt.get('x-promised')).toBeGreaterThan(plan.startAt.get('x-new')!);
  });

  it('leaves a checkpoint to the nodes that have it loaded when they will soon have served its queue', () => {
    // Node b has X loaded and frees in 3 s; three X tasks are 6 s of its work: well within 4 switch times.
    const nodes = (loaded: string | null) => [planNode('a', { loaded }), planNode('b', { loaded: 'X', lanes: [3] })];
    const xs = (n: number) => Array.from({ length: n }, (_, i) => t(`x${i}`, 'X', [0, 1]));
    expect(planTasks(xs(3), nodes('Y')).assignments).toEqual([]);
    expect(planTasks(xs(3), nodes('Y'), { coveredSwitches: 0 }).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
    // A node with nothing loaded has nothing to keep; a long queue is worth a switch.
    expect(planTasks(xs(3), nodes(null)).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
    expect(planTasks(xs(20), nodes('Y')).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
  });

  it('counts as covering a checkpoint only the nodes that have it loaded at the plan\'s current step', () => {
    // b and c have X loaded and free now (10 units/s each), a has Y; 150 units of X: 7.5 s for two nodes, 15 s for one.
    const nodes = [planNode('a', { loaded: 'Y' }), planNode('b', { loaded: 'X' }), planNode('c', { loaded: 'X' })];
    const state = new PlanState([t('x0', 'X', [0, 1, 2])], nodes, { longPoleSeconds: 60 });
    const lane = state.lanesOf(0)[0]!;
    expect(state.covered('X', 150, lane, 10)).toBe(true);
    // The plan has b load Z: c alone takes 15 s, not within 10; and Z is covered by b now.
    state.load(1, 'Z');
    expect(state.covered('X', 150, lane, 10)).toBe(false);
    expect(state.covered('X', 150, lane, 16)).toBe(true);
    expect(state.covered('Z', 50, lane, 10)).toBe(true);
    // c too: nobody has X loaded, so nothing covers it.
    state.load(2, 'Z');
    expect(state.covered('X', 1, lane, 1000)).toBe(false);
    // A lane does not cover for itself: from c's lane, Z is b's alone (100 units: 10 s).
    expect(state.covered('Z', 100, state.lanesOf(2)[0]!, 9)).toBe(false);
    expect(state.covered('Z', 100, state.lanesOf(2)[0]!, 11)).toBe(true);
  });

  it('counts the queue past the tasks it was given when asking whether a checkpoint is covered', () => {
    // The planner sees three X tasks (covered by b, as above), but 600 units more of X wait past them.
    const nodes = [planNode('a', { loaded: 'Y' }), planNode('b', { loaded: 'X', lanes: [3] })];
    const xs = Array.from({ length: 3 }, (_, i) => t(`x${i}`, 'X', [0, 1]));
    expect(planTasks(xs, nodes, { beyondUnits: new Map([['X', 0]]) }).assignments).toEqual([]);
    expect(planTasks(xs, nodes, { beyondUnits: new Map([['Y', 600]]) }).assignments).toEqual([]);
    expect(planTasks(xs, nodes, { beyondUnits: new Map([['X', 600]]) }).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
  });

  it('counts how long a checkpoint\'s front task has waited when choosing what to switch to', () => {
    const tasks = [t('z1', 'Z', [0], 20, 24), ...Array.from({ length: 5 }, (_, i) => t(`x${i}`, 'X', [0]))];
    // X: 10 s of work; Z: 2 s of work + half of its 24 s wait.
    expect(planTasks(tasks, [planNode('a', { loaded: 'Y' })]).assignments[0]?.taskId).toBe('z1');
    expect(planTasks(tasks, [planNode('a', { loaded: 'Y' })], { switchAgeWeight: 0 }).assignments[0]?.taskId).toBe('x0');
  });

  it('gives a node the work only it can run first once that work is the long pole', () => {
    const nodes = () => [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'X' })];
    const xs = Array.from({ length: 6 }, (_, i) => t(`x${i}`, 'X', [0, 1]));
    const ys = (n: number) => Array.from({ length: n }, (_, i) => t(`y${i}`, 'Y', [0]));
    // Six Y tasks only a can run (12 s of its work) against 12 s of X work for b: a starts on Y at once.
    const long = planTasks([...xs, ...ys(6)], nodes());
    expect(long.assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }, { taskId: 'x0', nodeId: 'b' }]);
    expect(Math.max(...long.startAt.values())).toBeLessThan(20);
    // One Y task is no long pole: fair order first, and a fits it in later.
    const short = planTasks([...xs, ...ys(1)], nodes());
    expect(short.assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }, { taskId: 'x1', nodeId: 'b' }]);
  });

  it('gives the nodes that alone hold a checkpoint its work first once that work is the long pole, from longPoleSeconds on', () => {
    const nodes = () => ['a', 'b', 'c'].map((id) => planNode(id, { loaded: 'X' }));
    const xs = Array.from({ length: 9 }, (_, i) => t(`x${i}`, 'X', [0, 1, 2], 100));
    const ys = (n: number) => Array.from({ length: n }, (_, i) => t(`y${i}`, 'Y', [0, 1], 100));
    // Y: 2,000 units for a and b (100 s at 20 u/s) against 900 units of X for c alone (90 s): a and b start on Y at once.
    const pole = planTasks([...xs, ...ys(20)], nodes());
    expect(pole.assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }, { taskId: 'y1', nodeId: 'b' }, { taskId: 'x0', nodeId: 'c' }]);
    // The last tasks start at 8 + 90 s (a switch, nine Y tasks before it), so all is done by 108 s.
    expect(Math.max(...pole.startAt.values())).toBeLessThanOrEqual(98);
    // Left to fair order, all three share X for 30 s, and c then idles while a and b switch and run Y: 30 + 8 + 90 s.
    const fair = planTasks([...xs, ...ys(20)], nodes(), { longPoleSeconds: Infinity });
    expect(fair.assignments.map((a) => a.taskId)).toEqual(['x0', 'x1', 'x2']);
    expect(Math.max(...fair.startAt.values())).toBeGreaterThanOrEqual(128);
    // Four Y tasks against one X: a long pole of 20 s, below longPoleSeconds: fair order (a takes the head x0, b switches
    // to Y, c has nothing it can run), unless the threshold is 0.
    const short = [xs[0]!, ...ys(4)];
    expect(planTasks(short, nodes()).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }, { taskId: 'y0', nodeId: 'b' }]);
    expect(planTasks(short, nodes(), { longPoleSeconds: 0 }).assignments).toEqual([
      { taskId: 'y0', nodeId: 'a' },
      { taskId: 'y1', nodeId: 'b' },
      { taskId: 'x0', nodeId: 'c' },
    ]);
  });

  it('does not load the long pole\'s checkpoint on a node whose load outlasts what the rest of the group has to do', () => {
    // As above, but b's load of Y takes 300 s: a, loading Y in 8 s, is through Y's 2,000 units by 208 s.
    const nodes = (bLoad: number) => [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'X', loadSeconds: new Map([['Y', bLoad]]) }), planNode('c', { loaded: 'X' })];
    const xs = Array.from({ length: 9 }, (_, i) => t(`x${i}`, 'X', [0, 1, 2], 100));
    const ys = Array.from({ length: 20 }, (_, i) => t(`y${i}`, 'Y', [0, 1], 100));
    expect(planTasks([...xs, ...ys], nodes(300)).assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }, { taskId: 'x0', nodeId: 'b' }, { taskId: 'x1', nodeId: 'c' }]);
    // Done loading at 150 s, b still shortens the pole: it loads Y too.
    expect(planTasks([...xs, ...ys], nodes(150)).assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }, { taskId: 'y1', nodeId: 'b' }, { taskId: 'x0', nodeId: 'c' }]);
    // Every node of the group must load it: each is as quick as the other, and both do (not each leaving it to the other).
    const slowBoth = [planNode('a', { loaded: 'X', loadSeconds: new Map([['Y', 250]]) }), planNode('b', { loaded: 'X', loadSeconds: new Map([['Y', 250]]) }), planNode('c', { loaded: 'X' })];
    expect(planTasks([...xs, ...ys], slowBoth).assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }, { taskId: 'y1', nodeId: 'b' }, { taskId: 'x0', nodeId: 'c' }]);
  });

  it('has a node of a long-pole group take the confined work it can run, leaving what only its partner can run to the partner', () => {
    // Y: a or b; Z: b only. Together 1,600 units for a and b (80 s) against 100 for c: a pole; a cannot run Z, so it takes Y.
    const nodes = ['a', 'b', 'c'].map((id) => planNode(id, { loaded: 'X' }));
    const tasks = [t('x0', 'X', [0, 1, 2], 100), ...Array.from({ length: 12 }, (_, i) => t(`z${i}`, 'Z', [1], 100)), ...Array.from({ length: 4 }, (_, i) => t(`y${i}`, 'Y', [0, 1], 100))];
    const plan = planTasks(tasks, nodes);
    expect(plan.assignments).toContainEqual({ taskId: 'y0', nodeId: 'a' });
    expect(plan.assignments).toContainEqual({ taskId: 'z0', nodeId: 'b' });
  });

  it('gives a task left far behind the queue\'s median wait to the next lane able to run it, switching if need be', () => {
    const nodes = () => [planNode('a', { loaded: 'X' })];
    // Fair order put z1 behind six X tasks; the queue's median wait is 5 s.
    const tasks = (zWaited: number) => [...Array.from({ length: 6 }, (_, i) => t(`x${i}`, 'X', [0], 20, 5)), t('z1', 'Z', [0], 20, zWaited)];
    // Waited 36 s ≥ max(2 × 5, 5 + 30): urgent, so the lane switches to it now.
    expect(planTasks(tasks(36), nodes()).assignments[0]?.taskId).toBe('z1');
    // Waited 20 s: not yet urgent. In the plan it becomes urgent once its wait reaches the (growing) median + 30 s:
    // the queue's waits all grow alike, so never while only the six X tasks are ahead (12 s of work).
    const patient = planTasks(tasks(20), nodes());
    expect(patient.assignments[0]?.taskId).toBe('x0');
    expect(patient.startAt.get('z1')).toBe(12);
    expect(planTasks(tasks(36), nodes(), { urgentGapSeconds: Infinity }).assignments[0]?.taskId).toBe('x0');
  });

  it('leaves an urgent task to a node that would finish it sooner, and makes nothing urgent when all waited alike', () => {
    const tasks = [...Array.from({ length: 6 }, (_, i) => t(`x${i}`, 'X', [0, 1], 20, 5)), t('z1', 'Z', [0, 1], 20, 40)];
    const plan = planTasks(tasks, [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'Z', lanes: [1] })]);
    expect(plan.assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
    expect(plan.nodeOf.get('z1')).toBe('b');
    // A burst: every task has waited 500 s, so none is behind the median; the plan is the one without the rule.
    const burst = tasks.map((task) => ({ ...task, waitedSeconds: 500 }));
    const nodes = () => [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'Y' })];
    expect([...planTasks(burst, nodes()).startAt]).toEqual([...planTasks(burst, nodes(), { urgentGapSeconds: Infinity }).startAt]);
  });

  it('counts the older urgent tasks left to another node: a backlog there is served by a lane that must switch, once that gains one load', () => {
    // a has Y loaded and frees now; b has X loaded and frees in 1 s. X runs 2 s on either, a load takes 8 s.
    // The X tasks waited 100 s, the thirty Y tasks none: every X task is urgent, and b finishes any one of them sooner.
    const nodes = () => [planNode('a', { loaded: 'Y' }), planNode('b', { loaded: 'X', lanes: [1] })];
    const tasks = (xCount: number) => [...Array.from({ length: xCount }, (_, i) => t(`x${i}`, 'X', [0, 1], 20, 100 - i * 0.01)), ...Array.from({ length: 30 }, (_, i) => t(`y${i}`, 'Y', [0]))];
    // Five: b finishes the fifth at 1 + 5 × 2 = 11 s, a would at 10 s; not sooner by a load (8 s): a keeps its Y work.
    expect(planTasks(tasks(5), nodes()).assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }]);
    // Eight: b finishes the eighth at 17 s, within a load of a's 10 s: a still keeps its Y work.
    expect(planTasks(tasks(8), nodes()).assignments).toEqual([{ taskId: 'y0', nodeId: 'a' }]);
    // Nine: b would finish the ninth at 19 s, more than a load after a's 10 s: a loads X for it now.
    expect(planTasks(tasks(9), nodes()).assignments).toEqual([{ taskId: 'x8', nodeId: 'a' }]);
    // Thirteen: the same ninth (the oldest a gains a load on), the eight before it left to b.
    expect(planTasks(tasks(13), nodes()).assignments).toEqual([{ taskId: 'x8', nodeId: 'a' }]);
  });

  it('counts the load a node needs between urgent tasks of different checkpoints left to it', () => {
    // a has W loaded and runs a task in 6 s; b has X loaded, frees in 1 s and runs one in 2 s; a load takes 8 s.
    // x0 is b's (done at 3 s). w0 on b would come after it and a load: 13 s. a runs it in 6 s: a takes it now.
    const nodes = [planNode('a', { loaded: 'W', unitsPerSecond: 20 / 6 }), planNode('b', { loaded: 'X', lanes: [1] })];
    const tasks = [t('x0', 'X', [0, 1], 20, 100), t('w0', 'W', [0, 1], 20, 99.9), ...Array.from({ length: 30 }, (_, i) => t(`y${i}`, 'Y', [0, 1]))];
    const state = new PlanState(tasks, nodes, { longPoleSeconds: 60 });
    const lane = state.earliestLane()!;
    expect(state.nodes[lane.node]!.id).toBe('a');
    // The rule alone (the plan would reach w0 by affinity anyway): urgent once waited twice the median and 30 s more.
    expect(state.urgent(lane, (median) => Math.max(2 * median, median + 30))).toBe(1);
  });

  it('compares at most 1,024 nodes for the urgent tasks of one pick, and leaves the rest to later picks', () => {
    // a has Z loaded; the others Y, freeing just after a. Fifteen old tasks of Y, which any other node runs
    // sooner than a (a would load Y first), then an old one of Z, which a runs soonest: urgent for a, unless
    // the fifteen before it cost too many comparisons.
    const urgentFor = (others: number) => {
      const nodes = [planNode('a', { loaded: 'Z' }), ...Array.from({ length: others }, (_, i) => planNode(`n${i}`, { loaded: 'Y', lanes: [0.01] }))];
      const all = nodes.map((_, n) => n);
      const tasks = [...Array.from({ length: 15 }, (_, i) => t(`y${i}`, 'Y', all, 20, 100)), t('z0', 'Z', all, 20, 99), ...Array.from({ length: 60 }, (_, i) => t(`f${i}`, 'Y', all))];
      const state = new PlanState(tasks, nodes, { longPoleSeconds: 60 });
      const lane = state.earliestLane()!;
      expect(state.nodes[lane.node]!.id).toBe('a');
      const index = state.urgent(lane, (median) => Math.max(2 * median, median + 30));
      return index === undefined ? undefined : tasks[index]!.id;
    };
    // 16 nodes: 15 × 16 comparisons before z0.
    expect(urgentFor(15)).toBe('z0');
    // 101 nodes: it stops after ten of the Y tasks.
    expect(urgentFor(100)).toBeUndefined();
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

describe('planTasks: a plan that holds', () => {
  /** A small seeded generator, so the scenario is the same on every run. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let x = Math.imul(state ^ (state >>> 15), 1 | state);
      x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
  }

  /**
   * Plays a plan out as the gateway does: whenever a lane frees, plan again
   * from what is left and send what the new plan sends now. With exact
   * estimates and no new arrivals, every task must start when the first plan
   * said: ETAs taken from a plan are only as good as this.
   */
  it.each([
    ['no promises', false, 60],
    ['every first plan start promised', true, 60],
    ['long poles of any length', false, 0],
  ])('starts every task when the first plan said, when replanned as lanes free (exact estimates, no arrivals; %s)', (_name, promise, longPoleSeconds) => {
    const next = random(7);
    const checkpoints = ['A', 'B', 'C', 'D'];
    const nodes = [10, 6, 3].map((unitsPerSecond, i) => planNode(`n${i}`, { unitsPerSecond, switchSeconds: 5, loaded: checkpoints[i]! }));
    const tasks = Array.from({ length: 60 }, (_, i) => {
      const capable = [0, 1, 2].filter(() => next() < 0.7);
      return t(`t${i}`, checkpoints[Math.floor(next() ** 2 * 4)]!, capable.length > 0 ? capable : [i % 3], 10 + Math.floor(next() * 40), 60 - i);
    });
    const options = { affinityWindow: 4, fallbackWindow: 2, maxSkipSeconds: 20, longPoleSeconds };
    const first = planTasks(tasks, nodes, options);
    if (promise) tasks.forEach((task) => Object.assign(task, { promisedAt: first.startAt.get(task.id)! }));

    const freeAt = nodes.map(() => 0);
    const loaded = nodes.map((n) => n.loaded);
    const started = new Map<string, number>();
    let left = [...tasks];
    for (let now = 0, guard = 0; left.length > 0 && guard < 1000; guard++) {
      const view = nodes.map((n, i) => ({ ...n, lanes: [Math.max(0, freeAt[i]! - now)], loaded: loaded[i]! }));
      const plan = planTasks(
        left.map((task) => ({ ...task, waitedSeconds: task.waitedSeconds + now, ...(promise ? { promisedAt: first.startAt.get(task.id)! - now } : {}) })),
        view,
        options,
      );
      for (const { taskId, nodeId } of plan.assignments) {
        const node = nodes.findIndex((n) => n.id === nodeId);
        const task = left.find((x) => x.id === taskId)!;
        started.set(taskId, now);
        freeAt[node] = now + (task.checkpoint === loaded[node] ? 0 : 5) + task.units / nodes[node]!.unitsPerSecond;
        loaded[node] = task.checkpoint;
        left = left.filter((x) => x.id !== taskId);
      }
      now = Math.min(...freeAt.filter((f) => f > now));
    }
    expect(started.size).toBe(tasks.length);
    for (const task of tasks) expect(started.get(task.id), task.id).toBeCloseTo(first.startAt.get(task.id)!, 6);
  });

  it.each([1, 2, 3, 4, 5])('sends what the full plan sends when it plans only the lanes free now (until 0; seed %i)', (seed) => {
    const next = random(seed);
    const checkpoints = ['A', 'B', 'C'];
    // Some lanes free now, some busy for a while, one node with two lanes; urgent, promised and exclusive tasks mixed in.
    const nodes = [12, 8, 5, 3].map((unitsPerSecond, i) =>
      planNode(`n${i}`, {
        unitsPerSecond,
        switchSeconds: 6,
        loaded: checkpoints[i % 3]!,
        lanes: i === 3 ? [0, next() * 20] : [next() < 0.5 ? 0 : next() * 30],
      }),
    );
    const tasks = Array.from({ length: 80 }, (_, i) => {
      const capable = [0, 1, 2, 3].filter(() => next() < 0.6);
      const task = t(`t${i}`, checkpoints[Math.floor(next() ** 2 * 3)]!, capable.length > 0 ? capable : [i % 4], 10 + Math.floor(next() * 60), next() * 200);
      return next() < 0.2 ? { ...task, promisedAt: next() * 40 } : task;
    });
    const full = planTasks(tasks, nodes);
    const now = planTasks(tasks, nodes, {}, 0);
    expect(full.assignments.length).toBeGreaterThan(0);
    expect(now.assignments).toEqual(full.assignments);
    expect(now.startAt.size).toBeLessThan(full.startAt.size);
  });
});

describe('planTasks: measured costs', () => {
  const xs = (n: number, checkpoint = 'X') => Array.from({ length: n }, (_, i) => t(`${checkpoint}${i}`, checkpoint, [0, 1]));

  it('switches a node whose load time is still a guess rather than leave it idle on the guess', () => {
    // As in the covered case above: b has X loaded and will soon have served X's queue, so a measured node waits.
    const nodes = (switchMeasured: boolean) => [planNode('a', { loaded: 'Y', switchMeasured }), planNode('b', { loaded: 'X', lanes: [3] })];
    expect(planTasks(xs(3), nodes(true)).assignments).toEqual([]);
    expect(planTasks(xs(3), nodes(false)).assignments).toEqual([{ taskId: 'X0', nodeId: 'a' }]);
  });

  it('plans each checkpoint\'s own load time, and the node\'s typical load for one it has no figure for', () => {
    const node = () => [planNode('a', { loaded: 'Y', switchSeconds: 8, loadSeconds: new Map([['XL', 30], ['Turbo', 0.5]]) })];
    const only = (checkpoint: string) => [t('first', checkpoint, [0]), t('second', checkpoint, [0])];
    expect(planTasks(only('XL'), node()).startAt.get('second')).toBe(32);
    expect(planTasks(only('Turbo'), node()).startAt.get('second')).toBe(2.5);
    expect(planTasks(only('Other'), node()).startAt.get('second')).toBe(10);
  });

  it('adds the node\'s fixed part to every run', () => {
    const plan = planTasks([t('first', 'X', [0]), t('second', 'X', [0], 40)], [planNode('a', { loaded: 'X', fixedSeconds: 0.5 })]);
    expect(plan.startAt.get('second')).toBe(2.5);
  });

  it('scales its thresholds in seconds by timeScale: a fleet that loads in a fraction of a second skips for a fraction of the time', () => {
    // The head (X) has waited 20 s longer than the task of the loaded checkpoint: within 60 s, past 60 × 0.1.
    const tasks = [t('x-head', 'X', [0], 20, 30), t('y1', 'Y', [0], 20, 10)];
    expect(planTasks(tasks, [planNode('a', { loaded: 'Y' })]).assignments[0]?.taskId).toBe('y1');
    expect(planTasks(tasks, [planNode('a', { loaded: 'Y' })], { timeScale: 0.1 }).assignments[0]?.taskId).toBe('x-head');
  });
});

describe('planTasks: many lanes', () => {
  it('runs work of its loaded checkpoint from past the affinity window rather than idle, when nothing is worth a switch', () => {
    // 20 small Y tasks (covered by c, which has Y loaded), then X tasks (covered by b): a has X loaded.
    const tasks = [...Array.from({ length: 20 }, (_, i) => t(`y${i}`, 'Y', [0, 1, 2], 5)), ...Array.from({ length: 3 }, (_, i) => t(`x${i}`, 'X', [0, 1, 2]))];
    const nodes = [planNode('a', { loaded: 'X' }), planNode('b', { loaded: 'X', lanes: [1] }), planNode('c', { loaded: 'Y', lanes: [1] })];
    // The affinity window (4) and the fallback window (16) end before the X tasks.
    const options = { affinityWindow: 4 };
    expect(planTasks(tasks, nodes, options).assignments).toEqual([{ taskId: 'x0', nodeId: 'a' }]);
    // Not past a head that has waited maxSkipSeconds longer than them.
    const stale = tasks.map((task) => (task.id.startsWith('y') ? { ...task, waitedSeconds: 50 } : task));
    expect(planTasks(stale, nodes, { ...options, maxSkipSeconds: 40, fallbackWindow: 0 }).assignments).toEqual([]);
  });
});

describe('planTasks: a large fleet with more free lanes than queued tasks (a pass that sends work)', () => {
  // 100 free nodes, the first 4 the ones these tasks may run on; the rest keep the fleet past 64 free lanes.
  const fleet = (first: PlanNode[]) => [...first, ...Array.from({ length: 96 }, (_, i) => planNode(`idle${i}`))];

  it('sends each task, in service order, to the node that would finish it first, its load counted', () => {
    const nodes = fleet([
      planNode('slow-x', { loaded: 'X', unitsPerSecond: 5 }),
      planNode('fast-y', { loaded: 'Y', unitsPerSecond: 40, switchSeconds: 1 }),
      planNode('away', { loaded: 'X', unitsPerSecond: 100, available: false }),
      planNode('busy-x', { loaded: 'X', unitsPerSecond: 100, lanes: [0.5] }),
    ]);
    // x1 (40 units): slow-x 8 s; fast-y 1 + 1 = 2 s; busy-x 0.5 + 0.4 = 0.9 s, not free now: planned there, not sent.
    // x2: busy-x 1.3 s (after x1), fast-y 2 s: busy-x again. x3: busy-x 1.7 s. x4: busy-x 2.1 s against fast-y's
    // 2 s: fast-y, sent now. x5: busy-x 2.1 s against fast-y's 3 s (X loaded after x4, no load): busy-x, from 1.7 s.
    const tasks = ['x1', 'x2', 'x3', 'x4', 'x5'].map((id) => t(id, 'X', [0, 1, 2, 3], 40));
    const plan = planTasks(tasks, nodes, {}, 0);
    expect(plan.assignments).toEqual([{ taskId: 'x4', nodeId: 'fast-y' }]);
    expect(Object.fromEntries(plan.nodeOf)).toEqual({ x1: 'busy-x', x2: 'busy-x', x3: 'busy-x', x4: 'fast-y', x5: 'busy-x' });
    expect(plan.startAt.get('x2')).toBeCloseTo(0.9);
    expect(plan.startAt.get('x5')).toBeCloseTo(1.7);
    // Without the busy node: x1 on fast-y (2 s); x2 after it there, X loaded by then (3 s), before slow-x's 8 s.
    const noBusy = planTasks(tasks.slice(0, 2).map((task) => ({ ...task, capable: [0, 1, 2] })), nodes, {}, 0);
    expect(noBusy.assignments).toEqual([{ taskId: 'x1', nodeId: 'fast-y' }]);
    expect(noBusy.nodeOf.get('x2')).toBe('fast-y');
    expect(noBusy.startAt.get('x2')).toBeCloseTo(2);
  });

  it('counts a node loaded with the checkpoint of the task it was given before, for the next', () => {
    const nodes = fleet([planNode('loaded', { loaded: 'X', unitsPerSecond: 10 }), planNode('fast', { loaded: 'Y', unitsPerSecond: 40, switchSeconds: 1 })]);
    // x1 (35 units): fast 1 + 0.875 s, loaded 3.5 s. x2: fast again, X loaded now (2.75 s), before loaded's 3.5 s.
    const plan = planTasks([t('x1', 'X', [0, 1], 35), t('x2', 'X', [0, 1], 35)], nodes, {}, 0);
    expect(plan.assignments).toEqual([{ taskId: 'x1', nodeId: 'fast' }]);
    expect(plan.nodeOf.get('x2')).toBe('fast');
    expect(plan.startAt.get('x2')).toBeCloseTo(1.875);
  });

  it('plans a task on a node that lists no lane as on one lane free now, and never on a node that is away', () => {
    const nodes = fleet([planNode('away', { loaded: 'X', available: false }), planNode('no-lanes', { loaded: 'Y', lanes: [] })]);
    const plan = planTasks([t('x', 'X', [0, 1])], nodes, {}, 0);
    expect(plan.assignments).toEqual([{ taskId: 'x', nodeId: 'no-lanes' }]);
    expect(planTasks([t('x', 'X', [0])], nodes, {}, 0).assignments).toEqual([]);
  });
});

describe('planTasks: tasks sent ahead to a node that holds them ready (prefetch)', () => {
  const tasks = () => ['t1', 't2', 't3', 't4'].map((id) => t(id, 'X', [0, 1]));

  it("sends a busy node the next task its lane picks, up to what it may hold, and no more", () => {
    const nodes = [planNode('a', { loaded: 'X', lanes: [1], sendAhead: 1 }), planNode('b', { loaded: 'X', lanes: [1.5] })];
    const plan = planTasks(tasks(), nodes, {}, 0);
    // a frees at 1 s and picks t1; b, busy as long without room to hold a task, is sent nothing yet.
    expect(plan.assignments).toEqual([{ taskId: 't1', nodeId: 'a' }]);
    expect(plan.startAt.get('t1')).toBe(1);
    // Without room nothing is sent before a lane frees: the pass that sends work stops at now.
    expect(planTasks(tasks(), [planNode('a', { loaded: 'X', lanes: [1] }), nodes[1]!], {}, 0).assignments).toEqual([]);
  });

  it('sends a free node its first task and the next one behind it', () => {
    const nodes = [planNode('a', { loaded: 'X', sendAhead: 1 }), planNode('b', { loaded: 'X', lanes: [5] })];
    const plan = planTasks(tasks(), nodes, {}, 0);
    expect(plan.assignments).toEqual([
      { taskId: 't1', nodeId: 'a' },
      { taskId: 't2', nodeId: 'a' },
    ]);
    // t2 waits on a for t1 (20 units at 10/s).
    expect(plan.startAt.get('t2')).toBe(2);
  });

  it('sends nothing ahead that a whole plan would give another node', () => {
    // b frees at 0.5 s and has X loaded; a must load X first: t1 is b's in a whole plan, so not sent to a.
    const nodes = [planNode('a', { loaded: 'Y', lanes: [1], sendAhead: 1 }), planNode('b', { loaded: 'X', lanes: [0.5] })];
    const plan = planTasks([t('t1', 'X', [0, 1])], nodes, {}, 0);
    expect(plan.assignments).toEqual([]);
    expect(planTasks([t('t1', 'X', [0, 1])], nodes).nodeOf.get('t1')).toBe('b');
  });
});

describe('planTasks: how soon before its lane frees a task is sent ahead', () => {
  it('sends ahead only to a lane that frees within the window', () => {
    const tasks = [t('t1', 'X', [0]), t('t2', 'X', [0])];
    const busy = (freeAt: number) => [planNode('a', { loaded: 'X', lanes: [freeAt], sendAhead: 1 })];
    expect(planTasks(tasks, busy(0.4), { sendAheadSeconds: 0.5 }, 0).assignments).toEqual([{ taskId: 't1', nodeId: 'a' }]);
    expect(planTasks(tasks, busy(3), { sendAheadSeconds: 0.5 }, 0).assignments).toEqual([]);
    // A free node: its first task now, the next only if the first ends within the window (2 s here).
    const free = [planNode('a', { loaded: 'X', sendAhead: 1 })];
    expect(planTasks(tasks, free, { sendAheadSeconds: 0.5 }, 0).assignments.map((a) => a.taskId)).toEqual(['t1']);
    expect(planTasks(tasks, free, { sendAheadSeconds: 3 }, 0).assignments.map((a) => a.taskId)).toEqual(['t1', 't2']);
  });
});

describe('planTasks: a pass that sends work plans few lanes ahead', () => {
  it('sends ahead to the nodes whose lanes free first, up to a few lanes a pass', () => {
    // 100 busy nodes, each with room to hold a task, freeing 10 ms apart; plenty of work for all.
    const nodes = Array.from({ length: 100 }, (_, i) => planNode(`n${i}`, { loaded: 'X', lanes: [0.01 * (i + 1)], sendAhead: 1 }));
    const tasks = Array.from({ length: 200 }, (_, i) => t(`t${i}`, 'X', nodes.map((_, n) => n)));
    const sent = planTasks(tasks, nodes, {}, 0).assignments;
    expect(sent.length).toBe(64);
    // The earliest to free, in that order.
    expect(sent.map((a) => a.nodeId)).toEqual(nodes.slice(0, 64).map((n) => n.id));
  });
});

describe('planTasks: nothing is sent ahead past an idle node', () => {
  it('keeps in the queue a task left to a busy node while another node that can run it is idle', () => {
    // a has X loaded and frees in 0.3 s; b is idle with Y loaded and would load X (8 s): X is a's. Sent to
    // a ahead, it could not go to b should a overrun; queued, the dispatcher's idle rule still can.
    const nodes = [planNode('a', { loaded: 'X', lanes: [0.3], sendAhead: 1 }), planNode('b', { loaded: 'Y' })];
    const plan = planTasks([t('x1', 'X', [0, 1])], nodes, {}, 0);
    expect(plan.assignments).toEqual([]);
    // With no idle node that can run it, it is sent ahead.
    expect(planTasks([t('x1', 'X', [0])], nodes, {}, 0).assignments).toEqual([{ taskId: 'x1', nodeId: 'a' }]);
  });
});

describe('planTasks: no load is sent ahead', () => {
  it('keeps a task that needs another checkpoint in the queue until its lane frees', () => {
    const nodes = [planNode('a', { loaded: 'X', lanes: [0.3], sendAhead: 1 })];
    expect(planTasks([t('y1', 'Y', [0])], nodes, {}, 0).assignments).toEqual([]);
    expect(planTasks([t('x1', 'X', [0])], nodes, {}, 0).assignments).toEqual([{ taskId: 'x1', nodeId: 'a' }]);
  });
});
