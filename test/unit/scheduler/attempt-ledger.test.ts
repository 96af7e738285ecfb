import { describe, expect, it } from 'vitest';
import { AttemptLedger, heldLine } from '../../../src/scheduler/attempt-ledger.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const T0 = Date.UTC(2026, 0, 1);

function ledger() {
  const attempts = new AttemptLedger<null>();
  const start = (taskId: string, nodeId: string, startedAt: number, begunAt: number | null = startedAt) =>
    attempts.start({ taskId, attempt: 1, nodeId, nodeName: 'gpu', nodeIdentity: 'gpu-key', startedAt, begunAt, expectedSeconds: 5, switched: false, checkpoint: null, task: null });
  return { attempts, start };
}

describe('AttemptLedger.move: a node that came back on a new connection takes its attempts with it', () => {
  it('moves an attempt to the new connection, whose slots it fills, oldest first among what was sent there since', () => {
    const { attempts, start } = ledger();
    start('old-1', 'gpu-aaaaaa', T0);
    start('new-1', 'gpu-bbbbbb', T0 + 2000);
    expect(attempts.move({ taskId: 'old-1', attempt: 1, fromNodeId: 'gpu-aaaaaa' }, 'gpu-bbbbbb')).toBe(true);
    expect(attempts.busySlots('gpu-aaaaaa')).toBe(0);
    expect(attempts.onNode('gpu-bbbbbb').map((a) => a.taskId)).toEqual(['old-1', 'new-1']);
    expect(attempts.get('old-1')?.nodeId).toBe('gpu-bbbbbb');
  });

  it('refuses an attempt that is not on that node, or another attempt of the task', () => {
    const { attempts, start } = ledger();
    start('t', 'gpu-aaaaaa', T0);
    expect(attempts.move({ taskId: 't', attempt: 1, fromNodeId: 'gpu-cccccc' }, 'gpu-bbbbbb')).toBe(false);
    expect(attempts.move({ taskId: 't', attempt: 2, fromNodeId: 'gpu-aaaaaa' }, 'gpu-bbbbbb')).toBe(false);
    expect(attempts.move({ taskId: 'other', attempt: 1, fromNodeId: 'gpu-aaaaaa' }, 'gpu-bbbbbb')).toBe(false);
    expect(attempts.get('t')?.nodeId).toBe('gpu-aaaaaa');
  });

  it('settles a moved attempt on its new node only, and begins the one held behind it there', () => {
    const { attempts, start } = ledger();
    start('running', 'gpu-aaaaaa', T0);
    start('held', 'gpu-aaaaaa', T0 + 100, null);
    for (const taskId of ['running', 'held']) attempts.move({ taskId, attempt: 1, fromNodeId: 'gpu-aaaaaa' }, 'gpu-bbbbbb');
    expect(attempts.settle('running', { nodeId: 'gpu-aaaaaa' }, T0 + 5000)).toBeUndefined();
    expect(attempts.settle('running', { nodeId: 'gpu-bbbbbb' }, T0 + 5000)?.taskId).toBe('running');
    expect(attempts.get('held')?.begunAt).toBe(T0 + 5000);
  });
});

describe('AttemptLedger timeouts', () => {
  it('times an attempt out when its time passes, but gives it more after a sleep of the gateway (its answer may wait unread)', async () => {
    const clock = new FakeClock();
    const attempts = new AttemptLedger<null>(clock);
    const timedOut: string[] = [];
    const start = (taskId: string) =>
      attempts.start(
        { taskId, attempt: 1, nodeId: 'gpu-aaaaaa', nodeName: 'gpu', nodeIdentity: 'gpu-key', startedAt: clock.now(), begunAt: clock.now(), expectedSeconds: 5, switched: false, checkpoint: null, task: null },
        { ms: 60_000, onTimeout: (attempt) => timedOut.push(attempt.taskId) },
      );
    start('awake');
    await clock.advance(60_001);
    expect(timedOut).toEqual(['awake']);
    start('asleep');
    // The machine sleeps for two minutes: the timer fires once, a minute late.
    await clock.sleep(120_000);
    expect(timedOut).toEqual(['awake']);
    await clock.advance(15_001);
    expect(timedOut).toEqual(['awake', 'asleep']);
    // Once per attempt: asleep again past its new time, it times out at the wake.
    start('twice');
    await clock.sleep(120_000);
    await clock.sleep(60_000);
    expect(timedOut).toEqual(['awake', 'asleep', 'twice']);
  });
});

describe('heldLine: when a node would begin the tasks it holds ready', () => {
  it('each on the slot that frees first, after the one held before it there; a free slot begins one at once', () => {
    const { attempts, start } = ledger();
    // Two slots: one task 1 s in (4 s left of 5), one 4 s in (1 s left); three held, 5 s each.
    start('a', 'gpu', T0 + 3000);
    start('b', 'gpu', T0);
    for (const id of ['h1', 'h2', 'h3']) start(id, 'gpu', T0 + 3500, null);
    const line = heldLine(attempts.onNode('gpu'), 2, T0 + 4000);
    expect(line.map((h) => [h.attempt.taskId, h.beginsIn, h.doneIn])).toEqual([
      ['h1', 1, 6],
      ['h2', 4, 9],
      ['h3', 6, 11],
    ]);
    // Three slots: the third is free, and the first held task begins there now.
    expect(heldLine(attempts.onNode('gpu'), 3, T0 + 4000).map((h) => h.beginsIn)).toEqual([0, 1, 4]);
  });

  it('by the node\'s latest report of the running task, less the time since; an overdue one ends now', async () => {
    const clock = new FakeClock();
    const attempts = new AttemptLedger<null>(clock);
    const start = (taskId: string, begunAt: number | null) =>
      attempts.start({ taskId, attempt: 1, nodeId: 'gpu', nodeName: 'gpu', nodeIdentity: 'gpu-key', startedAt: T0, begunAt, expectedSeconds: 5, switched: false, checkpoint: null, task: null });
    start('a', T0);
    start('h', null);
    // At 1 s, the node says 8 s to go (its expected 5 s said 4).
    await clock.advance(1000);
    attempts.noteProgress({ taskId: 'a', nodeId: 'gpu', attempt: 1 }, 0.5, 8);
    expect(heldLine(attempts.onNode('gpu'), 1, T0 + 3000)[0]?.beginsIn).toBe(6);
    expect(heldLine(attempts.onNode('gpu'), 1, T0 + 20_000)[0]?.beginsIn).toBe(0);
  });
});
