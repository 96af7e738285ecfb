/**
 * @module domain/work-units
 *
 * How much GPU work a task is, in **work units**: sampler steps of a
 * first-order sampler at 512×512 (a node's speed is measured in units per
 * second, i.e. its it/s at 512²). From the published figures in
 * reference/backends.md E:
 * - a step at W×H costs (W·H / 512²)^0.72 units (4× the pixels ≈ 2.7× the time);
 * - second-order samplers (Heun, DPM2, DPM2 a, DPM++ 2S a, DPM++ SDE, Restart)
 *   evaluate the UNet twice per step: ×2;
 * - each ControlNet unit adds ≈30% per step;
 * - hires fix runs the same number of steps again at the target size, plus
 *   ≈0.5 s per output megapixel for a model upscaler (ESRGAN and friends);
 * - img2img samples int(min(strength, 0.999) × steps) + 1 steps;
 * - interrogation ≈1.5 s and extras upscaling ≈0.5 s per output megapixel,
 *   converted at the reference speed below;
 * - a step of another model family costs its `stepCost` times SD 1.5's at the
 *   same size (`PRIOR_STEP_COSTS` guesses it; the gateway learns it,
 *   domain/family-costs.ts): a Flux.2 step is not an SD 1.5 step.
 * Pure: no I/O, no clock.
 */
import type { ModelFamily } from './families.js';
import type { DiffusionSpec, GenerationSpec } from './spec.js';

const REFERENCE_PIXELS = 512 * 512;
const PIXEL_EXPONENT = 0.72;
/** Seconds-based costs are converted to units at this speed (a mid-range GPU). */
export const REFERENCE_UNITS_PER_SECOND = 15;
const INTERROGATE_SECONDS = 1.5;
const UPSCALER_SECONDS_PER_MEGAPIXEL = 0.5;

const SECOND_ORDER = ['heun', 'dpm2', 'dpm2 a', 'dpm++ 2s a', 'dpm++ sde', 'restart'];

/** Whether a sampler (legacy "… Karras" spellings included) evaluates the UNet twice per step. */
export function isSecondOrderSampler(name: string): boolean {
  const lower = name.toLowerCase();
  return SECOND_ORDER.some((s) => lower === s || lower.startsWith(`${s} `));
}

/**
 * What a sampler step of each family costs against an SD 1.5 step at the same size, before the network has
 * measured it: rough figures, from the one published comparison at hand and the models' sizes. SDXL's UNet
 * does about SD 1.5's it/s at 1024² (a 4090: 6–7 against SD 1.5's 7.5); Flux.1's 12B transformer, as
 * users commonly report it, 1–1.5 it/s there (≈ 5×); the others scaled from Flux.1 by their transformers' sizes
 * (Qwen-Image 20B, Flux.2 [dev] 32B, Z-Image 6B). Wrong by half would still be far better than 1 for all:
 * the gateway corrects them from what mixed nodes measure (domain/family-costs.ts).
 */
export const PRIOR_STEP_COSTS: Readonly<Record<ModelFamily, number>> = {
  sd15: 1,
  sdxl: 1.2,
  flux: 5,
  flux2: 14,
  'qwen-image': 9,
  'z-image-turbo': 2.5,
  // Flux.1's transformer, its sequence half as long again with the reference image's tokens.
  'flux-kontext': 7.5,
  // Qwen-Image's transformer, the same way (the image's tokens in both prompts' sequences).
  'qwen-image-edit': 13.5,
};

function stepUnits(pixels: number, spec: DiffusionSpec, stepCost: number): number {
  const order = isSecondOrderSampler(spec.sampler) ? 2 : 1;
  const control = 1 + 0.3 * spec.controlNet.length;
  return (pixels / REFERENCE_PIXELS) ** PIXEL_EXPONENT * order * control * stepCost;
}

function upscalerUnits(outputPixels: number): number {
  return (outputPixels / 1_000_000) * UPSCALER_SECONDS_PER_MEGAPIXEL * REFERENCE_UNITS_PER_SECOND;
}

/**
 * Work units of a task (see the module comment). `stepCost`: what a step of its model's family costs against
 * SD 1.5's (1: SD 1.5, or a family not known); upscalers and interrogators cost the same under any model.
 */
export function workUnitsOf(spec: GenerationSpec, stepCost = 1): number {
  switch (spec.kind) {
    case 'txt2img': {
      const first = spec.steps * stepUnits(spec.width * spec.height, spec, stepCost);
      if (!spec.hires) return first;
      const target = Math.floor(spec.width * spec.hires.scale) * Math.floor(spec.height * spec.hires.scale);
      const upscaler = spec.hires.upscaler.toLowerCase().startsWith('latent') ? 0 : upscalerUnits(target);
      return first + spec.steps * stepUnits(target, spec, stepCost) + upscaler;
    }
    case 'img2img': {
      const steps = Math.floor(Math.min(spec.denoisingStrength, 0.999) * spec.steps) + 1;
      return steps * stepUnits(spec.width * spec.height, spec, stepCost);
    }
    case 'interrogate':
      return INTERROGATE_SECONDS * REFERENCE_UNITS_PER_SECOND;
    case 'upscale':
      return upscalerUnits(Math.floor(spec.sourceWidth * spec.scale) * Math.floor(spec.sourceHeight * spec.scale));
  }
}

/** The checkpoint a task needs loaded (by identity), or null for tasks that need none. */
export function checkpointOf(spec: GenerationSpec): string | null {
  return spec.kind === 'txt2img' || spec.kind === 'img2img' ? spec.model.id : null;
}
