/**
 * @module api/requests/rules
 *
 * Every range and default of the DAN request fields, in one place: the parsers
 * read them, the documentation schemas (schemas.ts) and docs/http-api-parameters.md
 * describe them. Out-of-range values are errors: unlike the original deployment,
 * nothing is clamped and no default is "the minimum".
 */
import { FLUX_DEFAULT_GUIDANCE, SD_DEFAULT_CFG_SCALE, SD_DEFAULT_STEPS, SD_SIDE_MULTIPLE } from '../../domain/families.js';
import type { ResizeMode } from '../../domain/spec.js';
import type { CodeRule, RangeRule } from './field-readers.js';
import type { RequestLimits } from '../../domain/request-context.js';

// --- txt2img / img2img ---------------------------------------------------------

export const promptRule = { maxLength: 16_384, default: '' } as const;
/** Model and LoRA values, sampler and other names: `ShortName` of domain/spec.ts. */
export const nameRule = { maxLength: 512 } as const;
/**
 * -1 asks the backend for a random seed (A1111 draws one below 2^32). Larger seeds are valid:
 * the WebUI seeds torch with any integer, and the original deployment's own example sends
 * 813241234123; JSON numbers stay exact up to 2^53 − 1.
 */
export const seedRule = { min: -1, max: Number.MAX_SAFE_INTEGER, default: -1 } as const;
export const samplerDefault = 'Euler a';
/** The `scheduler` that adds nothing to the sampler: its own default schedule. */
export const automaticScheduler = 'Automatic';
/** The default is SD's; a family may have its own (domain/families.ts: Qwen-Image 2.5, 1 where it takes none). */
export const cfgScaleRule = { min: 1, max: 30, default: SD_DEFAULT_CFG_SCALE } as const;
/** A distilled guidance (`guidance`), for Flux.1 and Flux.2 models only; they run at cfg_scale 1. The default is Flux.1's (Flux.2's is 4). */
export const guidanceRule = { min: 0, max: 30, default: FLUX_DEFAULT_GUIDANCE } as const;
/** SDXL's refiner: when it takes over, as a fraction of the steps (A1111's default). */
export const refinerSwitchRule = { min: 0, max: 0.99, minExclusive: true, default: 0.8 } as const;
/** Width and height are rounded down to a multiple of this, as the WebUI does. */
export const sideMultiple = SD_SIDE_MULTIPLE;
export const loraWeightRule = { min: -4, max: 4 } as const;

export function stepsRule(limits: RequestLimits): RangeRule & { default: number } {
  return { min: 1, max: limits.maxSteps, default: SD_DEFAULT_STEPS };
}

export function sideRule(limits: RequestLimits): RangeRule & { default: number } {
  return { min: 64, max: limits.maxSide, default: 512 };
}

// --- txt2img hires fix (`upscale`) ---------------------------------------------

/** Required when `upscale` is present. */
export const hiresScaleRule = { min: 1, max: 2, minExclusive: true } as const;
export const hiresUpscalerDefault = 'Latent';
export const hiresDenoisingRule = { min: 0, max: 1, default: 0.5 } as const;
/** The hires target may be at most this many times `maxSide` on each side. */
export const hiresMaxSideFactor = 2;

// --- ControlNet ----------------------------------------------------------------------

export const resizeModeRule: CodeRule<ResizeMode> = {
  default: 0,
  codes: [
    { code: 0, value: 'just_resize', label: 'just resize' },
    { code: 1, value: 'crop_and_resize', label: 'crop and resize' },
    { code: 2, value: 'resize_and_fill', label: 'resize and fill' },
  ],
};
/** Canny thresholds; preprocessors without thresholds ignore the fields. */
export const thresholdRule = { min: 1, max: 255 } as const;
export const thresholdDefaults = { preprocess_param1: 100, preprocess_param2: 200 } as const;
export const controlWeightRule = { min: 0, max: 2, default: 1 } as const;
export const guidanceStartRule = { min: 0, max: 1, default: 0 } as const;
export const guidanceEndRule = { min: 0, max: 1, default: 1 } as const;
export const guessModeDefault = false;

// --- img2img -------------------------------------------------------------------------

export const img2imgDenoisingRule = { min: 0, max: 1, default: 0.75 } as const;
export const maskBlurRule = { min: 0, max: 64, default: 0 } as const;
export const maskModeRule: CodeRule<'masked' | 'unmasked'> = {
  default: 0,
  codes: [
    { code: 0, value: 'masked', label: 'regenerate the masked (white) pixels' },
    { code: 1, value: 'unmasked', label: 'regenerate the unmasked (black) pixels' },
  ],
};
export const inpaintAreaRule: CodeRule<'whole' | 'masked_only'> = {
  default: 0,
  codes: [
    { code: 0, value: 'whole', label: 'whole picture' },
    { code: 1, value: 'masked_only', label: 'only the masked area' },
  ],
};

// --- interrogate, upscale, task id -----------------------------------------------

export const interrogatorDefault = 'clip';
export const upscalingRateRule = { min: 1, max: 8, minExclusive: true } as const;
/** `upscaler2: "None"` (any case) means no second upscaler, as in the WebUI. */
export const noUpscalerName = 'None';
export const upscaler2FactorRule = { min: 0, max: 1, default: 0 } as const;
export const taskIdRule = { maxLength: 64, pattern: /^[A-Za-z0-9-]+$/ } as const;
