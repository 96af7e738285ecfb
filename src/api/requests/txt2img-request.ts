/**
 * @module api/requests/txt2img-request
 *
 * `POST /api/sd/txt2img` (and `/async`) body → `Txt2ImgSpec`.
 */
import type { Txt2ImgSpec } from '../../domain/spec.js';
import { decodeControlNet, readControlNet } from './control-net-field.js';
import { diffusionFieldNames, readDiffusionFields } from './diffusion-fields.js';
import { checkNotEditModel, modelChoice, readRefiner } from './family-rules.js';
import { readHires } from './hires-field.js';
import { parseGroup } from './known-fields.js';
import type { RequestContext } from '../../domain/request-context.js';

export const txt2imgFields = [...diffusionFieldNames, 'upscale', 'refiner'] as const;

/**
 * Checks a txt2img body and applies the defaults; throws a `DanError` naming
 * the first field at fault. Images (ControlNet) are decoded last.
 *
 * @example
 * const spec = await parseTxt2ImgRequest({ prompt: 'a cat', model: 'chillout_mix' }, ctx);
 * // spec.width === 512, spec.sampler === 'Euler a', spec.hires === null
 */
export async function parseTxt2ImgRequest(body: unknown, ctx: RequestContext): Promise<Txt2ImgSpec> {
  const group = parseGroup(body, '', { accepted: txt2imgFields });
  const fields = readDiffusionFields(group, ctx);
  const choice = modelChoice(fields.model, ctx);
  checkNotEditModel(group, choice);
  const hires = readHires(group, ctx, fields);
  const refiner = readRefiner(group, choice, ctx);
  const units = readControlNet(group, ctx, fields.model);
  const controlNet = await decodeControlNet(units, ctx.limits.maxInputSide);
  return { kind: 'txt2img', ...fields, ...(refiner ? { refiner } : {}), controlNet, hires };
}
