/**
 * @module sandbox/hires-plan
 *
 * txt2img's hires fix (backends.md A.2, E.4): the target size of
 * `calculate_target_resolution`, the upscaler, the second-pass sampler and
 * step count. `enable_hr` without `denoising_strength` is refused: the
 * generated txt2img model defaults it to null and the real WebUI then fails
 * deep inside processing.
 */
import { toLatentSize, type HiresPlan } from './generation-plan.js';
import type { Txt2ImgBody } from './generation-schemas.js';
import { MAX_SIDE_PX } from './generation-schemas.js';
import { pythonException, strictError } from './http-errors.js';
import { findCheckpoint, isLatentUpscaleMode, isUpscaler, type Inventory } from './inventory.js';
import type { Size } from './pixels.js';
import { resolveSampler, type ResolvedSampler } from './sampler-resolution.js';
import { pyFloat } from './py-format.js';

const USE_SAME_CHECKPOINT = 'Use same checkpoint';

export interface FirstPass {
  requested: Size;
  steps: number;
  samplerName: string;
  sampler: ResolvedSampler;
}

export function parseHires(inventory: Inventory, body: Txt2ImgBody, first: FirstPass): HiresPlan | null {
  const upscaler = body.hr_upscaler ?? 'Latent';
  const latent = isLatentUpscaleMode(inventory, upscaler);
  if (!latent && !isUpscaler(inventory, upscaler)) {
    const message = `could not find upscaler named ${upscaler}`;
    // The real WebUI checks the name only when hires fix is on.
    if (body.enable_hr) throw pythonException('Exception', message);
    throw strictError(['body', 'hr_upscaler'], `${message} (ignored by A1111 while enable_hr is false)`);
  }
  assertHiresCheckpoint(inventory, body.hr_checkpoint_name);
  const sampler = hiresSampler(inventory, body, first);
  if (!body.enable_hr) return null;
  const denoisingStrength = body.denoising_strength;
  if (denoisingStrength === null || denoisingStrength === undefined) {
    throw strictError(['body', 'denoising_strength'], 'enable_hr needs denoising_strength: the txt2img model defaults it to null (A1111 then fails mid-job)');
  }
  const { target, infotext } = targetOf(body, first.requested);
  if (target.width > MAX_SIDE_PX || target.height > MAX_SIDE_PX) {
    throw strictError(['body', 'hr_scale'], `hires target ${target.width}x${target.height} exceeds the sandbox's ${MAX_SIDE_PX} px per side`);
  }
  const steps = body.hr_second_pass_steps || first.steps;
  if (body.hr_second_pass_steps) infotext['Hires steps'] = String(steps);
  infotext['Hires upscaler'] = upscaler;
  return { size: toLatentSize(target), steps, upscaler, latent, sampler, denoisingStrength, infotext };
}

function hiresSampler(inventory: Inventory, body: Txt2ImgBody, first: FirstPass): ResolvedSampler {
  if (body.hr_sampler_name === null || body.hr_sampler_name === undefined) {
    if (body.hr_scheduler === null || body.hr_scheduler === undefined) return first.sampler;
  }
  return resolveSampler(
    inventory,
    { samplerName: body.hr_sampler_name ?? first.samplerName, scheduler: body.hr_scheduler ?? null },
    { scheduler: ['body', 'hr_scheduler'] },
  );
}

/** Validated only: the sandbox does not model a second checkpoint for pass two. */
function assertHiresCheckpoint(inventory: Inventory, name: string | null | undefined): void {
  if (name === null || name === undefined || name === '' || name === USE_SAME_CHECKPOINT) return;
  if (!findCheckpoint(inventory, name)) {
    throw strictError(['body', 'hr_checkpoint_name'], `unknown checkpoint "${name}"; use "${USE_SAME_CHECKPOINT}" or a title of /sdapi/v1/sd-models`);
  }
}

/** `calculate_target_resolution`: by scale, or to hr_resize_x/y (one of them keeps the aspect ratio). */
function targetOf(body: Txt2ImgBody, requested: Size): { target: Size; infotext: Record<string, string> } {
  const resizeX = body.hr_resize_x ?? 0;
  const resizeY = body.hr_resize_y ?? 0;
  const { width, height } = requested;
  if (resizeX === 0 && resizeY === 0) {
    const scale = body.hr_scale ?? 2;
    const target = { width: Math.floor(width * scale), height: Math.floor(height * scale) };
    return { target, infotext: { 'Hires upscale': pyFloat(scale) } };
  }
  const infotext = { 'Hires resize': `${resizeX}x${resizeY}` };
  if (resizeY === 0) return { target: { width: resizeX, height: Math.floor((resizeX * height) / width) }, infotext };
  if (resizeX === 0) return { target: { width: Math.floor((resizeY * width) / height), height: resizeY }, infotext };
  // Both given: upscale to cover, then the latent is cropped to exactly this size.
  return { target: { width: resizeX, height: resizeY }, infotext };
}
