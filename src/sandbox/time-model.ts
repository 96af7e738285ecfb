/**
 * @module sandbox/time-model
 *
 * How long a job would take on a GPU (backends.md E.2, E.4), in modelled
 * seconds; `toWallMs` compresses them by the sandbox's `speed`.
 *
 * One sampler step at W×H costs
 *   (1 / itPerSecond) × (W·H / 512²)^0.72 × batch_size × (2 if second order) × (1 + 0.3 × ControlNet units)
 * - 0.72: a 4090 does 20 it/s at 512² and 7.5 it/s at 1024², i.e. 4× the pixels
 *   cost ≈ 2.7× the time (4^0.72 ≈ 2.71).
 * - batch: per-step cost grows about linearly with the batch (E.2).
 * - second order (Heun, DPM2, DPM2 a, DPM++ 2S a, DPM++ SDE, Restart) evaluate
 *   the UNet twice per step.
 * - each enabled ControlNet unit adds ≈30% per step (stable-fast figures).
 * txt2img runs `steps`; hires fix adds `hr_second_pass_steps || steps` at the
 * target size, plus ≈0.5 s per output megapixel for a non-latent upscaler
 * (ESRGAN-family models take seconds). img2img runs
 * `int(min(denoising_strength, 0.999) × steps) + 1` steps. A checkpoint switch
 * costs `switchSeconds`; interrogate ≈1.5 s; extras upscaling ≈0.5 s per output
 * megapixel. VAE and text-encoder costs (tens of ms) are left out.
 *
 * A step of another model family costs `stepCosts[family]` times an SD 1.5
 * step at the same size: by default the figures the gateway first guesses
 * (domain/work-units.ts `PRIOR_STEP_COSTS`); given others, a sandbox models
 * a GPU where the guesses are wrong, which the gateway must learn
 * (domain/family-costs.ts).
 */
import type { ModelFamily } from '../domain/families.js';
import { PRIOR_STEP_COSTS } from '../domain/work-units.js';

/** What the sandbox's GPU takes for a step of each family against an SD 1.5 step at the same size. */
export type StepCosts = Readonly<Record<ModelFamily, number>>;

export const DEFAULT_STEP_COSTS: StepCosts = PRIOR_STEP_COSTS;

export interface TimingOptions {
  /** Time compression: 1 = real GPU time, 100 = 100× faster, Infinity = no waiting. */
  speed: number;
  /** Sampler steps per second at 512×512, batch 1, first-order sampler. */
  itPerSecond: number;
  /** Cost of loading another checkpoint. */
  switchSeconds: number;
  /** A step's cost by model family (see the module comment). */
  stepCosts: StepCosts;
}

const REFERENCE_PIXELS = 512 * 512;
const PIXEL_EXPONENT = 0.72;
const SECOND_ORDER_FACTOR = 2;
const CONTROLNET_UNIT_FACTOR = 0.3;
const UPSCALER_SECONDS_PER_MEGAPIXEL = 0.5;
export const INTERROGATE_SECONDS = 1.5;
const MEGAPIXEL = 1_000_000;

export interface StepLoad {
  pixels: number;
  /** Heun, DPM2, DPM++ SDE and the like evaluate the model twice per step. */
  secondOrder: boolean;
  batchSize: number;
  controlNetUnits: number;
  /** The model's family (SD 1.5's cost when not known). */
  family?: ModelFamily;
}

export function secondsPerStep(timing: TimingOptions, load: StepLoad): number {
  const sizeFactor = (load.pixels / REFERENCE_PIXELS) ** PIXEL_EXPONENT;
  const orderFactor = load.secondOrder ? SECOND_ORDER_FACTOR : 1;
  const controlFactor = 1 + CONTROLNET_UNIT_FACTOR * load.controlNetUnits;
  const familyFactor = load.family === undefined ? 1 : timing.stepCosts[load.family];
  return (sizeFactor * load.batchSize * orderFactor * controlFactor * familyFactor) / timing.itPerSecond;
}

/** Steps A1111's img2img actually samples (A.3, `img2img_fix_steps` off). */
export function img2imgSteps(steps: number, denoisingStrength: number): number {
  return Math.floor(Math.min(denoisingStrength, 0.999) * steps) + 1;
}

/** A model upscaler (ESRGAN and friends) or an extras resize, per output pixel. */
export function upscalerSeconds(outputPixels: number): number {
  return (outputPixels / MEGAPIXEL) * UPSCALER_SECONDS_PER_MEGAPIXEL;
}

/** Modelled seconds → milliseconds to actually wait. */
export function toWallMs(timing: TimingOptions, seconds: number): number {
  if (timing.speed === Infinity) return 0;
  return (seconds * 1000) / timing.speed;
}
