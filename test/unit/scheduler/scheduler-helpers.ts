/** Small hand-made worlds for the pure scheduler tests. */
import { toNodeOffering } from '../../../src/domain/offering.js';
import type { Txt2ImgSpec } from '../../../src/domain/spec.js';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';
import { Scheduler, type SchedulerNode } from '../../../src/scheduler/scheduler.js';
import { makeCapabilities } from '../../helpers/capabilities.js';
import { chillout, clarity, txt2img } from '../../helpers/specs.js';

export const CLARITY = 'clarity.safetensors [627a6f5c8b]';
export const CHILLOUT = 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]';
export { chillout, clarity, txt2img };

const allModels = makeCapabilities().models;

/** A node holding the named catalog models (by `name`), `clarity` and `chillout` by default. */
export function node(id: string, options: Partial<SchedulerNode> & { models?: string[] } = {}): SchedulerNode {
  const models = allModels.filter((m) => (options.models ?? ['clarity', 'chilloutmix_NiPrunedFp32Fix']).includes(m.name));
  const { models: _omit, ...rest } = options;
  return {
    id,
    name: id,
    offering: toNodeOffering(makeCapabilities({ models })),
    offeringVersion: 0,
    slots: 1,
    loadedModel: null,
    available: true,
    ...rest,
    // Estimates and health are learned by identity; tests that name a node mean that node.
    identity: options.identity ?? options.name ?? id,
  };
}

/** A 512², 20-step Euler a task: 20 work units. */
export function task(id: string, owner = 'k', spec: Partial<Txt2ImgSpec> = {}) {
  return { id, owner, spec: txt2img(spec), priority: 0 };
}

/** A scheduler whose nodes have known speeds (units/s) and switch costs. */
export function schedulerWith(speeds: Record<string, number>, switchSeconds = 8): Scheduler {
  const estimates = new NodeEstimates({ switchSeconds });
  for (const [name, unitsPerSecond] of Object.entries(speeds)) estimates.seed(name, { unitsPerSecond, switchSeconds });
  return new Scheduler({ estimates });
}
