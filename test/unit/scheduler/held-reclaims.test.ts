import { describe, expect, it } from 'vitest';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';
import { Scheduler, type SchedulerNode } from '../../../src/scheduler/scheduler.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { CHILLOUT, CLARITY, chillout, node, schedulerWith, task } from './scheduler-helpers.js';

const NOW = 1_000_000;

/**
 * Each named holder (2 units/s: a 20-unit task takes 10 s) runs one chillout task, begun `begunSecondsAgo`,
 * and holds another ready behind it; then `others` join (idle, or as set).
 */
function holding(holders: string[], others: SchedulerNode[], speeds: Record<string, number>, begunSecondsAgo = 0, clock?: FakeClock): Scheduler {
  const estimates = new NodeEstimates({ switchSeconds: 8 });
  for (const [name, unitsPerSecond] of Object.entries({ ...Object.fromEntries(holders.map((h) => [h, 2])), ...speeds })) estimates.seed(name, { unitsPerSecond, switchSeconds: 8 });
  const s = new Scheduler({ estimates, ...(clock ? { clock } : {}) });
  const holderNodes = holders.map((h) => node(h, { loadedModel: CHILLOUT, prefetch: 1 }));
  s.setNodes(holderNodes);
  const begun = (clock?.now() ?? NOW) - begunSecondsAgo * 1000;
  for (const h of holders) {
    s.enqueue(task(`${h}-running`, 'k', { model: chillout }), begun);
    s.enqueue(task(`${h}-held`, 'k', { model: chillout }), begun);
  }
  const [first] = s.assignments(begun);
  for (const h of holders) {
    // The same binding on every holder (equal offerings): started by hand, one to run and one to hold.
    s.start({ ...first!, taskId: `${h}-running`, nodeId: h, expectedSeconds: 10, switched: false, waitSeconds: 0 }, begun);
    s.start({ ...first!, taskId: `${h}-held`, nodeId: h, expectedSeconds: 10, switched: false, waitSeconds: 10 }, begun);
  }
  expect(s.queuedCount).toBe(0);
  expect(s.attempts.get(`${holders[0]}-held`)).toMatchObject({ begunAt: null });
  s.setNodes([...holderNodes, ...others]);
  return s;
}

const reclaimed = (s: Scheduler, now = NOW) => s.heldReclaims(now).map((r) => [r.taskId, r.fromNodeId, r.assignment.nodeId, r.assignment.switched]);

describe('held reclaims: a task held ready on a busy node, an idle node that finishes it sooner', () => {
  it('takes back the held task for an idle node that finishes it well before its holder begins it', () => {
    // slow would begin it in 10 s and end it in 20; fast (20 units/s), idle with chillout loaded, in 1 s.
    const s = holding(['slow'], [node('fast', { loadedModel: CHILLOUT })], { fast: 20 });
    const [reclaim] = s.heldReclaims(NOW);
    expect(reclaim).toMatchObject({ taskId: 'slow-held', fromNodeId: 'slow', attempt: 1, assignment: { nodeId: 'fast', switched: false, expectedSeconds: 1 } });
    // Taken back (as the dispatcher does) and started there: nothing more to take.
    s.settle({ taskId: 'slow-held', nodeId: 'slow', attempt: 1 }, { ok: false, requeue: true }, NOW);
    expect(s.start(reclaim!.assignment, NOW, { attempt: 2 })).toMatchObject({ nodeId: 'fast', begunAt: NOW });
    expect(s.heldReclaims(NOW)).toEqual([]);
  });

  it('counts the idle node\'s checkpoint load, and takes nothing for a small gain', () => {
    // fast has clarity loaded: chillout takes it 8 s of load and 1 s of work.
    const fast = node('fast', { loadedModel: CLARITY });
    // slow's running task began 8 s ago: 2 s left, then 10 s: 12 s; 9 s is within three quarters of that.
    expect(reclaimed(holding(['slow'], [fast], { fast: 20 }, 8))).toEqual([['slow-held', 'slow', 'fast', true]]);
    // Begun 9 s ago: 11 s, of which three quarters is 8.25 s, less than the 9 s fast would take.
    expect(reclaimed(holding(['slow'], [fast], { fast: 20 }, 9))).toEqual([]);
  });

  it('counts the holder\'s reported end less the time since the report', async () => {
    const clock = new FakeClock();
    // fast has clarity loaded: 9 s for the held chillout task. slow says its running task ends in 6 s.
    const s = holding(['slow'], [node('fast', { loadedModel: CLARITY })], { fast: 20 }, 0, clock);
    expect(s.noteProgress({ taskId: 'slow-running', nodeId: 'slow', attempt: 1 }, 0.4, 6)).toBe(true);
    // Now: 6 + 10 = 16 s, of which three quarters is 12 s.
    expect(reclaimed(s, clock.now())).toEqual([['slow-held', 'slow', 'fast', true]]);
    // 5 s later, with no report since: 1 + 10 = 11 s, of which three quarters (8.25 s) is less than 9 s.
    await clock.advance(5000);
    expect(reclaimed(s, clock.now())).toEqual([]);
  });

  it('after a look that took nothing, rests the same idle nodes for a tenth of a second, not a node newly idle', () => {
    // fast (clarity loaded: 9 s for the task) is not quick enough: slow's running task began 9 s ago (11 s in all).
    const s = holding(['slow'], [node('fast', { loadedModel: CLARITY })], { fast: 20 }, 9);
    expect(reclaimed(s)).toEqual([]);
    // slow now says its running task has 20 s left (30 s in all): fast would gain, but the same idle nodes rest.
    expect(s.noteProgress({ taskId: 'slow-running', nodeId: 'slow', attempt: 1 }, 0.1, 20)).toBe(true);
    expect(reclaimed(s, NOW + 50)).toEqual([]);
    // A progress report (outside a pass) asks for no look meanwhile, and for one after.
    expect(s.mayReclaimFrom('slow', NOW + 50)).toBe(false);
    expect(s.mayReclaimFrom('slow', NOW + 100)).toBe(true);
    expect(reclaimed(s, NOW + 100)).toEqual([['slow-held', 'slow', 'fast', true]]);
    // A node newly idle is looked at once, rest or not.
    const t = holding(['slow'], [node('fast', { loadedModel: CLARITY })], { fast: 20, other: 20 }, 9);
    expect(reclaimed(t)).toEqual([]);
    t.setNodes([node('slow', { loadedModel: CHILLOUT, prefetch: 1 }), node('fast', { loadedModel: CLARITY }), node('other', { loadedModel: CHILLOUT })]);
    expect(reclaimed(t, NOW + 1)).toEqual([['slow-held', 'slow', 'other', false]]);
  });

  it('leaves a task its holder has begun (progress told), and one no idle node can run', () => {
    const s = holding(['slow'], [node('fast', { loadedModel: CHILLOUT })], { fast: 20 });
    expect(s.noteProgress({ taskId: 'slow-held', nodeId: 'slow', attempt: 1 }, 0.05, null)).toBe(true);
    expect(reclaimed(s)).toEqual([]);
    const clarityOnly = node('fast', { loadedModel: CLARITY, models: ['clarity'] });
    expect(reclaimed(holding(['slow'], [clarityOnly], { fast: 20 }))).toEqual([]);
  });

  it('takes nothing for a node that is busy itself', () => {
    const s = holding(['slow'], [node('fast', { loadedModel: CHILLOUT })], { fast: 20 });
    s.enqueue(task('own', 'k', { model: chillout }), NOW);
    const sent = s.assignments(NOW);
    expect(sent.map((a) => [a.taskId, a.nodeId])).toEqual([['own', 'fast']]);
    s.start(sent[0]!, NOW);
    expect(reclaimed(s)).toEqual([]);
  });

  it('counts a holder of two slots as freeing when its first slot frees', () => {
    // duo runs two tasks (one ends in 2 s, one in 10 s) and holds a third: it begins in 2 s, ends in 12 s.
    const withPeer = (peerSpeed: number) => {
      const s = schedulerWith({ duo: 2, peer: peerSpeed });
      const duo = node('duo', { loadedModel: CHILLOUT, slots: 2, prefetch: 1 });
      s.setNodes([duo]);
      for (const id of ['short', 'long', 'held']) s.enqueue(task(id, 'k', { model: chillout }), NOW - 8000);
      const [first] = s.assignments(NOW - 8000);
      const on = (taskId: string, at: number) => s.start({ ...first!, taskId, nodeId: 'duo', expectedSeconds: 10, switched: false, waitSeconds: 0 }, at);
      on('short', NOW - 8000);
      on('long', NOW);
      on('held', NOW);
      expect(s.attempts.get('held')).toMatchObject({ begunAt: null });
      s.setNodes([duo, node('peer', { loadedModel: CHILLOUT })]);
      return reclaimed(s);
    };
    // As fast as duo, peer would take 10 s: not within three quarters of 12 s (the two running tasks are not
    // run one after the other: that would be 22 s).
    expect(withPeer(2)).toEqual([]);
    // Five times faster, 2 s.
    expect(withPeer(10)).toEqual([['held', 'duo', 'peer', false]]);
  });

  it('gives each idle node one task, the one its holder would end last first', () => {
    // slow-a says its running task ends in 6 s (its held task done in 16 s); slow-b's just began (20 s).
    const t = holding(['slow-a', 'slow-b'], [node('fast', { loadedModel: CHILLOUT })], { fast: 20 });
    expect(t.noteProgress({ taskId: 'slow-a-running', nodeId: 'slow-a', attempt: 1 }, 0.4, 6)).toBe(true);
    expect(reclaimed(t)).toEqual([['slow-b-held', 'slow-b', 'fast', false]]);
  });
});
