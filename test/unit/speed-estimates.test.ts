import { describe, expect, it } from 'vitest';
import { NodeEstimates, runSeconds } from '../../src/domain/speed-estimates.js';

const run = (units: number, elapsedSeconds: number) => ({ units, elapsedSeconds, switched: false });

describe('NodeEstimates: run time', () => {
  it('assumes a node not measured yet is like the average measured node', () => {
    const estimates = new NodeEstimates({ unitsPerSecond: 10, switchSeconds: 6 });
    expect(estimates.get('new')).toMatchObject({ unitsPerSecond: 10, switchSeconds: 6, samples: 0, switchMeasured: false });
    estimates.record('a', run(20, 1));
    estimates.record('b', run(40, 1));
    expect(estimates.get('new')).toMatchObject({ unitsPerSecond: 30, samples: 0 });
  });

  it('takes the first run as the speed; runs of one size keep the fixed part at 0 and predict that size', () => {
    const estimates = new NodeEstimates();
    estimates.record('n', run(40, 2));
    expect(estimates.get('n')).toMatchObject({ unitsPerSecond: 20, fixedSeconds: 0, samples: 1 });
    estimates.record('n', run(40, 4));
    // Recent runs weigh more: the last (4 s) more than the first (2 s).
    const after = estimates.get('n');
    expect(runSeconds(after, 40)).toBeGreaterThan(3);
    expect(runSeconds(after, 40)).toBeLessThan(4);
    expect(after.fixedSeconds).toBe(0);
  });

  it('fits a fixed part and a speed when runs differ in size, so small and large runs both predict well', () => {
    const estimates = new NodeEstimates();
    // A node with 0.8 s of overhead per task and 25 units/s: a 64² thumbnail and a 1024² poster.
    const truth = (units: number) => 0.8 + units / 25;
    for (const units of [2, 80, 2, 80, 10, 80, 2]) estimates.record('n', run(units, truth(units)));
    const fitted = estimates.get('n');
    expect(fitted.fixedSeconds).toBeCloseTo(0.8, 5);
    expect(fitted.unitsPerSecond).toBeCloseTo(25, 3);
    // Units ÷ elapsed of the last run alone would put a 80-unit run at 80 / (2 / 0.88) = 35 s.
    expect(runSeconds(fitted, 80)).toBeCloseTo(truth(80), 3);
    expect(runSeconds(fitted, 2)).toBeCloseTo(truth(2), 3);
  });

  it('counts a node\'s work in other units when a family\'s step cost changes: the same times, its runs refitted alike', () => {
    const estimates = new NodeEstimates();
    // 0.5 s fixed, 12 units/s, in the old units; the family now costs 5/3 as much a step.
    for (const units of [24, 36, 24, 36]) estimates.record('n', run(units, 0.5 + units / 12));
    estimates.rescaleUnits('n', 5 / 3);
    const rescaled = estimates.get('n');
    expect(rescaled.unitsPerSecond).toBeCloseTo(20, 6);
    expect(rescaled.fixedSeconds).toBeCloseTo(0.5, 6);
    expect(runSeconds(rescaled, 40)).toBeCloseTo(0.5 + 24 / 12, 6);
    // The next run, in the new units, fits the same line.
    estimates.record('n', run(50, 0.5 + 30 / 12));
    expect(estimates.get('n').unitsPerSecond).toBeCloseTo(20, 6);
    // A node never timed keeps its guess.
    estimates.rescaleUnits('never', 2);
    expect(estimates.get('never').samples).toBe(0);
  });

  it('keeps the fixed part it found while the runs go back to one size', () => {
    const estimates = new NodeEstimates();
    const truth = (units: number) => 0.5 + units / 20;
    for (const units of [4, 40, 4, 40]) estimates.record('n', run(units, truth(units)));
    for (let i = 0; i < 20; i++) estimates.record('n', run(40, truth(40)));
    expect(estimates.get('n').fixedSeconds).toBeCloseTo(0.5, 3);
    expect(runSeconds(estimates.get('n'), 4)).toBeCloseTo(truth(4), 3);
  });

  it('learns a run many times longer than the node predicts (the machine slept mid-task) as 4 times, and a real slowdown still', () => {
    const estimates = new NodeEstimates();
    for (let i = 0; i < 5; i++) estimates.record('n', run(20, 1));
    // Five minutes for a 1 s task; taken whole, the node would still be predicted 30 times too slow three runs later.
    estimates.record('n', run(20, 300));
    expect(runSeconds(estimates.get('n'), 20)).toBeLessThan(2.5);
    for (let i = 0; i < 3; i++) estimates.record('n', run(20, 1));
    expect(runSeconds(estimates.get('n'), 20)).toBeLessThan(1.4);
    // The GPU is now 20 times slower for good (shared with a game): the second slow run in a row is taken whole.
    for (let i = 0; i < 3; i++) estimates.record('n', run(20, 20));
    expect(runSeconds(estimates.get('n'), 20)).toBeGreaterThan(10.5);
  });

  it('takes whole a run of a size the fit has not seen: the first thumbnail after posters shows the fixed part', () => {
    const estimates = new NodeEstimates();
    // 1.5 s of HTTP and encoding per task, 20 units/s: posters of 100 units, then thumbnails of half a unit.
    const truth = (units: number) => 1.5 + units / 20;
    for (let i = 0; i < 6; i++) estimates.record('n', run(100, truth(100)));
    // Runs of one size: the fixed part is unknown (0), a thumbnail predicted at 0.025 s; it takes 1.525 s.
    estimates.record('n', run(0.5, truth(0.5)));
    expect(runSeconds(estimates.get('n'), 0.5)).toBeCloseTo(truth(0.5), 1);
    expect(runSeconds(estimates.get('n'), 100)).toBeCloseTo(truth(100), 1);
  });

  it('takes its first runs whole, however far from the figures it started with', () => {
    const estimates = new NodeEstimates({ unitsPerSecond: 10 });
    // A slow GPU: 1.5 units/s, 13 s for 20 units, against the default's 2 s.
    estimates.record('n', run(20, 13.3));
    expect(runSeconds(estimates.get('n'), 20)).toBeCloseTo(13.3);
    // A node's report of itself is no run of the fit: its first runs are taken whole too.
    estimates.seed('m', { unitsPerSecond: 10 });
    for (let i = 0; i < 3; i++) estimates.record('m', run(20, 13.3));
    expect(runSeconds(estimates.get('m'), 20)).toBeCloseTo(13.3);
  });
});

describe('NodeEstimates: checkpoint loads', () => {
  it('learns each checkpoint load the node timed, and plans an unknown checkpoint at the node\'s typical load', () => {
    const estimates = new NodeEstimates({ switchSeconds: 6 });
    estimates.record('n', run(20, 1));
    expect(estimates.get('n')).toMatchObject({ switchSeconds: 6, switchMeasured: false });
    estimates.record('n', { units: 20, elapsedSeconds: 21, switched: true, checkpoint: 'sdxl', loadSeconds: 20 });
    estimates.record('n', { units: 20, elapsedSeconds: 5, switched: true, checkpoint: 'sd15', loadSeconds: 4 });
    expect(estimates.loadSeconds('n', 'sdxl')).toBe(20);
    expect(estimates.loadSeconds('n', 'sd15')).toBe(4);
    // The node's typical load: the first load outright, then 30 % of the way to each next one.
    expect(estimates.get('n')).toMatchObject({ switchMeasured: true });
    expect(estimates.get('n').switchSeconds).toBeCloseTo(20 + 0.3 * (4 - 20));
    expect(estimates.loadSeconds('n', 'never-loaded')).toBeCloseTo(15.2);
    // The generation part of each switched run taught the speed: 1 s for 20 units every time.
    expect(estimates.get('n').unitsPerSecond).toBeCloseTo(20);
  });

  it('moves a checkpoint\'s figure halfway to each new load: a cold first load counts for less over time', () => {
    const estimates = new NodeEstimates();
    estimates.record('n', { units: 20, elapsedSeconds: 11, switched: true, checkpoint: 'a', loadSeconds: 10 });
    estimates.record('n', { units: 20, elapsedSeconds: 5, switched: true, checkpoint: 'a', loadSeconds: 4 });
    expect(estimates.loadSeconds('n', 'a')).toBe(7);
    estimates.record('n', { units: 20, elapsedSeconds: 5, switched: true, checkpoint: 'a', loadSeconds: 4 });
    expect(estimates.loadSeconds('n', 'a')).toBe(5.5);
  });

  it('learns a load many times its checkpoint\'s own figure as 4 times, and a first load of a checkpoint whole', () => {
    const estimates = new NodeEstimates();
    estimates.record('n', { units: 20, elapsedSeconds: 3, switched: true, checkpoint: 'sd15', loadSeconds: 2 });
    // The first load of an SDXL file from a cold disk: 15 times the node's typical load, and true.
    estimates.record('n', { units: 20, elapsedSeconds: 31, switched: true, checkpoint: 'sdxl', loadSeconds: 30 });
    expect(estimates.loadSeconds('n', 'sdxl')).toBe(30);
    // The machine slept while it loaded sd15 again: 10 minutes.
    estimates.record('n', { units: 20, elapsedSeconds: 601, switched: true, checkpoint: 'sd15', loadSeconds: 600 });
    expect(estimates.loadSeconds('n', 'sd15')).toBe(2 + 0.5 * (8 - 2));
  });

  it('learns a checkpoint\'s real loads after a load of it found it in memory (near 0 s)', () => {
    const estimates = new NodeEstimates();
    for (let i = 0; i < 4; i++) estimates.record('n', run(10, 1));
    // Timed at 0 s (already loaded), or untimed and faster than predicted: the figure is 0.
    estimates.record('n', { units: 10, elapsedSeconds: 1, switched: true, checkpoint: 'a', loadSeconds: 0 });
    estimates.record('n', { units: 10, elapsedSeconds: 0.9, switched: true, checkpoint: 'b' });
    expect([estimates.loadSeconds('n', 'a'), estimates.loadSeconds('n', 'b')]).toEqual([0, 0]);
    for (let i = 0; i < 6; i++) {
      estimates.record('n', { units: 10, elapsedSeconds: 11, switched: true, checkpoint: 'a', loadSeconds: 10 });
      estimates.record('n', { units: 10, elapsedSeconds: 11, switched: true, checkpoint: 'b' });
    }
    expect(estimates.loadSeconds('n', 'a')).toBeGreaterThan(9);
    expect(estimates.loadSeconds('n', 'b')).toBeGreaterThan(9);
    expect(estimates.get('n').switchSeconds).toBeGreaterThan(8);
  });

  it('finds a load hidden in the generation (a backend that loads lazily) from the known speed, and learns no speed from it', () => {
    const estimates = new NodeEstimates();
    estimates.record('n', run(20, 1));
    // The load call returned at once; the checkpoint was loaded with the generation, 8 s longer than the speed says.
    estimates.record('n', { units: 20, elapsedSeconds: 9.05, switched: true, checkpoint: 'a', loadSeconds: 0.05 });
    expect(estimates.loadSeconds('n', 'a')).toBeCloseTo(8.05);
    expect(estimates.get('n').unitsPerSecond).toBe(20);
  });

  it('takes an untimed load (an older node) as what the known speed leaves over, and nothing before the speed is known', () => {
    const estimates = new NodeEstimates({ switchSeconds: 6 });
    estimates.record('n', { units: 40, elapsedSeconds: 10, switched: true, checkpoint: 'a' });
    expect(estimates.get('n')).toMatchObject({ samples: 0, switchMeasured: false });
    estimates.record('n', run(40, 2));
    estimates.record('n', { units: 40, elapsedSeconds: 5, switched: true, checkpoint: 'a' });
    expect(estimates.loadSeconds('n', 'a')).toBeCloseTo(3);
    expect(estimates.get('n').switchMeasured).toBe(true);
  });

  it('gives an unmeasured node the measured peers\' load, and the fleet\'s typical load is their median', () => {
    const estimates = new NodeEstimates({ switchSeconds: 6 });
    expect(estimates.typicalSwitchSeconds()).toBe(6);
    for (const [name, load] of [['a', 1], ['b', 2], ['c', 30]] as const) {
      estimates.record(name, { units: 10, elapsedSeconds: load + 1, switched: true, checkpoint: 'x', loadSeconds: load });
    }
    expect(estimates.typicalSwitchSeconds()).toBe(2);
    expect(estimates.get('new')).toMatchObject({ switchSeconds: 11, switchMeasured: false });
  });

  it('takes a node\'s own report as measured, until its results say otherwise', () => {
    const estimates = new NodeEstimates();
    estimates.seed('n', { unitsPerSecond: 15, switchSeconds: 0.4, fixedSeconds: 0.2 });
    expect(estimates.get('n')).toMatchObject({ unitsPerSecond: 15, fixedSeconds: 0.2, switchSeconds: 0.4, switchMeasured: true, samples: 1 });
    estimates.seed('n', { unitsPerSecond: 99 });
    expect(estimates.get('n').unitsPerSecond).toBe(15);
  });

  it('averages each measured node\'s latest figures once, however often they changed', () => {
    const estimates = new NodeEstimates({ unitsPerSecond: 10, switchSeconds: 6 });
    // a's speed moves with every run; b is measured once; c only loads.
    for (let i = 1; i <= 50; i++) estimates.record('a', run(10 * i, i / 2));
    estimates.seed('b', { unitsPerSecond: 40, fixedSeconds: 0.5, switchSeconds: 3 });
    estimates.record('c', { units: 10, elapsedSeconds: 5, switched: true, checkpoint: 'x', loadSeconds: 5 });
    estimates.record('c', { units: 10, elapsedSeconds: 2, switched: true, checkpoint: 'x', loadSeconds: 2 });
    const a = estimates.get('a');
    const c = estimates.get('c');
    expect(c.switchMeasured).toBe(true);
    const fresh = estimates.get('new');
    expect(fresh.unitsPerSecond).toBeCloseTo((a.unitsPerSecond + 40) / 2, 9);
    expect(fresh.fixedSeconds).toBeCloseTo((a.fixedSeconds + 0.5) / 2, 9);
    expect(fresh.switchSeconds).toBeCloseTo((3 + c.switchSeconds) / 2, 9);
    // Read without a new object, as a scheduling pass reads every node: the same figures.
    const into = { unitsPerSecond: 0, fixedSeconds: 0, switchSeconds: 0, switchMeasured: true };
    estimates.readInto('new', into);
    expect(into).toEqual({ unitsPerSecond: fresh.unitsPerSecond, fixedSeconds: fresh.fixedSeconds, switchSeconds: fresh.switchSeconds, switchMeasured: false });
    // A measured node whose loads are not: its own speed, the peers' load.
    estimates.readInto('a', into);
    expect(into).toEqual({ unitsPerSecond: a.unitsPerSecond, fixedSeconds: a.fixedSeconds, switchSeconds: (3 + c.switchSeconds) / 2, switchMeasured: false });
  });

  it("works the fleet's figures out again when a report or a result changes them (they are kept between)", () => {
    const estimates = new NodeEstimates({ switchSeconds: 6 });
    estimates.seed('a', { unitsPerSecond: 10, switchSeconds: 2 });
    expect([estimates.typicalSwitchSeconds(), estimates.get('new').unitsPerSecond]).toEqual([2, 10]);
    estimates.seed('a', { unitsPerSecond: 10, switchSeconds: 2 });
    estimates.seed('b', { unitsPerSecond: 30 });
    expect([estimates.typicalSwitchSeconds(), estimates.get('new').unitsPerSecond]).toEqual([2, 20]);
    estimates.seed('c', { unitsPerSecond: 30, switchSeconds: 1 });
    expect(estimates.typicalSwitchSeconds()).toBe(1);
    // A run with no load moves the speeds, not the loads; a run with a timed load moves the median too.
    estimates.record('b', { units: 10, elapsedSeconds: 1, switched: false });
    expect(estimates.get('new').unitsPerSecond).toBeLessThan(20);
    // a's load: 2 → 2.3 (the median of 1 and 2.3 stays 1); c's: 1 → 3.4, and the median becomes a's 2.3.
    estimates.record('a', { units: 10, elapsedSeconds: 4, switched: true, checkpoint: 'x', loadSeconds: 3 });
    estimates.record('c', { units: 10, elapsedSeconds: 10, switched: true, checkpoint: 'x', loadSeconds: 9 });
    expect(estimates.typicalSwitchSeconds()).toBeCloseTo(2.3);
  });
});
