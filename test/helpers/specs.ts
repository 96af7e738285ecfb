/** Ready-made specs for pure tests. */
import type { Txt2ImgSpec } from '../../src/domain/spec.js';
import { catalogLoras, catalogModels } from '../../src/domain/catalog.js';

export const clarity = { id: catalogModels[1]!.sha256, name: catalogModels[1]!.name };
export const chillout = { id: catalogModels[0]!.sha256, name: catalogModels[0]!.name };
export const kobeni = { id: catalogLoras[3]!.sha256, name: catalogLoras[3]!.name };

export function txt2img(overrides: Partial<Txt2ImgSpec> = {}): Txt2ImgSpec {
  return {
    kind: 'txt2img',
    prompt: 'a fox',
    negativePrompt: '',
    seed: 1,
    sampler: 'Euler a',
    steps: 20,
    cfgScale: 7,
    width: 512,
    height: 512,
    model: clarity,
    loras: [],
    controlNet: [],
    hires: null,
    ...overrides,
  };
}
