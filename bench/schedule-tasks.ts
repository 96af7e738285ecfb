/**
 * @module bench/schedule-tasks
 *
 * The standard task mix of the scheduler issue, as `GenerationSpec`s the
 * gateway would hold after validating real requests, and their arrival times
 * (all at once, or Poisson at a given rate).
 */
import { catalogLoras } from '../src/domain/catalog.js';
import type { ControlNetUnitSpec, Txt2ImgSpec } from '../src/domain/spec.js';
import type { Checkpoint } from './schedule-nodes.js';
import type { Random } from './schedule-random.js';
import { txt2img } from '../test/helpers/specs.js';

export interface SimTask {
  id: string;
  apiKey: string;
  spec: Txt2ImgSpec;
  arrivalMs: number;
}

/** One key submits half the tasks, four others an eighth each. */
export const API_KEYS: readonly { key: string; share: number }[] = [
  { key: 'key-big', share: 0.5 },
  { key: 'key-1', share: 0.125 },
  { key: 'key-2', share: 0.125 },
  { key: 'key-3', share: 0.125 },
  { key: 'key-4', share: 0.125 },
];

export const SIZE_MIX: readonly { sidePx: number; share: number }[] = [
  { sidePx: 512, share: 0.6 },
  { sidePx: 768, share: 0.3 },
  { sidePx: 1024, share: 0.1 },
];

/** Mostly "Euler a"; "DPM++ SDE" is second order (twice the UNet evaluations per step). */
export const SAMPLER_MIX: readonly { sampler: string; share: number }[] = [
  { sampler: 'Euler a', share: 0.75 },
  { sampler: 'DPM++ 2M', share: 0.15 },
  { sampler: 'DPM++ SDE', share: 0.1 },
];

export const HIRES_SHARE = 0.15;
export const HIRES_SCALE = 1.5;
export const CONTROLNET_SHARE = 0.1;
export const LORA_SHARE = 0.3;

/** A 1×1 PNG: the sim never decodes it, but the spec needs an image. */
const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgAB4iG8MwAAAABJRU5ErkJggg==';

export const CANNY_UNIT: ControlNetUnitSpec = {
  image: TINY_PNG,
  module: 'canny',
  model: 'sd15_canny',
  thresholdA: 100,
  thresholdB: 200,
  weight: 1,
  resizeMode: 'crop_and_resize',
  guidanceStart: 0,
  guidanceEnd: 1,
  guessMode: false,
};

export function makeTxt2Img(checkpoint: Checkpoint, overrides: Partial<Txt2ImgSpec> = {}): Txt2ImgSpec {
  return txt2img({ prompt: 'a lighthouse at dusk', model: checkpoint.ref, ...overrides });
}

function drawLoras(random: Random): Txt2ImgSpec['loras'] {
  if (!random.chance(LORA_SHARE)) return [];
  const first = random.int(0, catalogLoras.length - 1);
  const picks = random.chance(0.5) ? [first] : [first, (first + random.int(1, catalogLoras.length - 1)) % catalogLoras.length];
  return picks.map((i) => ({ lora: { id: catalogLoras[i]!.sha256, name: catalogLoras[i]!.name }, weight: 0.7 }));
}

function drawSpec(random: Random, checkpoints: readonly Checkpoint[], popularity: readonly number[], index: number): Txt2ImgSpec {
  const side = SIZE_MIX[random.weightedIndex(SIZE_MIX.map((s) => s.share))]!.sidePx;
  return makeTxt2Img(checkpoints[random.weightedIndex(popularity)]!, {
    prompt: `bench task ${index}`,
    seed: index,
    width: side,
    height: side,
    steps: random.int(20, 30),
    sampler: SAMPLER_MIX[random.weightedIndex(SAMPLER_MIX.map((s) => s.share))]!.sampler,
    hires: random.chance(HIRES_SHARE) ? { scale: HIRES_SCALE, upscaler: 'Latent', denoisingStrength: 0.5 } : null,
    controlNet: random.chance(CONTROLNET_SHARE) ? [CANNY_UNIT] : [],
    loras: drawLoras(random),
  });
}

/** `count` tasks of the standard mix, all arriving at 0 (see `withArrivals`). */
export function makeStandardTasks(random: Random, checkpoints: readonly Checkpoint[], popularity: readonly number[], count: number): SimTask[] {
  return Array.from({ length: count }, (_, i) => {
    const apiKey = API_KEYS[random.weightedIndex(API_KEYS.map((k) => k.share))]!.key;
    return { id: `t${String(i).padStart(4, '0')}`, apiKey, spec: drawSpec(random, checkpoints, popularity, i), arrivalMs: 0 };
  });
}

export const ArrivalPatterns = ['burst', 'poisson'] as const;
export type ArrivalPattern = (typeof ArrivalPatterns)[number];

/** The same tasks, arriving all at t = 0 (burst) or as a Poisson process of `ratePerSecond`. */
export function withArrivals(tasks: readonly SimTask[], pattern: ArrivalPattern, random: Random, ratePerSecond: number): SimTask[] {
  let atMs = 0;
  return tasks.map((task) => {
    if (pattern === 'poisson') atMs += random.exponential(ratePerSecond) * 1000;
    return { ...task, arrivalMs: atMs };
  });
}
