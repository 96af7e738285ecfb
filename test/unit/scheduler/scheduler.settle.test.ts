/**
 * Running attempts live in one ledger (scheduler/attempt-ledger.ts), started
 * and settled through the scheduler: settling happens once, and a failure
 * shared by two nodes is put on the task.
 */
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { CLARITY, node, schedulerWith, task } from './scheduler-helpers.js';

const NOW = 1_000_000;
const backendFailed = (reason = 'WebUI 500') => ({ kind: 'DAN_ERR_BACKEND_FAILED', reason, blame: 'node-or-task' as const });

function startOne(scheduler: Scheduler, id: string, now = NOW, attempt = 1) {
  const assignment = scheduler.assignments(now).find((a) => a.taskId === id)!;
  return scheduler.start(assignment, now, { attempt })!;
}

describe('Scheduler attempts', () => {
  it('records a started attempt where the plan and the node list read it, and frees the slot when settled', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
    scheduler.enqueue(task('t1'), 0);
    scheduler.enqueue(task('t2'), 0);
    const running = startOne(scheduler, 't1');
    expect(running).toMatchObject({ taskId: 't1', nodeId: 'a', attempt: 1, progress: 0 });
    expect(scheduler.attempts.busySlots('a')).toBe(1);
    expect(scheduler.assignments(NOW)).toEqual([]);
    expect(scheduler.settle({ taskId: 't1', nodeId: 'a' }, { ok: true, elapsedMs: 2000 }, NOW + 2000)?.attempt.taskId).toBe('t1');
    expect(scheduler.attempts.busySlots('a')).toBe(0);
    expect(scheduler.assignments(NOW + 2000).map((a) => a.taskId)).toEqual(['t2']);
  });

  it('frees the slot of an attempt that was cancelled or failed with no lesson learned: the next task goes there at once', () => {
    const scheduler = schedulerWith({ a: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY })]);
    for (const id of ['t1', 't2', 't3']) scheduler.enqueue(task(id), 0);
    startOne(scheduler, 't1');
    expect(scheduler.assignments(NOW + 50)).toEqual([]);
    scheduler.settle({ taskId: 't1', nodeId: 'a' }, { ok: false }, NOW + 100);
    expect(scheduler.assignments(NOW + 100).map((a) => a.taskId)).toEqual(['t2']);
    startOne(scheduler, 't2', NOW + 100);
    expect(scheduler.assignments(NOW + 150)).toEqual([]);
    scheduler.settle({ taskId: 't2', nodeId: 'a' }, { ok: false, failure: { kind: 'DAN_ERR_BAD_REQUEST', reason: 'refused', blame: 'none' } }, NOW + 200);
    expect(scheduler.assignments(NOW + 200).map((a) => a.taskId)).toEqual(['t3']);
  });

  it('settles an attempt once: a second answer, an answer from another node or of another attempt finds nothing', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a'), node('b')]);
    scheduler.enqueue(task('t1'), 0);
    startOne(scheduler, 't1', NOW, 2);
    const nodeId = scheduler.attempts.get('t1')!.nodeId;
    expect(scheduler.settle({ taskId: 't1', nodeId: nodeId === 'a' ? 'b' : 'a' }, { ok: true }, NOW)).toBeUndefined();
    expect(scheduler.settle({ taskId: 't1', nodeId, attempt: 1 }, { ok: true }, NOW)).toBeUndefined();
    expect(scheduler.settle({ taskId: 't1', nodeId, attempt: 2 }, { ok: true }, NOW)).toBeDefined();
    expect(scheduler.settle({ taskId: 't1', nodeId, attempt: 2 }, { ok: true }, NOW)).toBeUndefined();
    expect(scheduler.attempts.size).toBe(0);
  });

  it('arms a timeout on the clock it was given, and a settled attempt cancels it', async () => {
    const clock = new FakeClock();
    const scheduler = new Scheduler({ clock });
    scheduler.setNodes([node('a')]);
    scheduler.enqueue(task('t1'), 0);
    scheduler.enqueue(task('t2'), 0);
    const timedOut: string[] = [];
    const startNext = () =>
      scheduler.start(scheduler.assignments(clock.now())[0]!, clock.now(), { timeout: { ms: 1000, onTimeout: (a) => timedOut.push(a.taskId) } });
    startNext();
    scheduler.settle({ taskId: 't1' }, { ok: true }, clock.now());
    startNext();
    await clock.advance(999);
    expect(timedOut).toEqual([]);
    await clock.advance(1);
    expect(timedOut).toEqual(['t2']);
    expect(clock.pending).toBe(0);
  });

  it('puts a failure that happens the same way on two nodes on the task: neither node is counted, the task is not requeued', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY })]);
    scheduler.enqueue(task('bad'), 0);
    const first = startOne(scheduler, 'bad');
    const onFirst = scheduler.settle({ taskId: 'bad' }, { ok: false, requeue: true, failure: backendFailed() }, NOW + 1);
    expect(onFirst?.sameWayAs).toBeNull();
    expect(scheduler.queuedIds()).toEqual(['bad']);
    const second = startOne(scheduler, 'bad', NOW + 1, 2);
    expect(second.nodeId).not.toBe(first.nodeId);
    const onSecond = scheduler.settle({ taskId: 'bad' }, { ok: false, requeue: true, failure: backendFailed() }, NOW + 2);
    expect(onSecond?.sameWayAs).toBe(first.nodeName);
    expect(scheduler.queuedIds()).toEqual([]);
    // The first node's count was taken back: two more failed tasks make a streak of 2, short of the 3 that set it aside.
    const health = scheduler.health;
    expect(health.failed(first.nodeName, { taskId: 'x1', reason: 'r' }, NOW + 3)).toBeNull();
    expect(health.failed(first.nodeName, { taskId: 'x2', reason: 'r' }, NOW + 3)).toBeNull();
    expect(health.failed(second.nodeName, { taskId: 'x1', reason: 'r' }, NOW + 3)).toBeNull();
    expect(health.failed(second.nodeName, { taskId: 'x2', reason: 'r' }, NOW + 3)).toBeNull();
  });

  it('counts a failure the same way on two nodes against them when it is not one a task can cause', () => {
    const scheduler = schedulerWith({ a: 10, b: 10 });
    scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY })]);
    scheduler.enqueue(task('t1'), 0);
    const lost = { kind: 'DAN_ERR_NODE_LOST', reason: 'connection closed', blame: 'node' as const };
    startOne(scheduler, 't1');
    scheduler.settle({ taskId: 't1' }, { ok: false, requeue: true, failure: lost }, NOW);
    startOne(scheduler, 't1', NOW, 2);
    expect(scheduler.settle({ taskId: 't1' }, { ok: false, requeue: true, failure: lost }, NOW)?.sameWayAs).toBeNull();
    expect(scheduler.queuedIds()).toEqual(['t1']);
  });
});
