/**
 * @module api/requests/hires-field
 *
 * txt2img's `upscale` object: the WebUI's hires fix (generate, upscale by
 * `scale`, then refine with `denoising_strength`). `scale` is required: an
 * `upscale` object without it has no meaning, and the original's default of
 * 1.0 silently did a second pass at the same size.
 */
import type { HiresSpec } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import { readNumber } from './field-readers.js';
import { type FieldGroup, parseGroup, pathOf, valueOf } from './known-fields.js';
import { NameMatches, readName } from './name-fields.js';
import type { RequestContext } from '../../domain/request-context.js';
import { hiresDenoisingRule, hiresMaxSideFactor, hiresScaleRule, hiresUpscalerDefault } from './rules.js';

export const hiresFields = ['denoising_strength', 'scale', 'upscaler'] as const;

export function readHires(
  group: FieldGroup,
  ctx: RequestContext,
  size: { width: number; height: number },
): HiresSpec | null {
  const value = valueOf(group, 'upscale');
  if (value === undefined) return null;
  const hires = parseGroup(value, pathOf(group, 'upscale'), { accepted: hiresFields });
  const scale = readNumber(hires, 'scale', hiresScaleRule);
  const upscalerRule = {
    noun: 'hires upscaler',
    choices: ctx.hiresUpscalers,
    match: NameMatches.nameKey,
    default: hiresUpscalerDefault,
  };
  // The client's spelling is kept; nodes match it to theirs by name key.
  const upscaler = readName(hires, 'upscaler', upscalerRule).given;
  const denoisingStrength = readNumber(hires, 'denoising_strength', hiresDenoisingRule);
  assertHiresSize(pathOf(hires, 'scale'), scale, size, ctx.limits.maxSide);
  return { scale, upscaler, denoisingStrength };
}

/**
 * With the default limits (scale ≤ 2, sides ≤ maxSide) this always holds; it is
 * kept so that a wider scale range cannot slip past the size limit unnoticed.
 */
function assertHiresSize(path: string, scale: number, size: { width: number; height: number }, maxSide: number): void {
  const width = Math.floor(size.width * scale);
  const height = Math.floor(size.height * scale);
  const max = hiresMaxSideFactor * maxSide;
  if (width > max || height > max) {
    throw invalidField(path, `makes a ${width}×${height} image; each side may be at most ${max}`);
  }
}
