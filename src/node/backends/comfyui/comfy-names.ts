/**
 * @module node/backends/comfyui/comfy-names
 *
 * DAN's names (the A1111 names the API has always used) for what ComfyUI calls
 * otherwise: samplers and their default schedules, schedule labels, latent
 * upscale modes and the well-known upscale model files. A ComfyUI node
 * declares its capabilities under DAN's names, so the gateway matches tasks to
 * it exactly as to an A1111 node; the driver turns the names back when it
 * builds a graph. The pairs follow k-diffusion: an A1111 sampler and the
 * ComfyUI sampler of the same name call the same function.
 */
import { toNameKey } from '../../../domain/catalog.js';

/** DAN sampler → ComfyUI `sampler_name` and the schedule A1111 uses with it when none is named ("Automatic"). */
export const SAMPLERS: Readonly<Record<string, { sampler: string; scheduler: string }>> = {
  'Euler a': { sampler: 'euler_ancestral', scheduler: 'normal' },
  Euler: { sampler: 'euler', scheduler: 'normal' },
  LMS: { sampler: 'lms', scheduler: 'normal' },
  Heun: { sampler: 'heun', scheduler: 'normal' },
  DPM2: { sampler: 'dpm_2', scheduler: 'karras' },
  'DPM2 a': { sampler: 'dpm_2_ancestral', scheduler: 'karras' },
  'DPM++ 2S a': { sampler: 'dpmpp_2s_ancestral', scheduler: 'karras' },
  'DPM++ 2M': { sampler: 'dpmpp_2m', scheduler: 'karras' },
  'DPM++ SDE': { sampler: 'dpmpp_sde', scheduler: 'karras' },
  'DPM++ 2M SDE': { sampler: 'dpmpp_2m_sde', scheduler: 'exponential' },
  'DPM++ 2M SDE Heun': { sampler: 'dpmpp_2m_sde_heun', scheduler: 'exponential' },
  'DPM++ 3M SDE': { sampler: 'dpmpp_3m_sde', scheduler: 'exponential' },
  'DPM fast': { sampler: 'dpm_fast', scheduler: 'normal' },
  'DPM adaptive': { sampler: 'dpm_adaptive', scheduler: 'normal' },
  DDIM: { sampler: 'ddim', scheduler: 'ddim_uniform' },
  UniPC: { sampler: 'uni_pc', scheduler: 'normal' },
  LCM: { sampler: 'lcm', scheduler: 'sgm_uniform' },
};

/** A1111 schedule labels → ComfyUI `scheduler`. "Automatic" is the sampler's own default. */
export const SCHEDULERS: Readonly<Record<string, string>> = {
  Uniform: 'normal',
  Karras: 'karras',
  Exponential: 'exponential',
  'SGM Uniform': 'sgm_uniform',
  Simple: 'simple',
  Normal: 'normal',
  DDIM: 'ddim_uniform',
  Beta: 'beta',
  'KL Optimal': 'kl_optimal',
};
export const AUTOMATIC_SCHEDULER = 'Automatic';

/** A1111 latent upscale modes with an exact `LatentUpscale` method. */
export const LATENT_MODES: Readonly<Record<string, string>> = {
  Latent: 'bilinear',
  'Latent (bicubic)': 'bicubic',
  'Latent (nearest-exact)': 'nearest-exact',
};

/** Upscalers that are a resampling filter, not a model (`ImageScale`'s method). */
export const RESAMPLING_UPSCALERS: Readonly<Record<string, string>> = { Lanczos: 'lanczos', Nearest: 'nearest-exact' };

/** Upscale model files A1111 knows under another name (by file stem, compared with `toNameKey`). */
const KNOWN_UPSCALE_MODELS: readonly [stem: string, name: string][] = [
  ['RealESRGAN_x4plus', 'R-ESRGAN 4x+'],
  ['RealESRGAN_x4plus_anime_6B', 'R-ESRGAN 4x+ Anime6B'],
  ['ESRGAN_4x', 'ESRGAN 4x'],
  ['4x_ESRGAN', 'ESRGAN 4x'],
  ['SwinIR_4x', 'SwinIR 4x'],
  ['001_classicalSR_DF2K_s64w8_SwinIR-M_x4', 'SwinIR 4x'],
];

/** The name an upscale model file is offered under: A1111's when it is a well-known file, else its stem. */
export function upscalerNameOf(file: string): string {
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  const stem = base.replace(/\.[^.]+$/, '');
  return KNOWN_UPSCALE_MODELS.find(([known]) => toNameKey(known) === toNameKey(stem))?.[1] ?? stem;
}
