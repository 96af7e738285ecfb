import { describe, expect, it } from 'vitest';
import { NodeHealth } from '../../../src/scheduler/node-health.js';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';

describe('NodeHealth', () => {
  it('sets a node aside after a streak of failures, longer each time, and a success clears the streak', () => {
    const health = new NodeHealth({ threshold: 2, baseMs: 1000, maxMs: 3000 });
    expect(health.failed('n', 'x', 0)).toBeNull();
    expect(health.failed('n', 'y', 0)).toEqual({ until: 1000, reason: 'y' });
    expect(health.setAside('n', 999)).not.toBeNull();
    expect(health.setAside('n', 1000)).toBeNull();
    health.failed('n', 'z', 1000);
    health.succeeded('n');
    expect(health.failed('n', 'z', 1000)).toBeNull();
    expect(health.failed('n', 'z', 1000)).toEqual({ until: 3000, reason: 'z' });
    health.failed('n', 'z', 5000);
    expect(health.failed('n', 'z', 5000)).toEqual({ until: 8000, reason: 'z' });
  });
});

describe('NodeEstimates', () => {
  it('assumes a node not measured yet is like the average measured node', () => {
    const estimates = new NodeEstimates({ unitsPerSecond: 10, switchSeconds: 6 });
    expect(estimates.get('new')).toMatchObject({ unitsPerSecond: 10, switchSeconds: 6 });
    estimates.record('a', { units: 20, elapsedSeconds: 1, switched: false });
    estimates.record('b', { units: 40, elapsedSeconds: 1, switched: false });
    expect(estimates.get('new')).toMatchObject({ unitsPerSecond: 30, samples: 0 });
  });

  it('takes the first speed as measured, then averages, and separates switch time once speed is known', () => {
    const estimates = new NodeEstimates({ unitsPerSecond: 10, switchSeconds: 6 });
    estimates.record('n', { units: 40, elapsedSeconds: 10, switched: true });
    expect(estimates.get('n')).toMatchObject({ unitsPerSecond: 10, samples: 0 });
    estimates.record('n', { units: 40, elapsedSeconds: 2, switched: false });
    expect(estimates.get('n').unitsPerSecond).toBe(20);
    estimates.record('n', { units: 40, elapsedSeconds: 4, switched: false });
    expect(estimates.get('n').unitsPerSecond).toBeCloseTo(17);
    estimates.record('n', { units: 34, elapsedSeconds: 12, switched: true });
    expect(estimates.get('n').switchSeconds).toBeCloseTo(6 + 0.3 * (10 - 6));
  });
});
