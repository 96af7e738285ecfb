/**
 * A ComfyUI task's progress over its sampler passes, and its ETA from the pace of the steps: none before a
 * second step has been seen (the first one's time includes loading the model), never a false 0.
 */
import { describe, expect, it } from 'vitest';
import { progressReporter } from '../../src/node/backends/comfyui/progress-reporter.js';
import type { BuiltGraph } from '../../src/node/backends/comfyui/graph-builder.js';
import type { RunProgress } from '../../src/node/backend-driver.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('progressReporter', () => {
  it('counts the steps of both passes, and gives an ETA from the second step on', async () => {
    const clock = new FakeClock();
    const built = { samplerPasses: [{ node: '5', steps: 10 }, { node: '9', steps: 10 }] } as unknown as BuiltGraph;
    const seen: RunProgress[] = [];
    const reporter = progressReporter(built, clock, (progress) => seen.push(progress));
    reporter.step('5', 1, 10);
    expect(seen).toEqual([{ progress: 0.05, etaSeconds: null }]);
    await clock.advance(1_000);
    reporter.step('5', 2, 10);
    // One step (5 %) a second: 18 more steps, 18 s.
    expect(seen[1]).toEqual({ progress: 0.1, etaSeconds: 18 });
    await clock.advance(1_000);
    reporter.step('9', 1, 10);
    expect(seen[2]?.progress).toBeCloseTo(0.55);
  });
});
