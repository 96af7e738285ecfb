/**
 * @module sandbox/generation-plan
 *
 * A checked txt2img/img2img request, reduced to what running and rendering it
 * need. Built by `parseGenerationRequest` before the job queues, so refusals
 * come back at once, as A1111's pydantic and decode errors do.
 */
import type { ControlUnitPlan } from './controlnet-units.js';
import type { ForgePlan } from './forge-fields.js';
import type { DecodedImage } from './image-decoding.js';
import type { CheckpointRecord, LoraRecord } from './inventory.js';
import type { Size } from './pixels.js';
import type { ResolvedSampler } from './sampler-resolution.js';

export interface HiresPlan {
  /** Output size of the second pass. */
  size: Size;
  steps: number;
  upscaler: string;
  /** Latent modes interpolate the latent; other upscalers run a model (and cost time). */
  latent: boolean;
  sampler: ResolvedSampler;
  denoisingStrength: number;
  /** Infotext entries: `Hires upscale` or `Hires resize`, `Hires steps`, `Hires upscaler`. */
  infotext: Record<string, string>;
}

export interface Img2ImgPlan {
  initImages: DecodedImage[];
  mask: DecodedImage | null;
  resizeMode: number;
  denoisingStrength: number;
  invertMask: boolean;
  roundMask: boolean;
  maskBlurPx: number;
  /**
   * `inpaint_full_res` ("only masked"): the masked area is worked on at the output size and pasted back into
   * the init image, which keeps its own size.
   */
  onlyMasked: boolean;
  /** Steps the sampler really runs: `int(min(strength, 0.999) × steps) + 1`. */
  sampledSteps: number;
}

export interface GenerationPlan {
  kind: 'txt2img' | 'img2img';
  /** `vars(request)` echoed in the response: the body over the model's defaults. */
  parameters: Record<string, unknown>;
  prompt: string;
  negativePrompt: string;
  seeds: number[];
  subseeds: number[];
  subseedStrength: number;
  /** As requested; A1111 writes these in infotexts and `info`. */
  requested: Size;
  /** Rendered first-pass size: the latent is `size / 8`, so sides round down to multiples of 8. */
  size: Size;
  steps: number;
  cfgScale: number;
  batchSize: number;
  nIter: number;
  sampler: ResolvedSampler;
  /** The `override_settings` checkpoint, or null for the configured one. */
  checkpoint: CheckpointRecord | null;
  /** `refiner_checkpoint` (A1111 ≥ 1.6), loaded when `refiner_switch_at` of the sampling is done; null for none. */
  refiner: CheckpointRecord | null;
  restoreAfterwards: boolean;
  loras: LoraRecord[];
  hires: HiresPlan | null;
  img2img: Img2ImgPlan | null;
  controlNet: ControlUnitPlan[];
  sendImages: boolean;
  /** Forge's fields (forge-fields.ts). */
  forge: ForgePlan;
}

/** A1111's `get_fixed_seed`: -1 (or null) → random in [0, 4294967294). */
export function fixSeed(seed: number | null | undefined): number {
  if (seed === null || seed === undefined || seed === -1) return Math.floor(Math.random() * 4294967294);
  return seed;
}

/** `all_seeds` / `all_subseeds` (A.4): consecutive seeds unless a variation strength is set. */
export function seedsOf(seed: number, subseed: number, options: { count: number; subseedStrength: number }) {
  const indices = Array.from({ length: options.count }, (_, i) => i);
  return {
    seeds: indices.map((i) => seed + (options.subseedStrength === 0 ? i : 0)),
    subseeds: indices.map((i) => subseed + i),
  };
}

/** Sides of the decoded latent: `int(side / 8) × 8`. */
export function toLatentSize(size: Size): Size {
  return { width: Math.max(8, Math.floor(size.width / 8) * 8), height: Math.max(8, Math.floor(size.height / 8) * 8) };
}
