import { describe, expect, it } from 'vitest';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';
import { AttemptLedger } from '../../../src/scheduler/attempt-ledger.js';
import { NodeHealth } from '../../../src/scheduler/node-health.js';
import { NodeViews, type ViewedNode } from '../../../src/scheduler/node-views.js';

const T0 = Date.UTC(2026, 0, 1);

function world() {
  const estimates = new NodeEstimates({ unitsPerSecond: 10, switchSeconds: 6 });
  const health = new NodeHealth({ threshold: 1, baseMs: 60_000 });
  const attempts = new AttemptLedger<null>();
  const views = new NodeViews<ViewedNode>({ estimates, health, attempts, reportedIdentity: (node) => node.loadedModel, takesWork: (node, now) => node.available && health.setAside(node.identity, now) === null });
  const nodes: ViewedNode[] = ['a', 'b', 'c'].map((id) => ({ id, identity: `id-${id}`, slots: 1, loadedModel: `${id}-model`, available: true }));
  /** `waiting`: sent ahead, it waits on the node behind the attempt running there. */
  const run = (taskId: string, node: number, expectedSeconds: number, at: number, options: { waiting?: boolean; checkpoint?: string } = {}) => {
    const { id, identity } = nodes[node]!;
    const begunAt = options.waiting ? null : at;
    attempts.start({ taskId, attempt: 1, nodeId: id, nodeName: id, nodeIdentity: identity, startedAt: at, begunAt, expectedSeconds, switched: false, checkpoint: options.checkpoint ?? 'ckpt', task: null });
    views.touch(node);
  };
  return { estimates, health, attempts, views, nodes, run };
}

/** A small seeded generator (an LCG): the same steps on every run. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('NodeViews: the planner sees each node as it is, reading again only what changed', () => {
  it("counts a busy node's slot down with the clock, and frees it when its attempt ends", () => {
    const { views, nodes, run, attempts } = world();
    views.refresh(nodes, 1, T0);
    expect(views.free).toEqual([0, 1, 2]);
    run('t1', 1, 10, T0);
    let seen = views.refresh(nodes, 1, T0 + 4000);
    expect(seen[1]!.lanes).toEqual([6]);
    expect(seen[1]!.loaded).toBe('ckpt');
    expect(views.free).toEqual([0, 2]);
    // Nothing changed since, but time passed: the same view, its slot later by the clock.
    seen = views.refresh(nodes, 1, T0 + 9000);
    expect(seen[1]!.lanes).toEqual([1]);
    // Past its expected time it frees "soon", never now.
    expect(views.refresh(nodes, 1, T0 + 30_000)[1]!.lanes).toEqual([0.5]);
    attempts.settle('t1', {}, T0 + 31_000);
    views.touch(1);
    seen = views.refresh(nodes, 1, T0 + 31_000);
    expect(seen[1]!.lanes).toEqual([0]);
    expect(seen[1]!.loaded).toBe('b-model');
    expect(views.free).toEqual([0, 1, 2]);
  });

  it('counts for the send-ahead window the time expected to remain, where the lanes hold a last twentieth at its floor', () => {
    const { views, nodes, run } = world();
    // Two slots on c: a 20 s attempt with 0.2 s left (the lanes hold it at 1 s), one with 1.4 s left, and a
    // 10 s one held behind the first to free.
    nodes[2] = { ...nodes[2]!, slots: 2 };
    run('long', 2, 20, T0);
    run('short', 2, 2.6, T0 + 18_600);
    run('held', 2, 10, T0 + 18_600, { waiting: true });
    const view = views.refresh(nodes, 1, T0 + 19_800)[2]!;
    expect(view.lanes[0]).toBeCloseTo(11);
    expect(view.lanes[1]).toBeCloseTo(1.4);
    // Its first lane frees in 1.4 s either way: no lead (counted before the held one, 0.8 s).
    expect(view.windowLead).toBeCloseTo(0);
    // One slot, 0.2 s left of 20 s: the window counts 0.2 s, the lanes 1 s.
    run('alone', 0, 20, T0);
    const single = views.refresh(nodes, 1, T0 + 19_800)[0]!;
    expect(single.lanes[0]).toBeCloseTo(1);
    expect(single.windowLead).toBeCloseTo(0.8);
  });

  it("reads a node's learned figures again once they change, and the peers' average for nodes not measured yet", () => {
    const { estimates, views, nodes } = world();
    estimates.seed('id-a', { unitsPerSecond: 20, switchSeconds: 4 });
    let seen = views.refresh(nodes, 1, T0);
    expect(seen[0]!.unitsPerSecond).toBe(20);
    // b and c are not measured: they are given the measured nodes' average.
    expect(seen[2]!.unitsPerSecond).toBe(20);
    estimates.seed('id-b', { unitsPerSecond: 40, switchSeconds: 2 });
    seen = views.refresh(nodes, 1, T0 + 1000);
    expect(seen.map((view) => view.unitsPerSecond)).toEqual([20, 40, 30]);
    expect(seen[1]!.switchSeconds).toBe(2);
    estimates.record('id-a', { units: 100, elapsedSeconds: 10, switched: false });
    seen = views.refresh(nodes, 1, T0 + 2000);
    expect(seen[0]!.unitsPerSecond).not.toBe(20);
    expect(seen[2]!.unitsPerSecond).toBeCloseTo((seen[0]!.unitsPerSecond + 40) / 2);
  });

  it('reads every node again when more changed than the change log keeps', () => {
    const { estimates, views, nodes } = world();
    views.refresh(nodes, 1, T0);
    for (let i = 0; i < 10_000; i++) estimates.seed(`elsewhere-${i}`, { unitsPerSecond: 5 });
    estimates.seed('id-c', { unitsPerSecond: 80, switchSeconds: 1 });
    expect(estimates.changedSince(0)).toBeNull();
    expect(views.refresh(nodes, 1, T0 + 1000)[2]!.unitsPerSecond).toBe(80);
  });

  it('takes a set-aside node out of the free ones, and back once the set-aside ends, with nothing else happening', () => {
    const { health, views, nodes } = world();
    views.refresh(nodes, 1, T0);
    const aside = health.failed('id-c', { taskId: 't1', reason: 'broken' }, T0);
    expect(aside).not.toBeNull();
    let seen = views.refresh(nodes, 1, T0 + 1000);
    expect(seen[2]!.available).toBe(false);
    expect(views.free).toEqual([0, 1]);
    seen = views.refresh(nodes, 1, T0 + 59_000);
    expect(seen[2]!.available).toBe(false);
    seen = views.refresh(nodes, 1, aside!.until);
    expect(seen[2]!.available).toBe(true);
    expect(views.free).toEqual([0, 1, 2]);
  });

  it('reads a node right again after being asked at an older time than before', () => {
    const { health, views, nodes, run, attempts } = world();
    run('t1', 0, 100, T0);
    const aside = health.failed('id-a', { taskId: 'tx', reason: 'broken' }, T0)!;
    views.refresh(nodes, 1, T0 + 1000);
    views.refresh(nodes, 1, aside.until + 5);
    attempts.settle('t1', {}, aside.until + 5);
    views.touch(0);
    // A plan made in slices reads the views at its own, older time: a is still set aside then.
    expect(views.refresh(nodes, 1, aside.until - 5)[0]!.available).toBe(false);
    // Later it takes work again, with nothing else happening.
    expect(views.refresh(nodes, 1, aside.until + 60_000)[0]!.available).toBe(true);
    expect(views.free).toContain(0);
  });

  it('follows what the node reports: its model, its availability and its slots', () => {
    const { views, nodes } = world();
    views.refresh(nodes, 1, T0);
    const changed = [{ ...nodes[0]!, loadedModel: 'other' }, { ...nodes[1]!, available: false }, { ...nodes[2]!, slots: 2 }];
    const seen = views.refresh(changed, 1, T0 + 1000);
    expect(seen[0]!.loaded).toBe('other');
    expect(seen[1]!.available).toBe(false);
    expect(seen[2]!.lanes).toEqual([0, 0]);
    expect(views.free).toEqual([0, 2]);
  });

  it('asked again at the same time, reads the nodes work went to since, and the others as they were', () => {
    const { views, nodes, run, attempts } = world();
    views.refresh(nodes, 1, T0);
    expect(views.idle).toEqual([0, 1, 2]);
    // A pass sends node b a task, then reads the views again at its own time (for idle nodes, held tasks).
    run('t1', 1, 10, T0);
    let seen = views.refresh(nodes, 1, T0);
    expect(seen[1]!.lanes).toEqual([10]);
    expect(seen[1]!.loaded).toBe('ckpt');
    expect(views.idle).toEqual([0, 2]);
    expect(views.free).toEqual([0, 2]);
    run('t2', 0, 5, T0);
    seen = views.refresh(nodes, 1, T0);
    expect(views.idle).toEqual([2]);
    attempts.settle('t1', {}, T0);
    views.touch(1);
    seen = views.refresh(nodes, 1, T0);
    expect(seen[1]!.lanes).toEqual([0]);
    expect(views.idle).toEqual([1, 2]);
    expect(views.free).toEqual([1, 2]);
    // The node list given again (another pass's), at that same time: every node is read.
    const changed = nodes.map((node, index) => (index === 2 ? { ...node, available: false } : node));
    views.nodesSet();
    seen = views.refresh(changed, 1, T0);
    expect(seen[2]!.available).toBe(false);
    expect(views.idle).toEqual([1]);
  });

  it('starts over for a new node list', () => {
    const { views, nodes } = world();
    views.refresh(nodes, 1, T0);
    const seen = views.refresh([nodes[2]!, nodes[0]!], 2, T0 + 1000);
    expect(seen.map((view) => view.id)).toEqual(['c', 'a']);
  });

  it('counts a task sent ahead after the one running, and offers the node work only while it has room to hold some', () => {
    const { views, nodes, run, attempts } = world();
    const prefetching = nodes.map((node, index) => (index === 1 ? { ...node, prefetch: 1 } : node));
    let seen = views.refresh(prefetching, 1, T0);
    expect(seen[1]!.sendAhead).toBe(1);
    expect(seen[0]!.sendAhead).toBe(0);
    run('t1', 1, 10, T0);
    seen = views.refresh(prefetching, 1, T0 + 4000);
    // Busy, yet it may be sent one more, to hold ready; a node without prefetch is not offered any.
    expect(views.free).toEqual([0, 1, 2]);
    expect(views.idle).toEqual([0, 2]);
    expect(seen[1]!.lanes).toEqual([6]);
    run('t2', 1, 3, T0 + 4000, { waiting: true, checkpoint: 'other' });
    seen = views.refresh(prefetching, 1, T0 + 5000);
    // Its lane frees after both; what it has loaded then is the later task's checkpoint.
    expect(seen[1]!.lanes).toEqual([8]);
    expect(seen[1]!.loaded).toBe('other');
    expect(seen[1]!.sendAhead).toBe(0);
    expect(views.free).toEqual([0, 2]);
    // The first ends at 9 s: the held one begins then, and its time counts from there, not from when it was sent.
    attempts.settle('t1', {}, T0 + 9000);
    views.touch(1);
    seen = views.refresh(prefetching, 1, T0 + 10_000);
    expect(attempts.get('t2')!.begunAt).toBe(T0 + 9000);
    expect(seen[1]!.lanes).toEqual([2]);
    expect(seen[1]!.sendAhead).toBe(1);
    expect(views.free).toEqual([0, 1, 2]);
    expect(views.idle).toEqual([0, 2]);
  });

  it('asked again and again, at the same time or later, sees what a fresh read sees (random starts, ends, figures, set-asides, availability)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const r = randomFrom(seed);
      const estimates = new NodeEstimates({ unitsPerSecond: 10, switchSeconds: 6 });
      const health = new NodeHealth({ threshold: 2, baseMs: 5_000 });
      const attempts = new AttemptLedger<null>();
      const sources = { estimates, health, attempts, reportedIdentity: (node: ViewedNode) => node.loadedModel, takesWork: (node: ViewedNode, now: number) => node.available && health.setAside(node.identity, now) === null };
      const views = new NodeViews<ViewedNode>(sources);
      let nodes: ViewedNode[] = Array.from({ length: 6 }, (_, i) => ({ id: `n${i}`, identity: `id-${i}`, slots: 1 + (i % 3 === 2 ? 1 : 0), prefetch: i % 2, loadedModel: `m${i}`, available: true }));
      let now = T0;
      let task = 0;
      const live: { id: string; node: number }[] = [];
      for (let step = 0; step < 200; step++) {
        const op = r();
        if (op < 0.3) {
          const node = Math.floor(r() * nodes.length);
          const n = nodes[node]!;
          const busy = attempts.busySlots(n.id);
          if (busy < n.slots + (n.prefetch ?? 0)) {
            const id = `t${task++}`;
            attempts.start({ taskId: id, attempt: 1, nodeId: n.id, nodeName: n.id, nodeIdentity: n.identity, startedAt: now, begunAt: busy >= n.slots ? null : now, expectedSeconds: 1 + r() * 10, switched: false, checkpoint: r() < 0.5 ? 'c1' : 'c2', task: null });
            live.push({ id, node });
            views.touch(node);
          }
        } else if (op < 0.5 && live.length > 0) {
          const k = Math.floor(r() * live.length);
          const { id, node } = live.splice(k, 1)[0]!;
          attempts.settle(id, {}, now);
          views.touch(node);
          if (r() < 0.2) estimates.record(`id-${node}`, { units: 10, elapsedSeconds: 1 + r(), switched: false });
          if (r() < 0.2) health.failed(`id-${node}`, { taskId: id, reason: 'x' }, now);
        } else if (op < 0.55) {
          const i = Math.floor(r() * nodes.length);
          nodes = nodes.map((n, j) => (j === i ? { ...n, available: !n.available } : n));
          views.nodesSet();
        } else if (op < 0.7) {
          now += Math.floor(r() * 3000);
        }
        if (r() < 0.6) {
          const got = views.refresh(nodes, 1, now).map((v) => ({ ...v, lanes: [...v.lanes] }));
          const fresh = new NodeViews<ViewedNode>(sources);
          const want = fresh.refresh(nodes, 1, now);
          expect({ seed, step, got, free: [...views.free], idle: [...views.idle] }).toEqual({ seed, step, got: want, free: [...fresh.free], idle: [...fresh.idle] });
        }
      }
    }
  });
});
