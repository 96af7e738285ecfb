import { describe, expect, it } from 'vitest';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { toNodeOffering } from '../../../src/domain/offering.js';
import { makeCapabilities } from '../../helpers/capabilities.js';
import { CHILLOUT, CLARITY, chillout, node, schedulerWith, task } from './scheduler-helpers.js';

const NOW = 1_000_000;

describe('Scheduler', () => {
  it('matches capabilities: a task goes only to a node that has its checkpoint', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a', { models: ['clarity'] }), node('b', { models: ['chilloutmix_NiPrunedFp32Fix'] })]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    expect(scheduler.assignments(NOW).map((a) => [a.taskId, a.nodeId])).toEqual([['t1', 'b']]);
  });

  it('binds a task with the family its model was known by when it was queued: a WebUI that cannot tell a Qwen-Image file is no place for it, whatever it was bound to before', () => {
    const qwen = { title: 'qwen_image.safetensors', name: 'qwen_image', fileName: 'qwen_image.safetensors', sha256: null };
    const ref = { id: 'local:qwen_image', name: 'qwen_image' };
    let known: 'qwen-image' | null = null;
    const estimates = new NodeEstimates({ switchSeconds: 8 });
    estimates.seed('webui', { unitsPerSecond: 10, switchSeconds: 8 });
    const scheduler = new Scheduler({ estimates, familyOf: (model) => (model.id === ref.id ? known : null) });
    const webui = { ...node('webui'), offering: toNodeOffering(makeCapabilities({ models: [...makeCapabilities().models, qwen] })) };
    scheduler.setNodes([webui]);
    // While no node tells its family, the file is an SD model to the network: the WebUI runs it.
    scheduler.enqueue(task('before', 'k', { model: ref }), 0);
    const [before] = scheduler.assignments(NOW);
    expect(before?.nodeId).toBe('webui');
    scheduler.start(before!, NOW);
    scheduler.settle({ taskId: 'before' }, { ok: true, elapsedMs: 1000 }, NOW + 1000);
    // A ComfyUI node has since told the network it is Qwen-Image: the next task of that model is not the WebUI's.
    known = 'qwen-image';
    scheduler.enqueue(task('after', 'k', { model: ref }), 0);
    expect(scheduler.assignments(NOW + 2000)).toEqual([]);
    expect(scheduler.unservable().get('after')).toContain('a backend that runs Qwen-Image models (ComfyUI)');
  });

  it('reports queued tasks nobody can serve, with what they lack', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a', { models: ['clarity'] })]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    expect(scheduler.assignments(NOW)).toEqual([]);
    expect(scheduler.unservable()).toEqual(new Map([['t1', 'no connected node has model chillout_mix']]));
  });

  it('names the nodes that could run a queued task when none of them takes work: WebUI down, draining, set aside', () => {
    const scheduler = schedulerWith({ a: 10, b: 10, c: 10 });
    const a = node('a', { models: ['chilloutmix_NiPrunedFp32Fix'] });
    const b = node('b', { models: ['chilloutmix_NiPrunedFp32Fix'] });
    const c = node('c', { models: ['clarity'] });
    scheduler.setNodes([{ ...a, available: false }, b, c]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    expect(scheduler.idleReach('t1', NOW)).toBeNull();
    // b set aside too: neither of the two that hold chillout takes work; c, which cannot run it, is not named.
    for (const taskId of ['f1', 'f2', 'f3']) scheduler.health.failed('b', { taskId, reason: 'WebUI 500' }, NOW);
    expect(scheduler.idleReach('t1', NOW)?.map((n) => n.id)).toEqual(['a', 'b']);
    expect(scheduler.idleReach('unknown', NOW)).toBeNull();
    scheduler.enqueue(task('t2', 'k', { model: { id: 'f'.repeat(64), name: 'nowhere' } }), 0);
    expect(scheduler.idleReach('t2', NOW)).toBeNull();
    scheduler.setNodes([a, b, c]);
    expect(scheduler.idleReach('t1', NOW)).toBeNull();
  });

  it('answers idle reach for tasks of equal needs from one look at their nodes, until their state changes', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    const a = node('a', { models: ['chilloutmix_NiPrunedFp32Fix'] });
    const b = node('b', { models: ['clarity'] });
    scheduler.setNodes([{ ...a, available: false }, b]);
    for (const id of ['t1', 't2']) scheduler.enqueue(task(id, 'k', { model: chillout }), 0);
    const first = scheduler.idleReach('t1', NOW);
    expect(first?.map((n) => n.id)).toEqual(['a']);
    // The same array for the other task and for the next poll: one walk, worded once by the gateway.
    expect(scheduler.idleReach('t2', NOW)).toBe(first);
    expect(scheduler.idleReach('t1', NOW + 500)).toBe(first);
    // a's WebUI is back: said at once, not a second later.
    scheduler.setNodes([a, b]);
    expect(scheduler.idleReach('t1', NOW + 500)).toBeNull();
    // Down again: a new look, a new array.
    scheduler.setNodes([{ ...a, available: false }, b]);
    const again = scheduler.idleReach('t1', NOW + 600);
    expect(again?.map((n) => n.id)).toEqual(['a']);
    expect(again).not.toBe(first);
  });

  it('keeps the tasks nobody can serve as the queue changes between node changes', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a', { models: ['clarity'] })]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    expect([...scheduler.unservable().keys()]).toEqual(['t1']);
    scheduler.enqueue(task('t2', 'k', { model: chillout }), 0);
    scheduler.enqueue(task('t3', 'k'), 0);
    expect([...scheduler.unservable().keys()]).toEqual(['t1', 't2']);
    scheduler.remove('t1');
    expect([...scheduler.unservable().keys()]).toEqual(['t2']);
    scheduler.setNodes([node('a', { models: ['clarity'] }), node('b', { models: ['chilloutmix_NiPrunedFp32Fix'] })]);
    expect(scheduler.unservable().size).toBe(0);
    scheduler.enqueue(task('t4', 'k', { model: chillout }), 0);
    expect(scheduler.unservable().size).toBe(0);
  });

  it('sees a node offer a checkpoint it lacked, and stop offering it, as its offering version changes', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    const lacking = node('a', { models: ['clarity'] });
    const b = node('b', { models: ['clarity'], slots: 1 });
    scheduler.setNodes([lacking, b]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    expect([...scheduler.unservable().keys()]).toEqual(['t1']);
    // Same ids, new offering: the task's cached reach must not survive it.
    const offering = node('a', { models: ['clarity', 'chilloutmix_NiPrunedFp32Fix'], offeringVersion: 1 });
    scheduler.setNodes([offering, b]);
    expect(scheduler.unservable().size).toBe(0);
    expect(scheduler.position('t1')).toBe(1);
    scheduler.setNodes([node('a', { models: ['clarity'], offeringVersion: 2 }), b]);
    expect([...scheduler.unservable().keys()]).toEqual(['t1']);
    // The same offerings in another order: node indices move, so must the task's.
    scheduler.setNodes([b, offering]);
    expect(scheduler.assignments(NOW).map((a) => [a.taskId, a.nodeId])).toEqual([['t1', 'a']]);
  });

  it('sends nothing to a free node that can run none of the queue, and the queue to the node that can once it frees', () => {
    const scheduler = schedulerWith({ small: 10, big: 10 });
    scheduler.setNodes([node('small', { models: ['clarity'] }), node('big', { models: ['chilloutmix_NiPrunedFp32Fix'] })]);
    for (let i = 0; i < 3; i++) scheduler.enqueue(task(`c${i}`, 'k', { model: chillout }), 0);
    const [first] = scheduler.assignments(NOW);
    expect([first!.taskId, first!.nodeId]).toEqual(['c0', 'big']);
    scheduler.start(first!, NOW);
    expect(scheduler.assignments(NOW)).toEqual([]);
    scheduler.enqueue(task('t1'), NOW);
    const [small] = scheduler.assignments(NOW);
    expect([small!.taskId, small!.nodeId]).toEqual(['t1', 'small']);
    scheduler.start(small!, NOW);
    scheduler.settle({ taskId: 't1' }, { ok: true, elapsedMs: 1000 }, NOW + 1000);
    expect(scheduler.assignments(NOW + 2000)).toEqual([]);
    scheduler.settle({ taskId: 'c0' }, { ok: true, elapsedMs: 2000 }, NOW + 2000);
    expect(scheduler.assignments(NOW + 2000).map((a) => [a.taskId, a.nodeId])).toEqual([['c1', 'big']]);
  });

  it('never gives a node more tasks than it has slots', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a', { slots: 2 })]);
    for (let i = 0; i < 5; i++) scheduler.enqueue(task(`t${i}`), 0);
    const first = scheduler.assignments(NOW);
    expect(first).toHaveLength(2);
    first.forEach((a) => scheduler.start(a, NOW));
    expect(scheduler.assignments(NOW)).toEqual([]);
    scheduler.settle({ taskId: 't0' }, { ok: true, elapsedMs: 2000 }, NOW + 2000);
    expect(scheduler.assignments(NOW + 2000).map((a) => a.taskId)).toEqual(['t2']);
  });

  it('prefers the node with the checkpoint loaded and says when a switch is needed', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CHILLOUT })]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    const [only] = scheduler.assignments(NOW);
    expect(only).toMatchObject({ taskId: 't1', nodeId: 'b', switched: false, expectedSeconds: 2 });
  });

  it('counts a switch in the expected time when the node must load the checkpoint', () => {
    const scheduler = schedulerWith({ a: 10 }, 8);
    scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
    scheduler.enqueue(task('t1', 'k', { model: chillout }), 0);
    expect(scheduler.assignments(NOW)[0]).toMatchObject({ switched: true, expectedSeconds: 10 });
  });

  it('ranks a task only among tasks that compete with it for a node', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a', { models: ['clarity'] }), node('b', { models: ['chilloutmix_NiPrunedFp32Fix'] })]);
    scheduler.enqueue(task('c1'), 0);
    scheduler.enqueue(task('c2'), 0);
    scheduler.enqueue(task('x1', 'k', { model: chillout }), 0);
    scheduler.enqueue(task('c3'), 0);
    expect(['c1', 'c2', 'x1', 'c3'].map((id) => scheduler.position(id))).toEqual([1, 2, 1, 3]);
  });

  it('estimates a start from the work ahead and the node speed', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
    for (let i = 0; i < 4; i++) scheduler.enqueue(task(`t${i}`), 0);
    const [first] = scheduler.assignments(NOW);
    scheduler.start(first!, NOW);
    // 20 units each at 10 units/s: t1 starts when t0 ends (2 s), t3 after two more.
    expect(scheduler.eta('t1', NOW)).toBeCloseTo(2);
    expect(scheduler.eta('t3', NOW)).toBeCloseTo(6);
    expect(scheduler.eta('t3', NOW + 1000)).toBeCloseTo(5);
    expect(scheduler.eta('t0', NOW + 500)).toBeCloseTo(1.5);
  });

  it('keeps the first ETA told as a promise: a later arrival fair order puts ahead does not delay the task past it', () => {
    const queueOf = (askFirst: boolean) => {
      const scheduler = schedulerWith({ a: 10 });
      scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
      for (let i = 0; i < 4; i++) scheduler.enqueue(task(`b${i}`, 'big'), NOW);
      scheduler.start(scheduler.assignments(NOW)[0]!, NOW);
      const told = askFirst ? ['b1', 'b2', 'b3'].map((id) => scheduler.eta(id, NOW)) : null;
      scheduler.enqueue(task('s1', 'small'), NOW);
      return { scheduler, told };
    };
    // 2 s per task: b1, b2, b3 are told 2, 4, 6 s. The small key's newcomer is ordered ahead of b3 (and counted in its position)...
    const { scheduler, told } = queueOf(true);
    expect(told).toEqual([2, 4, 6]);
    expect(scheduler.position('s1')).toBeLessThan(scheduler.position('b3')!);
    // ...but starts after it: b3 keeps its promise.
    expect(scheduler.eta('b3', NOW)).toBeCloseTo(6);
    expect(scheduler.eta('s1', NOW)).toBeCloseTo(8);
    // Told nothing before, b3 simply goes after the newcomer.
    expect(queueOf(false).scheduler.eta('b3', NOW)).toBeCloseTo(8);
  });

  it('plans with the work that arrived: an overdue promise forces a switch with less coverage only once arrivals stop', () => {
    // a and b (clarity loaded) run tasks planned at 3 s that overrun; y (chillout) was told 3 s and is 37 s
    // overdue when c (clarity loaded, free) joins. Twenty clarity tasks arrived with y; b alone would not cover them.
    const world = (recent: number) => {
      const scheduler = schedulerWith({ a: 10, b: 10, c: 10 });
      scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY })]);
      for (const id of ['run-a', 'run-b']) scheduler.enqueue(task(id, 'k', { steps: 30 }), NOW);
      for (const sent of scheduler.assignments(NOW)) scheduler.start(sent, NOW);
      scheduler.enqueue(task('y', 'k', { model: chillout }), NOW);
      expect(scheduler.eta('y', NOW)).toBeCloseTo(3);
      for (let i = 0; i < 20; i++) scheduler.enqueue(task(`x${i}`, 'k'), NOW);
      // Work still arriving: `recent` more clarity tasks a second before c joins (ten: 200 units, over 30 % of the fleet's 16 s).
      for (let i = 0; i < recent; i++) scheduler.enqueue(task(`late${i}`, 'k'), NOW + 39_000);
      scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY }), node('c', { loadedModel: CLARITY })]);
      return scheduler.assignments(NOW + 40_000).find((sent) => sent.nodeId === 'c')?.taskId;
    };
    // Nothing arrived over the last 16 s (two loads): the queue drains, and c keeps y's promise.
    expect(world(0)).toBe('y');
    // Steady arrivals: c keeps its own checkpoint, whose work the others would not cover.
    expect(world(10)).toBe('x0');
  });

  it('makes no promise from a guessed speed: before its node is measured, an ETA told binds nothing', () => {
    const scheduler = new Scheduler({ estimates: new NodeEstimates({ unitsPerSecond: 10 }) });
    scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
    for (let i = 0; i < 4; i++) scheduler.enqueue(task(`b${i}`, 'big'), NOW);
    scheduler.start(scheduler.assignments(NOW)[0]!, NOW);
    expect(scheduler.eta('b3', NOW)).toBeCloseTo(6);
    scheduler.enqueue(task('s1', 'small'), NOW);
    expect(scheduler.eta('b3', NOW)).toBeCloseTo(8);
  });

  it('puts a retried task back at its place and tries another node first', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY })]);
    scheduler.enqueue(task('t1'), 0);
    scheduler.enqueue(task('t2'), 0);
    const assignments = scheduler.assignments(NOW);
    expect(assignments).toHaveLength(2);
    const onA = assignments.find((a) => a.nodeId === 'a')!;
    assignments.forEach((a) => scheduler.start(a, NOW));
    scheduler.settle({ taskId: onA.taskId }, { ok: false, requeue: true, failure: { kind: 'DAN_ERR_BACKEND_FAILED', reason: 'boom', blame: 'node-or-task' } }, NOW + 100);
    scheduler.enqueue(task('t3'), 0);
    expect(scheduler.queuedIds()).toEqual([onA.taskId, 't3']);
    const other = assignments.find((a) => a.nodeId === 'b')!;
    scheduler.settle({ taskId: other.taskId }, { ok: true, elapsedMs: 2000 }, NOW + 2000);
    expect(scheduler.assignments(NOW + 2000).find((a) => a.taskId === onA.taskId)?.nodeId).toBe('b');
  });

  it('sets aside a node after three failures in a row and plans nothing on it meanwhile', () => {
    const scheduler = schedulerWith({ a: 10, b: 1 });
    scheduler.setNodes([node('a'), node('b')]);
    let now = NOW;
    for (let i = 0; i < 3; i++) {
      scheduler.enqueue(task(`f${i}`), 0);
      const onA = scheduler.assignments(now).find((a) => a.nodeId === 'a')!;
      scheduler.start(onA, now);
      const setAside = scheduler.settle({ taskId: onA.taskId }, { ok: false, failure: { kind: 'DAN_ERR_BACKEND_FAILED', reason: 'WebUI 500', blame: 'node-or-task' } }, (now += 10))?.setAside;
      expect(setAside === null).toBe(i < 2);
    }
    expect(scheduler.health.setAside('a', now)).toMatchObject({ reason: 'WebUI 500' });
    scheduler.remove('f0');
    scheduler.remove('f1');
    scheduler.remove('f2');
    scheduler.enqueue(task('next'), 0);
    expect(scheduler.assignments(now).map((a) => a.nodeId)).toEqual(['b']);
  });

  it('learns node speed from results', () => {
    const scheduler = schedulerWith({});
    scheduler.setNodes([node('new')]);
    scheduler.enqueue(task('t1'), 0);
    const [a] = scheduler.assignments(NOW);
    scheduler.start({ ...a!, switched: false }, NOW);
    scheduler.settle({ taskId: 't1' }, { ok: true, elapsedMs: 1000 }, NOW + 1000);
    expect(scheduler.estimates.get('new').unitsPerSecond).toBeCloseTo(20);
  });
});
