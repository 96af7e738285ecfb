import { describe, expect, it } from 'vitest';
import { NodeHealth } from '../../../src/scheduler/node-health.js';

describe('NodeHealth', () => {
  const fail = (health: NodeHealth, taskId: string, reason: string, now: number) => health.failed('n', { taskId, reason }, now);

  it('sets a node aside after a streak of failed tasks, longer each time, and a success clears the streak', () => {
    const health = new NodeHealth({ threshold: 2, baseMs: 1000, maxMs: 3000 });
    expect(fail(health, 't1', 'x', 0)).toBeNull();
    expect(fail(health, 't2', 'y', 0)).toEqual({ until: 1000, reason: 'y' });
    expect(health.setAside('n', 999)).not.toBeNull();
    expect(health.setAside('n', 1000)).toBeNull();
    fail(health, 't3', 'z', 1000);
    health.succeeded('n');
    expect(fail(health, 't4', 'z', 1000)).toBeNull();
    // The success took one doubling off: 1000 ms again, not 2000.
    expect(fail(health, 't5', 'z', 1000)).toEqual({ until: 2000, reason: 'z' });
    fail(health, 't6', 'z', 5000);
    expect(fail(health, 't7', 'z', 5000)).toEqual({ until: 7000, reason: 'z' });
    fail(health, 't8', 'z', 9000);
    expect(fail(health, 't9', 'z', 9000)).toEqual({ until: 12_000, reason: 'z' });
  });

  it('counts one task failing again and again on the same node once', () => {
    const health = new NodeHealth({ threshold: 2, baseMs: 1000 });
    expect(fail(health, 'bad', 'x', 0)).toBeNull();
    expect(fail(health, 'bad', 'x', 0)).toBeNull();
    expect(fail(health, 'bad', 'x', 0)).toBeNull();
    expect(health.setAside('n', 0)).toBeNull();
    expect(fail(health, 'other', 'x', 0)).not.toBeNull();
  });

  it('takes back a failure the task caused, and lifts the set-aside it helped cause', () => {
    const health = new NodeHealth({ threshold: 2, baseMs: 1000 });
    fail(health, 't1', 'x', 0);
    expect(fail(health, 'bad', 'x', 0)).not.toBeNull();
    health.retract('n', 'bad', 10);
    expect(health.setAside('n', 10)).toBeNull();
    // t1 is still in the streak: one more failed task sets the node aside, for the first length again.
    expect(fail(health, 't2', 'x', 20)).toEqual({ until: 1020, reason: 'x' });
  });

  it('takes back the doubling of a set-aside already over when one of its causes is taken back', () => {
    const health = new NodeHealth({ threshold: 3, baseMs: 60_000 });
    for (const t of ['t1', 't2', 't3']) fail(health, t, 'x', 0);
    expect(health.setAside('n', 0)?.until).toBe(60_000);
    health.retract('n', 't3', 120_000);
    for (const t of ['t4', 't5', 't6']) fail(health, t, 'y', 200_000);
    // A first offence again: 60 s, not the doubled 120 s.
    expect(health.setAside('n', 200_000)?.until).toBe(260_000);
  });

  it('keeps a set-aside that the taken-back task had no part in', () => {
    const health = new NodeHealth({ threshold: 2, baseMs: 1000 });
    fail(health, 't1', 'x', 0);
    fail(health, 't2', 'x', 0);
    health.retract('n', 'unrelated', 10);
    expect(health.setAside('n', 10)).not.toBeNull();
  });
});
