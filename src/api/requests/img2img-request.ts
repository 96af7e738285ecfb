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
import { parseGroup, valueOf } from './known-fields.js';
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
  // An edit model's picture keeps the image's shape: left out, the size is its edit size nearest the image's aspect
  // (within the gateway's largest side; past it, the family's native square, as for other models).
  const fitted = editSizeOf(init.width, init.height);
  const sized = edit && valueOf(group, 'width') === undefined && valueOf(group, 'height') === undefined && Math.max(fitted.width, fitted.height) <= ctx.limits.maxSide;
  const size = sized ? fitted : {};
  return { kind: 'img2img', ...fields, ...size, controlNet, initImage: init.base64, initWidth: init.width, initHeight: init.height, resizeMode, denoisingStrength: edit ? 1 : denoisingStrength, inpaint };
}
