import { describe, expect, it } from 'vitest';
import { NodeEstimates, runSeconds } from '../../../src/domain/speed-estimates.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { ModelFamily } from '../../../src/domain/families.js';
import { makeCapabilities } from '../../helpers/capabilities.js';
import { CHILLOUT, CLARITY, chillout, clarity, node, task } from './scheduler-helpers.js';

const NOW = 1_000_000;

/** Runs the one assignment there is to its end: `elapsedMs` in all, `loadMs` of it loading a checkpoint. */
function runOne(scheduler: Scheduler, now: number, timing: { elapsedMs: number; loadMs?: number }) {
  const [assignment] = scheduler.assignments(now);
  scheduler.start(assignment!, now);
  scheduler.settle({ taskId: assignment!.taskId }, { ok: true, ...timing }, now);
  return assignment!;
}

describe('Scheduler: costs learned from results', () => {
  it('plans a switch to a checkpoint at the load time the node measured for it', () => {
    const scheduler = new Scheduler();
    const a = (loadedModel: string) => node('a', { loadedModel });
    scheduler.setNodes([a(CLARITY)]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), NOW);
    expect(runOne(scheduler, NOW, { elapsedMs: 3000, loadMs: 2000 })).toMatchObject({ switched: true });
    scheduler.setNodes([a(CHILLOUT)]);
    scheduler.enqueue(task('t2', 'k', { model: clarity }), NOW);
    runOne(scheduler, NOW, { elapsedMs: 7000, loadMs: 6000 });
    scheduler.setNodes([a(CLARITY)]);
    scheduler.enqueue(task('t3', 'k', { model: chillout }), NOW);
    // 20 units at the 20 units/s both runs showed, after chillout's own 2 s load (the node's typical load is 3.2 s).
    expect(scheduler.assignments(NOW)[0]).toMatchObject({ taskId: 't3', switched: true, expectedSeconds: 3 });
    expect(scheduler.estimates.get('a').switchSeconds).toBeCloseTo(3.2);
  });

  it('scales its thresholds in seconds to the fleet\'s measured loads', () => {
    // The head needs a switch and has waited 10 s longer than a task of the loaded checkpoint.
    const withLoads = (switchSeconds: number) => {
      const estimates = new NodeEstimates();
      estimates.seed('a', { unitsPerSecond: 20, switchSeconds });
      const scheduler = new Scheduler({ estimates });
      scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
      scheduler.enqueue(task('head', 'k', { model: chillout }), NOW - 10_000);
      scheduler.enqueue(task('affine', 'k', { model: clarity }), NOW);
      return scheduler.assignments(NOW)[0]?.taskId;
    };
    // Loads of 8 s: affinity may overtake the head for up to 60 s. Loads of 0.5 s: for up to 3.75 s.
    expect(withLoads(8)).toBe('affine');
    expect(withLoads(0.5)).toBe('head');
  });
});

describe('Scheduler: a queue longer than the horizon it plans', () => {
  /** a has chillout loaded and is free; b has clarity loaded and runs a clarity task (1 s); `queued` clarity tasks wait. */
  function world(queued: number, horizon: number) {
    const estimates = new NodeEstimates();
    for (const name of ['a', 'b']) estimates.seed(name, { unitsPerSecond: 20, switchSeconds: 8 });
    const scheduler = new Scheduler({ estimates, horizon });
    scheduler.setNodes([node('a', { loadedModel: CHILLOUT }), node('b', { loadedModel: CLARITY })]);
    scheduler.enqueue(task('running', 'k', { model: clarity }), NOW);
    const [first] = scheduler.assignments(NOW);
    expect(first).toMatchObject({ taskId: 'running', nodeId: 'b' });
    scheduler.start(first!, NOW);
    for (let i = 0; i < queued; i++) scheduler.enqueue(task(`x${i}`, 'k', { model: clarity }), NOW);
    return scheduler;
  }

  it('says which queued tasks no pass can send: those past the front it plans', () => {
    // Two single-slot nodes: a pass plans the first min(horizon, max(2,000, 4 per slot)) tasks.
    const scheduler = world(5, 3);
    expect(['x0', 'x1', 'x2'].map((id) => scheduler.pastSendingPlan(id))).toEqual([false, false, false]);
    expect(['x3', 'x4'].map((id) => scheduler.pastSendingPlan(id))).toEqual([true, true]);
    // Not queued: running, or unknown.
    expect(scheduler.pastSendingPlan('running')).toBe(false);
    expect(scheduler.pastSendingPlan('nowhere')).toBe(false);
    // With the default horizon, 2,000 tasks are planned whatever the slots.
    const long = world(2500, 10_000);
    expect([long.pastSendingPlan('x1999'), long.pastSendingPlan('x2000')]).toEqual([false, true]);
    // ...and 4 per slot when there are more than 500 slots: a node of 600 joins (602 in all).
    long.setNodes([node('a', { loadedModel: CHILLOUT }), node('b', { loadedModel: CLARITY }), node('c', { slots: 600 })]);
    expect([long.pastSendingPlan('x2407'), long.pastSendingPlan('x2408')]).toEqual([false, true]);
  });

  it('leaves a few seconds of clarity work to b, which has it loaded, rather than switching a', () => {
    expect(world(3, 3).assignments(NOW)).toEqual([]);
  });

  it('switches a when the work past the horizon is more than b would soon serve', () => {
    // Three tasks in the horizon, as above, but 57 more (57 s of b's work) behind them.
    expect(world(60, 3).assignments(NOW)).toMatchObject([{ taskId: 'x0', nodeId: 'a', switched: true }]);
  });
});

describe('idle fallback', () => {
  it('sends the front-most task a held node could run to the idle node that would finish it soonest', () => {
    const estimates = new NodeEstimates({ switchSeconds: 0.1 });
    estimates.seed('one', { unitsPerSecond: 140, switchSeconds: 0.1, fixedSeconds: 0.06 });
    estimates.seed('two', { unitsPerSecond: 45, switchSeconds: 0.1, fixedSeconds: 0.08 });
    estimates.seed('three', { unitsPerSecond: 27, switchSeconds: 0.1, fixedSeconds: 0 });
    const s = new Scheduler({ estimates });
    s.setNodes([node('one', { loadedModel: CLARITY }), node('two', { loadedModel: CHILLOUT }), node('three', { loadedModel: CLARITY })]);
    s.enqueue(task('t1', 'k', { model: chillout, steps: 20, width: 128, height: 128 }), 0);
    s.enqueue(task('t2', 'k', { model: chillout, steps: 20, width: 128, height: 128 }), 0);
    // The plan sends t1 to the node with chillout loaded and keeps t2 for a node that will soon be free.
    const planned = s.assignments(1000);
    expect(planned.map((a) => a.taskId)).toEqual(['t1']);
    s.start(planned[0]!, 1000);
    expect(s.idleNodes(1000)).toEqual(['one', 'three']);
    // Among the nodes idle long enough only: three is slower than one, but one is not among them.
    expect(s.idleFallback(2000, new Set(['three'])).map((a) => [a.taskId, a.nodeId])).toEqual([['t2', 'three']]);
    const fallback = s.idleFallback(2000);
    expect(fallback.map((a) => [a.taskId, a.nodeId])).toEqual([['t2', 'one']]);
    expect(fallback[0]).toMatchObject({ switched: true });
    s.start(fallback[0]!, 2000);
    expect(s.idleNodes(2000)).toEqual([]);
    expect(s.idleFallback(2000)).toEqual([]);
  });

  it('sends an idle node whose loads take far longer than the fleet\'s no task the plan has another node finish sooner', () => {
    // fast runs chillout and has it loaded; hdd (its loads take 30 s) and usual (2 s) have clarity loaded.
    const estimates = new NodeEstimates({ switchSeconds: 2 });
    estimates.seed('fast', { unitsPerSecond: 20, switchSeconds: 2, fixedSeconds: 0 });
    estimates.seed('hdd', { unitsPerSecond: 20, switchSeconds: 30, fixedSeconds: 0 });
    estimates.seed('usual', { unitsPerSecond: 20, switchSeconds: 2, fixedSeconds: 0 });
    const s = new Scheduler({ estimates });
    s.setNodes([node('fast', { loadedModel: CHILLOUT }), node('hdd', { loadedModel: CLARITY }), node('usual', { loadedModel: CLARITY })]);
    for (const id of ['t1', 't2']) s.enqueue(task(id, 'k', { model: chillout, steps: 20 }), 0);
    const sent = s.assignments(1000);
    expect(sent.map((a) => [a.taskId, a.nodeId])).toEqual([['t1', 'fast']]);
    s.start(sent[0]!, 1000);
    // t2 waits for fast (1 s): hdd would load for 30 s first, and is not sent it however long it idles.
    expect(s.idleFallback(3000, new Set(['hdd']))).toEqual([]);
    // A node of the fleet's usual load time is, as before: the plan's hold may be one that outlasts its guess.
    expect(s.idleFallback(3000, new Set(['hdd', 'usual'])).map((a) => [a.taskId, a.nodeId])).toEqual([['t2', 'usual']]);
  });
});

/**
 * A scheduler with one node, p, that holds a task ready: 10 units/s, loads of `switchSeconds` (1 s), no
 * fixed cost, `loaded` loaded. `anyWindow`: tasks are sent ahead however far its lane frees (not half a load).
 */
function holding(loaded: string, options: { anyWindow: boolean; switchSeconds?: number }) {
  const switchSeconds = options.switchSeconds ?? 1;
  const estimates = new NodeEstimates({ switchSeconds });
  estimates.seed('p', { unitsPerSecond: 10, switchSeconds, fixedSeconds: 0 });
  const s = new Scheduler({ estimates, ...(options.anyWindow ? { plan: { sendAheadSeconds: Infinity } } : {}) });
  s.setNodes([node('p', { loadedModel: loaded, prefetch: 1 })]);
  return { s, estimates };
}

/**
 * `holding` with two tasks of `steps` on its loaded checkpoint queued at NOW: the first pass sends only the
 * first (its lane is busy past the window for the second), which starts then.
 */
function firstRunning(options: { switchSeconds?: number }, steps: number) {
  const { s } = holding(CLARITY, { anyWindow: false, ...options });
  for (const id of ['t1', 't2']) s.enqueue(task(id, 'k', { model: clarity, steps }), NOW);
  const [first, ...rest] = s.assignments(NOW);
  expect([first!.taskId, rest]).toEqual(['t1', []]);
  s.start(first!, NOW);
  return s;
}

describe('Scheduler: a node that holds tasks ready (prefetch)', () => {
  it('sends a prefetching node a task to hold behind its running one, and learns its cost from when it began', () => {
    // However far its lane frees (the window is another test's).
    const { s, estimates } = holding(CLARITY, { anyWindow: true });
    for (const id of ['t1', 't2', 't3']) s.enqueue(task(id, 'k', { model: clarity, steps: 20 }), NOW);
    // Free, it is sent its first task and the next, which waits there for the first (2 s) to end.
    const sent = s.assignments(NOW);
    expect(sent.map((a) => [a.taskId, a.waitSeconds])).toEqual([
      ['t1', 0],
      ['t2', 2],
    ]);
    for (const assignment of sent) s.start(assignment, NOW);
    expect(s.attempts.get('t2')!.begunAt).toBeNull();
    // Full: nothing more, and the node is not idle (no fallback).
    expect(s.assignments(NOW + 100)).toEqual([]);
    expect(s.idleNodes(NOW + 100)).toEqual([]);
    // t2 ends at 4 s; running at once after t1 (2 s), not after being sent: 2 s each, no fixed cost learned.
    expect(s.eta('t2', NOW + 1000)).toBeCloseTo(3);
    s.settle({ taskId: 't1' }, { ok: true, elapsedMs: 2000 }, NOW + 2000);
    expect(s.attempts.get('t2')!.begunAt).toBe(NOW + 2000);
    expect(s.assignments(NOW + 2000).map((a) => [a.taskId, a.waitSeconds])).toEqual([['t3', 2]]);
    s.settle({ taskId: 't2' }, { ok: true, elapsedMs: 2000 }, NOW + 4000);
    expect(estimates.get('p').unitsPerSecond).toBeCloseTo(10);
    expect(estimates.get('p').fixedSeconds).toBeCloseTo(0);
  });

  it('sends ahead only within half a load of the lane freeing, and says when that comes', () => {
    // 60 steps: 6 s each; half a load is 0.5 s.
    const s = firstRunning({}, 60);
    expect(s.assignments(NOW + 1000)).toEqual([]);
    // Due when 0.5 s are left of t1's 6 s.
    expect(s.sendAheadDueAt(NOW + 1000)).toBeCloseTo(NOW + 5500);
    expect(s.assignments(NOW + 5600).map((a) => a.taskId)).toEqual(['t2']);
  });

  it('tells a submit that its task may go now only when a node has a free slot, or room and its lane frees within the window', () => {
    const { s } = holding(CLARITY, { anyWindow: false });
    s.enqueue(task('t1', 'k', { model: clarity, steps: 60 }), NOW);
    expect(s.slotsFor('t1', NOW)).toBe('free');
    s.start(s.assignments(NOW)[0]!, NOW);
    // Room to hold one, but t1 runs 6 s: no pass would send t2 now.
    expect(s.assignments(NOW + 1000)).toEqual([]);
    s.enqueue(task('t2', 'k', { model: clarity, steps: 60 }), NOW + 1000);
    expect(s.slotsFor('t2', NOW + 1000)).toBe('busy');
    s.remove('t2');
    // Within half a load of t1's end, one may: counted from the last pass's reading, with no pass since.
    s.enqueue(task('t3', 'k', { model: clarity, steps: 60 }), NOW + 5600);
    expect(s.slotsFor('t3', NOW + 5600)).toBe('free');
  });

  it('sends ahead at least a quarter of a second before the lane frees, however short the loads', () => {
    // Loads measured at nothing: half a load is no time for the round trip.
    const s = firstRunning({ switchSeconds: 0 }, 20);
    // t1 takes 2 s: due with 0.25 s left, and sent then.
    expect(s.assignments(NOW + 1000)).toEqual([]);
    expect(s.sendAheadDueAt(NOW + 1000)).toBeCloseTo(NOW + 1750);
    expect(s.assignments(NOW + 1700)).toEqual([]);
    expect(s.assignments(NOW + 1800).map((a) => a.taskId)).toEqual(['t2']);
  });

  it('sends tasks to hold ahead no sooner than a fifth of the window after the last pass that sent, and fills a free slot at once', () => {
    // Two nodes that hold a task ready; loads of nothing: a window of 0.25 s, passes 50 ms apart.
    const estimates = new NodeEstimates({ switchSeconds: 0 });
    for (const name of ['p', 'q']) estimates.seed(name, { unitsPerSecond: 10, switchSeconds: 0, fixedSeconds: 0 });
    const s = new Scheduler({ estimates });
    s.setNodes(['p', 'q'].map((name) => node(name, { loadedModel: CLARITY, prefetch: 1 })));
    const run = (id: string, at: number) => {
      s.enqueue(task(id, 'k', { model: clarity, steps: 20 }), at);
      const sent = s.assignments(at);
      for (const assignment of sent) s.start(assignment, at);
      return sent.map((a) => [a.taskId, a.nodeId]);
    };
    // Each 2 s long; the second is sent 10 ms after the first pass sent: q's slot was free.
    expect(run('t1', NOW)).toEqual([['t1', 'p']]);
    expect(run('t2', NOW + 10)).toEqual([['t2', 'q']]);
    for (const id of ['t3', 't4']) s.enqueue(task(id, 'k', { model: clarity, steps: 20 }), NOW + 20);
    // p comes within 0.25 s of its end at 1.75 s: sent one to hold.
    const ahead = s.assignments(NOW + 1755);
    expect(ahead.map((a) => [a.taskId, a.nodeId])).toEqual([['t3', 'p']]);
    s.start(ahead[0]!, NOW + 1755);
    // Before q's window (1.76 s): the pass for it is asked for 50 ms after the one that sent, not at 1.76 s.
    expect(s.sendAheadDueAt(NOW + 1756)).toBeCloseTo(NOW + 1805);
    // Within it, a pass 10 ms later sends nothing, and asks for the one at 1.805 s, which sends.
    expect(s.assignments(NOW + 1765)).toEqual([]);
    expect(s.sendAheadDueAt(NOW + 1765)).toBeCloseTo(NOW + 1805);
    expect(s.assignments(NOW + 1805).map((a) => [a.taskId, a.nodeId])).toEqual([['t4', 'q']]);
  });

  it('sends ahead to a node running a task twenty times longer than the window, within the window of its end', () => {
    const { s } = holding(CLARITY, { anyWindow: false, switchSeconds: 0 });
    s.enqueue(task('t1', 'k', { model: clarity, steps: 150 }), NOW);
    s.enqueue(task('t2', 'k', { model: clarity, steps: 20 }), NOW);
    s.start(s.assignments(NOW)[0]!, NOW);
    // t1 takes 15 s: its node is within 0.25 s of its end at 14.75 s (the plan's lanes hold its last twentieth
    // at 0.75 s, which the window does not count), and asked for then.
    expect(s.assignments(NOW + 14_000)).toEqual([]);
    expect(s.sendAheadDueAt(NOW + 14_000)).toBeCloseTo(NOW + 14_750);
    expect(s.assignments(NOW + 14_760).map((a) => a.taskId)).toEqual(['t2']);
  });

  it('counts the gap from the clock when it went back past the last pass that planned', () => {
    // p holds a task ready and runs t1 (2 s) from NOW; q holds chillout only and is free.
    const estimates = new NodeEstimates({ switchSeconds: 0 });
    for (const name of ['p', 'q']) estimates.seed(name, { unitsPerSecond: 10, switchSeconds: 0, fixedSeconds: 0 });
    const s = new Scheduler({ estimates });
    s.setNodes([node('p', { loadedModel: CLARITY, prefetch: 1, models: ['clarity'] }), node('q', { loadedModel: CHILLOUT, models: ['chilloutmix_NiPrunedFp32Fix'] })]);
    for (const id of ['t1', 't2']) s.enqueue(task(id, 'k', { model: clarity, steps: 20 }), NOW);
    s.start(s.assignments(NOW)[0]!, NOW);
    // A pass at 1.74 s plans (q is free for its task; p is not within 0.25 s of its end yet) ...
    s.enqueue(task('q1', 'k', { model: chillout, steps: 20 }), NOW);
    const toQ = s.assignments(NOW + 1740);
    expect(toQ.map((a) => a.taskId)).toEqual(['q1']);
    s.start(toQ[0]!, NOW + 1740);
    // ... then the clock reads 1 s: the pass for p is asked for when it comes within its window (1.75 s), not
    // 50 ms after a pass the clock has not reached.
    expect(s.assignments(NOW + 1000)).toEqual([]);
    expect(s.sendAheadDueAt(NOW + 1000)).toBeCloseTo(NOW + 1750);
  });

  it('asks for a pass soon for the nodes within their window a pass had no lanes left for', () => {
    // 70 nodes that hold a task ready, each running a 2 s task; all within the window at 1.8 s.
    const names = Array.from({ length: 70 }, (_, i) => `n${i}`);
    const estimates = new NodeEstimates({ switchSeconds: 0 });
    for (const name of names) estimates.seed(name, { unitsPerSecond: 10, switchSeconds: 0, fixedSeconds: 0 });
    const s = new Scheduler({ estimates });
    s.setNodes(names.map((name) => node(name, { loadedModel: CLARITY, prefetch: 1 })));
    for (let i = 0; i < 140; i++) s.enqueue(task(`t${i}`, 'k', { model: clarity, steps: 20 }), NOW);
    const first = s.assignments(NOW);
    expect(first.length).toBe(70);
    for (const assignment of first) s.start(assignment, NOW);
    // 64 lanes a pass: six nodes wait, and the next pass that may send ahead is asked for 50 ms on.
    const ahead = s.assignments(NOW + 1800);
    expect(ahead.length).toBe(64);
    for (const assignment of ahead) s.start(assignment, NOW + 1800);
    expect(s.sendAheadDueAt(NOW + 1800)).toBeCloseTo(NOW + 1850);
    expect(s.assignments(NOW + 1850).length).toBe(6);
  });

  it('sends at once, however soon after the last pass that sent, to a node whose lane frees within half the window', () => {
    const { s } = holding(CLARITY, { anyWindow: false, switchSeconds: 0 });
    s.enqueue(task('t1', 'k', { model: clarity, steps: 20 }), NOW);
    s.start(s.assignments(NOW)[0]!, NOW);
    // t2 is 0.1 s long: sent to hold at 1.755 s, within 0.25 s of t1's end.
    s.enqueue(task('t2', 'k', { model: clarity, steps: 1 }), NOW);
    const held = s.assignments(NOW + 1755);
    expect(held.map((a) => a.taskId)).toEqual(['t2']);
    s.start(held[0]!, NOW + 1755);
    // t1 ends at 1.76 s and t2 begins: the lane frees in 0.1 s, within half the window. 15 ms after the pass
    // that sent t2, t3 is sent all the same.
    s.enqueue(task('t3', 'k', { model: clarity, steps: 20 }), NOW + 1760);
    s.settle({ taskId: 't1' }, { ok: true, elapsedMs: 1760 }, NOW + 1760);
    expect(s.assignments(NOW + 1770).map((a) => a.taskId)).toEqual(['t3']);
  });

  it("counts no load for the second of two tasks sent in one pass on the checkpoint the first loads", () => {
    const { s } = holding(CHILLOUT, { anyWindow: true });
    for (const id of ['t1', 't2']) s.enqueue(task(id, 'k', { model: clarity, steps: 5 }), NOW);
    const sent = s.assignments(NOW);
    expect(sent.map((a) => [a.taskId, a.switched])).toEqual([
      ['t1', true],
      ['t2', false],
    ]);
  });

  it('learns from the node alone a held task whose answer came before the one ahead of it', () => {
    const { s, estimates } = holding(CLARITY, { anyWindow: true });
    for (const id of ['t1', 't2']) s.enqueue(task(id, 'k', { model: clarity, steps: 20 }), NOW);
    for (const assignment of s.assignments(NOW)) s.start(assignment, NOW);
    // t2 answered 4 s after it was sent, though it ran 2 s: the node's own measure is what counts.
    s.settle({ taskId: 't2' }, { ok: true, elapsedMs: 2000 }, NOW + 4000);
    expect(estimates.get('p').unitsPerSecond).toBeCloseTo(10);
  });
});

describe('Scheduler: what a step of each family costs', () => {
  // A GPU whose SDXL steps cost 2 SD 1.5 steps (the prior says 1.2): chillout is SDXL here, clarity SD 1.5, anything SDXL.
  const SDXL_COST = 2;
  const anything = { id: makeCapabilities().models[2]!.sha256!, name: 'anything-v4.5-pruned' };
  const ANYTHING = makeCapabilities().models[2]!.title;
  const familyOf = (model: { id: string }): ModelFamily => (model.id === clarity.id ? 'sd15' : 'sdxl');

  it('learns it on a node that runs two families, from its runs with no load, and prices queued work of the family again', () => {
    const estimates = new NodeEstimates();
    for (const name of ['mixed', 'xl-only']) estimates.seed(name, { unitsPerSecond: 20, switchSeconds: 2 });
    const scheduler = new Scheduler({ estimates, familyOf });
    const xlOnly = (available: boolean) => node('xl-only', { models: ['anything-v4.5-pruned'], loadedModel: ANYTHING, available });
    // Queued while the step costs are still the priors; only the node that is away can run it.
    scheduler.enqueue(task('queued-before', 'k', { model: anything }), NOW);
    let now = NOW;
    let loaded = CLARITY;
    const pairs = (count: number) => {
      for (let i = 0; i < count; i++) {
        for (const [model, title] of [[clarity, CLARITY], [chillout, CHILLOUT]] as const) {
          for (const k of [0, 1]) {
            scheduler.setNodes([node('mixed', { loadedModel: loaded }), xlOnly(false)]);
            scheduler.enqueue(task(`t${i}-${model.name}-${k}`, 'k', { model }), now);
            // 20 steps at 512²: 20 SD 1.5 units, 1 s at 20 units/s; SDXL's 2 s; a load 2 s more, and 30 s for one whose load was not timed.
            const loadMs = title === loaded ? 0 : 2000;
            const elapsedMs = (model === clarity ? 1000 : SDXL_COST * 1000) + loadMs;
            const assignment = runOne(scheduler, now, loadMs > 0 ? { elapsedMs, loadMs } : { elapsedMs });
            expect(assignment.taskId).toBe(`t${i}-${model.name}-${k}`);
            loaded = title;
            now += elapsedMs;
          }
        }
      }
    };
    // One pair of each family: one run of each without a load, not enough to tell.
    pairs(1);
    expect(scheduler.familyCosts.stepCost('sdxl')).toBe(1.2);
    pairs(2);
    expect(scheduler.familyCosts.stepCost('sdxl')).toBeCloseTo(SDXL_COST, 1);
    // The away node is back: the task queued before is planned at SDXL's learned cost (40 units, 2 s), not the prior's 1.2 s.
    scheduler.setNodes([node('mixed', { loadedModel: loaded }), xlOnly(true)]);
    expect(scheduler.assignments(now).find((a) => a.taskId === 'queued-before')).toMatchObject({ nodeId: 'xl-only' });
    expect(scheduler.assignments(now).find((a) => a.taskId === 'queued-before')!.expectedSeconds).toBeCloseTo(SDXL_COST, 1);
  });

  it('counts the work of a node that ran only that family in the new units: its next task expected at its real time', () => {
    const scheduler = new Scheduler({ familyOf });
    const xlWorker = node('xl-worker', { models: ['anything-v4.5-pruned'], loadedModel: ANYTHING });
    const mixed = (loadedModel: string) => node('mixed', { loadedModel });
    let now = NOW;
    // The worker runs SDXL only: 20 steps in 2 s, priced at the guess (24 units): 12 units/s.
    for (let i = 0; i < 3; i++) {
      scheduler.setNodes([xlWorker]);
      scheduler.enqueue(task(`xl${i}`, 'k', { model: anything }), now);
      runOne(scheduler, now, { elapsedMs: SDXL_COST * 1000 });
      now += SDXL_COST * 1000;
    }
    expect(runSeconds(scheduler.estimates.get('xl-worker'), 24)).toBeCloseTo(SDXL_COST, 6);
    // A mixed node shows what an SDXL step costs; the worker stands aside meanwhile.
    let loaded = CLARITY;
    for (let i = 0; i < 3; i++) {
      for (const [model, title] of [[clarity, CLARITY], [chillout, CHILLOUT]] as const) {
        for (const k of [0, 1]) {
          scheduler.setNodes([mixed(loaded), { ...xlWorker, available: false }]);
          scheduler.enqueue(task(`m${i}-${model.name}-${k}`, 'k', { model }), now);
          const loadMs = title === loaded ? 0 : 2000;
          const elapsedMs = (model === clarity ? 1000 : SDXL_COST * 1000) + loadMs;
          runOne(scheduler, now, loadMs > 0 ? { elapsedMs, loadMs } : { elapsedMs });
          loaded = title;
          now += elapsedMs;
        }
      }
    }
    expect(scheduler.familyCosts.stepCost('sdxl')).toBeCloseTo(SDXL_COST, 1);
    // Its next SDXL task (40 units now) is expected at 2 s, as its runs took: not 40 / 12 = 3.3 s.
    scheduler.setNodes([mixed(loaded), xlWorker]);
    scheduler.enqueue(task('xl-next', 'k', { model: anything }), now);
    expect(scheduler.assignments(now).find((a) => a.taskId === 'xl-next')).toMatchObject({ nodeId: 'xl-worker', expectedSeconds: expect.closeTo(SDXL_COST, 1) });
  });
});
