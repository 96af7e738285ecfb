import { describe, expect, it } from 'vitest';
import { FamilyCosts } from '../../src/domain/family-costs.js';
import type { ModelFamily } from '../../src/domain/families.js';
import { PRIOR_STEP_COSTS } from '../../src/domain/work-units.js';

interface Gpu {
  node: string;
  /** SD 1.5 units a second. */
  speed: number;
  /** Seconds every run takes besides its steps (HTTP, VAE, PNG, the round trip). */
  fixed: number;
}

/**
 * A run of `family` on `gpu` of `sdUnits` SD 1.5-priced work (steps × size factor), whose steps each cost
 * `trueCost` SD 1.5 steps there: it is told its prior-priced units and the seconds it took.
 */
function run(costs: FamilyCosts, gpu: Gpu, family: ModelFamily, trueCost: number, sdUnits = 100): ModelFamily[] {
  return costs.record({ node: gpu.node, family, priorUnits: sdUnits * PRIOR_STEP_COSTS[family], seconds: gpu.fixed + (sdUnits * trueCost) / gpu.speed }).map((r) => r.family);
}

const gpu = (node: string, speed = 20, fixed = 0): Gpu => ({ node, speed, fixed });

describe('FamilyCosts', () => {
  it('starts at the priors, and SD 1.5 (or a model of unknown family) costs 1', () => {
    const costs = new FamilyCosts();
    expect(costs.stepCost('flux2')).toBe(PRIOR_STEP_COSTS.flux2);
    expect(costs.stepCost('sd15')).toBe(1);
    expect(costs.stepCost(null)).toBe(1);
  });

  it('learns a family\'s cost from a node that runs it beside SD 1.5', () => {
    const costs = new FamilyCosts();
    const changed: ModelFamily[] = [];
    for (let i = 0; i < 4; i++) {
      changed.push(...run(costs, gpu('mixed'), 'sd15', 1));
      changed.push(...run(costs, gpu('mixed'), 'flux2', 24));
    }
    expect(costs.stepCost('flux2')).toBeCloseTo(24, 0);
    expect(costs.stepCost('sd15')).toBe(1);
    expect(changed).toContain('flux2');
    expect(costs.version).toBeGreaterThan(0);
  });

  it('tells the fixed part of a run from the step costs, when each family runs at sizes of its own', () => {
    // SD 1.5 at 20 or 30 steps of 512², Flux.1 at 20 or 30 of 1024² (54 or 81 SD units), 0.4 s besides the steps on
    // every run. One slope for all put the prices' error in the fixed part: a cost above or below the guess was
    // never learned.
    for (const trueCost of [2.5, 10]) {
      const costs = new FamilyCosts();
      for (let i = 0; i < 6; i++) {
        for (const node of [gpu('a', 20, 0.4), gpu('b', 8, 0.4)]) {
          run(costs, node, 'sd15', 1, i % 2 === 0 ? 20 : 30);
          run(costs, node, 'flux', trueCost, i % 3 === 0 ? 81 : 54);
        }
      }
      expect(costs.stepCost('flux') / trueCost).toBeGreaterThan(0.9);
      expect(costs.stepCost('flux') / trueCost).toBeLessThan(1.1);
    }
  });

  it('is told nothing by nodes that run one family each, however their times compare', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 10; i++) {
      expect(run(costs, gpu('sd-only'), 'sd15', 1)).toEqual([]);
      // As slow as a Flux.2 step three times the prior, but this node may just be a slow GPU.
      expect(run(costs, gpu('flux2-only'), 'flux2', 42)).toEqual([]);
    }
    expect(costs.stepCost('flux2')).toBe(PRIOR_STEP_COSTS.flux2);
    expect(costs.version).toBe(0);
  });

  it('agrees across mixed nodes of different speeds, and without SD 1.5 keeps the priors\' level', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 6; i++) {
      // SDXL as the prior has it; Flux.1 twice the prior: on a fast and a slow GPU alike.
      for (const node of [gpu('fast', 40), gpu('slow', 8)]) {
        run(costs, node, 'sdxl', PRIOR_STEP_COSTS.sdxl);
        run(costs, node, 'flux', 2 * PRIOR_STEP_COSTS.flux);
      }
    }
    // Only their ratio is told: 2× the priors' ratio, split about the priors' mean (√2 each way).
    expect(costs.stepCost('flux') / costs.stepCost('sdxl')).toBeCloseTo((2 * PRIOR_STEP_COSTS.flux) / PRIOR_STEP_COSTS.sdxl, 1);
    expect(costs.stepCost('flux')).toBeCloseTo(Math.SQRT2 * PRIOR_STEP_COSTS.flux, 1);
  });

  it('lets one node move a cost no further than 2× from its guess; two nodes, further', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 4; i++) {
      run(costs, gpu('one'), 'sd15', 1);
      run(costs, gpu('one'), 'qwen-image', 4 * PRIOR_STEP_COSTS['qwen-image']);
    }
    expect(costs.stepCost('qwen-image')).toBeCloseTo(2 * PRIOR_STEP_COSTS['qwen-image'], 6);
    for (let i = 0; i < 4; i++) {
      run(costs, gpu('two', 10), 'sd15', 1);
      run(costs, gpu('two', 10), 'qwen-image', 4 * PRIOR_STEP_COSTS['qwen-image']);
    }
    expect(costs.stepCost('qwen-image')).toBeCloseTo(4 * PRIOR_STEP_COSTS['qwen-image'], 0);
  });

  it('publishes no change within 10 % of the cost it holds: queued work is not priced again for noise', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 8; i++) {
      expect(run(costs, gpu('mixed'), 'sd15', 1)).toEqual([]);
      expect(run(costs, gpu('mixed'), 'qwen-image', PRIOR_STEP_COSTS['qwen-image'] * (i % 2 === 0 ? 1.08 : 0.95))).toEqual([]);
    }
    expect(costs.stepCost('qwen-image')).toBe(PRIOR_STEP_COSTS['qwen-image']);
    expect(costs.version).toBe(0);
  });

  it('tells a change with its costs before and after, and which nodes ran only that family', () => {
    const costs = new FamilyCosts();
    const changes = [];
    for (let i = 0; i < 3; i++) {
      run(costs, gpu('only-flux'), 'flux', 8);
      run(costs, gpu('only-sd'), 'sd15', 1);
      changes.push(...costs.record({ node: 'mixed', family: 'sd15', priorUnits: 100, seconds: 5 }));
      changes.push(...costs.record({ node: 'mixed', family: 'flux', priorUnits: 100 * PRIOR_STEP_COSTS.flux, seconds: 40 }));
    }
    expect(changes).toEqual([{ family: 'flux', from: PRIOR_STEP_COSTS.flux, to: expect.closeTo(8, 6) }]);
    expect(costs.nodesOnly('flux')).toEqual(['only-flux']);
    expect(costs.nodesOnly('sd15')).toEqual(['only-sd']);
  });

  it('ignores a run with no time or no work', () => {
    const costs = new FamilyCosts();
    for (const seconds of [0, -1, Number.NaN, Infinity]) expect(costs.record({ node: 'n', family: 'flux', priorUnits: 100, seconds })).toEqual([]);
    // (A change is told with the cost it had and the cost it has: see the test of nodesOnly below.)
    expect(costs.record({ node: 'n', family: 'flux', priorUnits: 0, seconds: 1 })).toEqual([]);
    for (let i = 0; i < 4; i++) run(costs, gpu('n'), 'sd15', 1);
    expect(costs.stepCost('flux')).toBe(PRIOR_STEP_COSTS.flux);
  });
});
