/**
 * @module api/requests/upscale-request
 *
 * `POST /api/sd/upscale` body → `UpscaleSpec` (the WebUI's "extras" upscale).
 * Unlike the original deployment, `upscaler2` and `upscaler2_factor` are
 * optional, as its documentation said; `upscaler2: "None"` means none, as in
 * the WebUI. The result's pixel count is checked once the source size is known.
 */
import { toNameKey } from '../../domain/catalog.js';
import type { UpscaleSpec } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import { readNumber } from './field-readers.js';
import { type DecodedImage, decodePendingImage, readImage } from './image-field.js';
import { type FieldGroup, parseGroup, pathOf, valueOf } from './known-fields.js';
import { NameMatches, readName } from './name-fields.js';
import type { RequestContext, RequestLimits } from '../../domain/request-context.js';
import { noUpscalerName, upscaler2FactorRule, upscalingRateRule } from './rules.js';

export const upscaleFields = ['image', 'upscalingRate', 'upscaler', 'upscaler2', 'upscaler2_factor'] as const;

/**
 * @example
 * const spec = await parseUpscaleRequest({ image: png64, upscalingRate: 2, upscaler: 'Lanczos' }, ctx);
 * // spec.upscaler2 === null, spec.sourceWidth === the image's width
 */
export async function parseUpscaleRequest(body: unknown, ctx: RequestContext): Promise<UpscaleSpec> {
  const group = parseGroup(body, '', { accepted: upscaleFields });
  const pending = readImage(group, 'image');
  const scale = readNumber(group, 'upscalingRate', upscalingRateRule);
  const upscaler = readName(group, 'upscaler', upscalerRule(ctx)).given;
  const upscaler2 = readUpscaler2(group, ctx);
  const factor = readNumber(group, 'upscaler2_factor', upscaler2FactorRule);
  const image = await decodePendingImage(pending, ctx.limits.maxInputSide);
  assertResultPixels(pathOf(group, 'upscalingRate'), image, scale, ctx.limits);
  return {
    kind: 'upscale',
    image: image.base64,
    scale,
    upscaler,
    upscaler2,
    // Without a second upscaler the factor has nothing to blend.
    upscaler2Visibility: upscaler2 === null ? 0 : factor,
    sourceWidth: image.width,
    sourceHeight: image.height,
  };
}

/** "None" does not upscale, so it is no choice for the first upscaler. */
function upscalerRule(ctx: RequestContext) {
  const choices = ctx.upscalers.filter((name) => !isNone(name));
  return { noun: 'upscaler', choices, match: NameMatches.nameKey };
}

function readUpscaler2(group: FieldGroup, ctx: RequestContext): string | null {
  const value = valueOf(group, 'upscaler2');
  if (value === undefined || (typeof value === 'string' && isNone(value))) return null;
  const choices = [noUpscalerName, ...upscalerRule(ctx).choices];
  return readName(group, 'upscaler2', { ...upscalerRule(ctx), choices }).given;
}

function isNone(name: string): boolean {
  return toNameKey(name) === toNameKey(noUpscalerName);
}

function assertResultPixels(path: string, image: DecodedImage, scale: number, limits: RequestLimits): void {
  const width = Math.floor(image.width * scale);
  const height = Math.floor(image.height * scale);
  if (width * height <= limits.maxUpscalePixels) return;
  const problem =
    `would turn the ${image.width}×${image.height} image into ${width}×${height} = ${width * height} pixels; ` +
    `at most ${limits.maxUpscalePixels} are allowed, so use a rate of at most ` +
    `${maxRateFor(image, limits.maxUpscalePixels).toFixed(2)} for this image`;
  throw invalidField(path, problem);
}

/** A rate that keeps this image within the limit (rounded down to 0.01 in the message). */
function maxRateFor(image: DecodedImage, maxPixels: number): number {
  return Math.floor(Math.sqrt(maxPixels / (image.width * image.height)) * 100) / 100;
}
