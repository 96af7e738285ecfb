/**
 * The ideal-fleet reference of the schedule benchmark, on a hand-made fleet:
 * first come, first served, switches free, runs = work / speed.
 */
import { describe, expect, it } from 'vitest';
import { idealFleet, idealRuns } from '../../bench/schedule-ideal.js';
import { type Checkpoint, makeCheckpoints, makeSimNode } from '../../bench/schedule-nodes.js';
import { makeTxt2Img, type SimTask } from '../../bench/schedule-tasks.js';

const [a, b] = makeCheckpoints(2) as [Checkpoint, Checkpoint];
const nodes = [
  makeSimNode({ id: 'fast', speedClass: 'fast', itPerSecond: 20, switchSeconds: 8, checkpoints: [a] }),
  makeSimNode({ id: 'slow', speedClass: 'slow', itPerSecond: 10, switchSeconds: 8, checkpoints: [a, b] }),
];
const task = (i: number, checkpoint: Checkpoint, arrivalMs: number): SimTask => ({ id: `t${i}`, apiKey: 'k', spec: makeTxt2Img(checkpoint, { seed: i }), arrivalMs });
// Three tasks of 40 it·s of work (2 s on fast, 4 s on slow), all needing b, which only slow holds.
const tasks = [task(0, b, 0), task(1, b, 0), task(2, b, 1000)];
const trace = { nodes, workById: new Map(tasks.map((t) => [t.id, 40])) };

describe('the ideal fleet', () => {
  it('serves first come, first served on the node that begins each task earliest, every node holding every checkpoint', () => {
    const run = idealFleet(trace, tasks, 'earliest start', true);
    // t0 on fast at 0 (faster of two free nodes), t1 on slow at 0, t2 on fast at 2 (arrived at 1).
    expect(run.wait).toEqual({ p50: 0, p95: 1, p99: 1, max: 1 });
    expect(run.makespanSeconds).toBe(4);
  });

  it('may leave a task waiting for a faster node under earliest finish', () => {
    // t0 fast 0–2; t1 would finish at 4 on either: the faster, so it waits 2 s while slow is idle; t2 (at 1) slow 1–5.
    const run = idealFleet(trace, tasks, 'earliest finish', true);
    expect(run.wait.max).toBe(2);
    expect(run.makespanSeconds).toBe(5);
  });

  it('keeps each node to its own checkpoints when told to', () => {
    // Only slow holds b: t0 0–4, t1 4–8, t2 8–12.
    const run = idealFleet(trace, tasks, 'earliest start', false);
    expect(run.wait.max).toBe(7);
    expect(run.makespanSeconds).toBe(12);
    expect(idealRuns(trace, tasks).map((r) => r.everyCheckpoint)).toEqual([true, false]);
  });
});
