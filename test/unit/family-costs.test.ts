import { describe, expect, it } from 'vitest';
import { FamilyCosts } from '../../src/domain/family-costs.js';
import type { ModelFamily } from '../../src/domain/families.js';
import { PRIOR_STEP_COSTS } from '../../src/domain/work-units.js';

/**
 * A run of `family` on `node`, whose GPU does `speed` SD 1.5 units a second and a step of `family` at `trueCost`
 * times an SD 1.5 step: 100 prior-priced units take 100 × trueCost / prior / speed seconds.
 */
function run(costs: FamilyCosts, node: string, family: ModelFamily, speed: number, trueCost: number): ModelFamily[] {
  const priorUnits = 100;
  return costs.record({ node, family, priorUnits, stepSeconds: (priorUnits * trueCost) / PRIOR_STEP_COSTS[family] / speed });
}

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
      changed.push(...run(costs, 'mixed', 'sd15', 20, 1));
      changed.push(...run(costs, 'mixed', 'flux2', 20, 28));
    }
    expect(costs.stepCost('flux2')).toBeCloseTo(28, 0);
    expect(costs.stepCost('sd15')).toBe(1);
    expect(changed).toContain('flux2');
    expect(costs.version).toBeGreaterThan(0);
  });

  it('is told nothing by nodes that run one family each, however their times compare', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 10; i++) {
      expect(run(costs, 'sd-only', 'sd15', 20, 1)).toEqual([]);
      // As slow as a Flux.2 step three times the prior, but this node may just be a slow GPU.
      expect(run(costs, 'flux2-only', 'flux2', 20, 42)).toEqual([]);
    }
    expect(costs.stepCost('flux2')).toBe(PRIOR_STEP_COSTS.flux2);
    expect(costs.version).toBe(0);
  });

  it('agrees across mixed nodes of different speeds, and without SD 1.5 keeps the priors\' level', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 6; i++) {
      // SDXL as the prior has it; Flux.1 twice the prior: on a fast and a slow GPU alike.
      run(costs, 'fast', 'sdxl', 40, PRIOR_STEP_COSTS.sdxl);
      run(costs, 'fast', 'flux', 40, 2 * PRIOR_STEP_COSTS.flux);
      run(costs, 'slow', 'sdxl', 8, PRIOR_STEP_COSTS.sdxl);
      run(costs, 'slow', 'flux', 8, 2 * PRIOR_STEP_COSTS.flux);
    }
    // Only their ratio is told: 2× the priors' ratio, split about the priors' mean (√2 each way).
    expect(costs.stepCost('flux') / costs.stepCost('sdxl')).toBeCloseTo((2 * PRIOR_STEP_COSTS.flux) / PRIOR_STEP_COSTS.sdxl, 1);
    expect(costs.stepCost('flux')).toBeCloseTo(Math.SQRT2 * PRIOR_STEP_COSTS.flux, 1);
  });

  it('publishes no change within 10 % of the cost it holds: queued work is not priced again for noise', () => {
    const costs = new FamilyCosts();
    for (let i = 0; i < 8; i++) {
      expect(run(costs, 'mixed', 'sd15', 20, 1)).toEqual([]);
      expect(run(costs, 'mixed', 'qwen-image', 20, PRIOR_STEP_COSTS['qwen-image'] * (i % 2 === 0 ? 1.08 : 0.95))).toEqual([]);
    }
    expect(costs.stepCost('qwen-image')).toBe(PRIOR_STEP_COSTS['qwen-image']);
    expect(costs.version).toBe(0);
  });

  it('ignores a run with no step time (all fixed part or load)', () => {
    const costs = new FamilyCosts();
    expect(costs.record({ node: 'n', family: 'flux', priorUnits: 100, stepSeconds: 0 })).toEqual([]);
    expect(costs.record({ node: 'n', family: 'flux', priorUnits: 100, stepSeconds: -1 })).toEqual([]);
    for (let i = 0; i < 4; i++) run(costs, 'n', 'sd15', 20, 1);
    expect(costs.stepCost('flux')).toBe(PRIOR_STEP_COSTS.flux);
  });
});
