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
 *   converted at the reference speed below.
 * Pure: no I/O, no clock.
 */
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

function stepUnits(pixels: number, spec: DiffusionSpec): number {
  const order = isSecondOrderSampler(spec.sampler) ? 2 : 1;
  const control = 1 + 0.3 * spec.controlNet.length;
  return (pixels / REFERENCE_PIXELS) ** PIXEL_EXPONENT * order * control;
}

function upscalerUnits(outputPixels: number): number {
  return (outputPixels / 1_000_000) * UPSCALER_SECONDS_PER_MEGAPIXEL * REFERENCE_UNITS_PER_SECOND;
}

/** Work units of a task (see the module comment). */
export function workUnitsOf(spec: GenerationSpec): number {
  switch (spec.kind) {
    case 'txt2img': {
      const first = spec.steps * stepUnits(spec.width * spec.height, spec);
      if (!spec.hires) return first;
      const target = Math.floor(spec.width * spec.hires.scale) * Math.floor(spec.height * spec.hires.scale);
      const upscaler = spec.hires.upscaler.toLowerCase().startsWith('latent') ? 0 : upscalerUnits(target);
      return first + spec.steps * stepUnits(target, spec) + upscaler;
    }
    case 'img2img': {
      const steps = Math.floor(Math.min(spec.denoisingStrength, 0.999) * spec.steps) + 1;
      return steps * stepUnits(spec.width * spec.height, spec);
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
