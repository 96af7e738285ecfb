/**
 * @module api/requests/inpaint-field
 *
 * img2img's `inpaint` object. `mask_mode` 0 regenerates the masked (white)
 * pixels, which is what "0 means regenerate where is masked" says. The original
 * deployment sent the WebUI the inverse, so with its defaults the black pixels
 * were regenerated; DAN follows the documented meaning (see the spec's
 * `InpaintSpec.regenerate`).
 */
import type { InpaintSpec } from '../../domain/spec.js';
import { readCode, readInteger } from './field-readers.js';
import { type PendingImage, decodePendingImage, readImage } from './image-field.js';
import { type FieldGroup, parseGroup, pathOf, valueOf } from './known-fields.js';
import { inpaintAreaRule, maskBlurRule, maskModeRule } from './rules.js';

export const inpaintFields = ['mask', 'mask_blur', 'mask_mode', 'inpaint_area'] as const;

export type PendingInpaint = Omit<InpaintSpec, 'mask'> & { mask: PendingImage };

export function readInpaint(group: FieldGroup): PendingInpaint | null {
  const value = valueOf(group, 'inpaint');
  if (value === undefined) return null;
  const inpaint = parseGroup(value, pathOf(group, 'inpaint'), { accepted: inpaintFields });
  return {
    mask: readImage(inpaint, 'mask'),
    maskBlur: readInteger(inpaint, 'mask_blur', maskBlurRule),
    regenerate: readCode(inpaint, 'mask_mode', maskModeRule),
    area: readCode(inpaint, 'inpaint_area', inpaintAreaRule),
  };
}

export async function decodeInpaint(pending: PendingInpaint | null, maxSide: number): Promise<InpaintSpec | null> {
  if (pending === null) return null;
  const mask = await decodePendingImage(pending.mask, maxSide);
  return { ...pending, mask: mask.base64 };
}
