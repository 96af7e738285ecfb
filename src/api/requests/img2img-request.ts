/**
 * @module api/requests/img2img-request
 *
 * `POST /api/sd/img2img` (and `/async`) body → `Img2ImgSpec`, inpainting included.
 */
import type { Img2ImgSpec } from '../../domain/spec.js';
import { decodeControlNet, readControlNet } from './control-net-field.js';
import { diffusionFieldNames, readDiffusionFields } from './diffusion-fields.js';
import { readCode, readNumber } from './field-readers.js';
import { decodePendingImage, readImage } from './image-field.js';
import { decodeInpaint, readInpaint } from './inpaint-field.js';
import { type FieldGroup, parseGroup, valueOf } from './known-fields.js';
import { checkEditFields, modelChoice } from './family-rules.js';
import { editSizeOf } from '../../domain/families.js';
import type { RequestContext } from '../../domain/request-context.js';
import { img2imgDenoisingRule, resizeModeRule } from './rules.js';

export const img2imgFields = ['init_image', 'resize_mode', 'denoising_strength', ...diffusionFieldNames, 'inpaint'] as const;

const misplaced = {
  upscale: 'upscale (hires fix) is only taken by txt2img; for img2img ask for the output size with width/height',
};

/**
 * Checks an img2img body and applies the defaults; throws a `DanError` naming
 * the first field at fault. Images (init image, mask, ControlNet) are decoded last.
 *
 * @example
 * const spec = await parseImg2ImgRequest({ init_image: png64, model: 'clarity' }, ctx);
 * // spec.denoisingStrength === 0.75, spec.resizeMode === 'just_resize', spec.inpaint === null
 */
export async function parseImg2ImgRequest(body: unknown, ctx: RequestContext): Promise<Img2ImgSpec> {
  const group = parseGroup(body, '', { accepted: img2imgFields, misplaced });
  const initImage = readImage(group, 'init_image');
  const resizeMode = readCode(group, 'resize_mode', resizeModeRule);
  const denoisingStrength = readNumber(group, 'denoising_strength', img2imgDenoisingRule);
  const fields = readDiffusionFields(group, ctx);
  const choice = modelChoice(fields.model, ctx);
  checkEditFields(group, choice);
  const pendingInpaint = readInpaint(group);
  const units = readControlNet(group, ctx, fields.model);

  const maxSide = ctx.limits.maxInputSide;
  const init = await decodePendingImage(initImage, maxSide);
  const inpaint = await decodeInpaint(pendingInpaint, maxSide);
  const controlNet = await decodeControlNet(units, maxSide);
  const edit = choice.traits?.edits === true;
  const size = edit ? editSize(group, fields, init, ctx.limits.maxSide, choice.traits!.sideMultiple) : {};
  // An edit model's image is fitted to its size as ComfyUI's `FluxKontextImageScale` does it, cropped to the aspect,
  // unless the request says otherwise.
  const fit = edit && valueOf(group, 'resize_mode') === undefined ? 'crop_and_resize' : resizeMode;
  return { kind: 'img2img', ...fields, ...size, controlNet, initImage: init.base64, initWidth: init.width, initHeight: init.height, resizeMode: fit, denoisingStrength: edit ? 1 : denoisingStrength, inpaint };
}

/**
 * An edit model's picture keeps the image's shape: with no side given, the edit size nearest the image's aspect
 * (when within the gateway's largest side: else the family's native square, as for other models); with one, the
 * other in the image's proportions, in the family's cells; with both, as given.
 */
function editSize(group: FieldGroup, fields: { width: number; height: number }, image: { width: number; height: number }, maxSide: number, cell: number): { width?: number; height?: number } {
  const hasWidth = valueOf(group, 'width') !== undefined;
  const hasHeight = valueOf(group, 'height') !== undefined;
  if (hasWidth && hasHeight) return {};
  if (!hasWidth && !hasHeight) {
    const fitted = editSizeOf(image.width, image.height);
    return Math.max(fitted.width, fitted.height) <= maxSide ? fitted : {};
  }
  const proportional = (side: number, from: number, to: number) => Math.min(maxSide, Math.max(cell * 4, Math.round((side * to) / from / cell) * cell));
  return hasWidth ? { height: proportional(fields.width, image.width, image.height) } : { width: proportional(fields.height, image.height, image.width) };
}
