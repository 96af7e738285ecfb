/**
 * @module api/openai/openai-requests
 *
 * OpenAI image requests as DAN request bodies, checked by DAN's own parsers
 * afterwards (api/requests): this module reads only the fields OpenAI has and
 * DAN has not, and passes DAN's own fields (negative_prompt, seed, steps,
 * cfg_scale, sampler_name, loras, …) through as they are. The mapping, field
 * by field, is in docs/openai-api.md.
 *
 * - `model`: a DAN checkpoint (name or sha256), a name the operator maps to one
 *   (`--openai-models dall-e-3=clarity`), or, when omitted, the operator's
 *   default or else the first checkpoint some node can serve now.
 * - `size`: `WxH` (DAN's width and height); omitted, the model family's native
 *   size for a generation (512² for SD 1.5 and a model of unknown family, 1024²
 *   for SDXL and Flux) and the input image's own size for an edit or a variation.
 * - `quality`: the number of steps unless `steps` is given: low ¾ of the
 *   model family's default, standard or medium or auto the default, hd or
 *   high twice it (SD: 15, 20, 40; Z-Image-Turbo: 6, 8, 16).
 * - `style`, `user`, `moderation`: accepted and not used.
 * - `edits`' mask: OpenAI's (transparent pixels are repainted) turned into
 *   DAN's (white is repainted), never passed through as the other.
 */
import sharp from 'sharp';
import { familyTraits, type ModelFamily, SD_DEFAULT_STEPS } from '../../domain/families.js';
import { invalidField } from '../../errors/dan-error.js';
import { roundSide } from '../requests/diffusion-fields.js';
import { formatChoices } from '../requests/field-messages.js';
import { decodeImageField } from '../requests/image-field.js';
import { uprightOf } from '../../util/image-orientation.js';

/** How `model` is chosen when a request names an OpenAI model or none. */
export interface ModelChoice {
  /** Names (lower case) the operator maps to a DAN checkpoint, e.g. dall-e-3 → clarity. */
  aliases: ReadonlyMap<string, string>;
  /** The checkpoint for a request without `model`: the operator's, else one the network serves now; null when there is none. */
  fallback: () => string | null;
  /** The family of a checkpoint (as DAN names it), null when unknown: `quality`'s steps are a share of its default. The routes know it (openai-routes.ts). */
  familyOf?: (model: string) => ModelFamily | null;
}

export type ResponseFormat = 'b64_json' | 'url';

/** How a streamed answer (`stream: true`) goes: its partial images, and what its events say of the request. */
export interface StreamAsk {
  /** How many of the node's live previews to send before the image (`partial_images`, 0–3). */
  partialImages: number;
  /** `quality` and `background` as the request gave them (`auto` when it did not): the events repeat them, as OpenAI's do. */
  quality: string;
  background: string;
}

/** A DAN body for one task, how many tasks to run, and how to answer: at once when done, or streamed. */
export interface ImageAsk {
  body: Record<string, unknown>;
  n: number;
  responseFormat: ResponseFormat;
  stream: StreamAsk | null;
}

/** `quality` as a share of the model family's default steps (20 for SD: low 15, high 40; Z-Image-Turbo's 8: 6 and 16); null: the default. */
const QUALITY_STEPS: Record<string, number | null> = { low: 0.75, medium: null, standard: null, auto: null, high: 2, hd: 2 };


/** Fields OpenAI defines that DAN reads here, and those it takes without using. */
export const OPENAI_FIELDS = ['model', 'n', 'size', 'response_format', 'quality', 'style', 'user', 'moderation', 'background', 'output_format', 'output_compression', 'stream', 'partial_images', 'input_fidelity'];

function asObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidField('body', 'must be a JSON object (or, for edits and variations, multipart/form-data)');
  return body as Record<string, unknown>;
}

function readN(value: unknown): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10) throw invalidField('n', `must be an integer from 1 to 10, got ${JSON.stringify(value)}`);
  return value;
}

function readEnum<T extends string>(value: unknown, field: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T)) throw invalidField(field, `must be one of ${formatChoices(allowed)}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** `WxH` as DAN's width and height (their ranges are DAN's, checked by its parser); null for `auto` or none. */
function readSize(value: unknown): { width: number; height: number } | null {
  if (value === undefined || value === null || value === 'auto') return null;
  const match = typeof value === 'string' ? /^(\d{1,5})x(\d{1,5})$/.exec(value) : null;
  if (!match) throw invalidField('size', `must be "WIDTHxHEIGHT" in pixels (e.g. "512x512", "768x512") or "auto", got ${JSON.stringify(value)}`);
  return { width: Number(match[1]), height: Number(match[2]) };
}

function readModel(value: unknown, choice: ModelChoice): string {
  if (value === undefined || value === null || value === '') {
    const fallback = choice.fallback();
    if (fallback === null) throw invalidField('model', 'is required: this gateway has no default model, and no node serves a checkpoint now');
    return fallback;
  }
  if (typeof value !== 'string') throw invalidField('model', `must be a string (a checkpoint name or sha256), got ${JSON.stringify(value)}`);
  return choice.aliases.get(value.toLowerCase()) ?? value;
}

/** OpenAI fields DAN cannot honour, refused with what it does instead, never dropped. */
function refuseUnsupported(body: Record<string, unknown>): void {
  readEnum(body['output_format'], 'output_format', ['png'], 'png');
  if (body['output_compression'] !== undefined) throw invalidField('output_compression', 'applies to jpeg and webp output; DAN answers PNG');
  readEnum(body['background'], 'background', ['auto', 'opaque'], 'auto');
  readEnum(body['moderation'], 'moderation', ['auto', 'low'], 'auto');
  readEnum(body['style'], 'style', ['vivid', 'natural'], 'vivid');
  readEnum(body['input_fidelity'], 'input_fidelity', ['low', 'high'], 'low');
  if (body['user'] !== undefined && typeof body['user'] !== 'string') throw invalidField('user', `must be a string, got ${JSON.stringify(body['user'])}`);
}

/** The most partial images a streamed answer may ask for, as in OpenAI's API. */
const MAX_PARTIAL_IMAGES = 3;

/** `stream` and `partial_images`: how to stream the answer, or null to answer once the images are done. */
function readStream(given: Record<string, unknown>, n: number, responseFormat: ResponseFormat, quality: string): StreamAsk | null {
  const stream = given['stream'];
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') throw invalidField('stream', `must be a boolean, got ${JSON.stringify(stream)}`);
  const partial = given['partial_images'];
  if (partial !== undefined && partial !== null && (typeof partial !== 'number' || !Number.isInteger(partial) || partial < 0 || partial > MAX_PARTIAL_IMAGES)) {
    throw invalidField('partial_images', `must be an integer from 0 to ${MAX_PARTIAL_IMAGES}, got ${JSON.stringify(partial)}`);
  }
  const partialImages = typeof partial === 'number' ? partial : 0;
  if (stream !== true) {
    if (partialImages > 0) throw invalidField('partial_images', 'come with a streamed answer: send "stream": true too, or leave partial_images out');
    return null;
  }
  if (responseFormat === 'url') throw invalidField('response_format', 'a streamed answer carries its images as b64_json: leave response_format out, or send "b64_json"');
  // A partial image's event says nothing of which image it is part of.
  if (partialImages > 0 && n > 1) throw invalidField('partial_images', `follow one image; this request asks for ${n}: send "n": 1, or "partial_images": 0`);
  const background = typeof given['background'] === 'string' ? given['background'] : 'auto';
  // Repeated in the events in the words of OpenAI's current models (the SDK's types know no others).
  return { partialImages, quality: quality === 'hd' ? 'high' : quality === 'standard' ? 'auto' : quality, background };
}

/** What every image endpoint shares: the DAN body without OpenAI's fields, and n, size, format, stream, model, quality read. */
function translate(raw: unknown, choice: ModelChoice): { body: Record<string, unknown>; n: number; size: { width: number; height: number } | null; responseFormat: ResponseFormat; stream: StreamAsk | null } {
  const given = asObject(raw);
  refuseUnsupported(given);
  const body: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(given)) if (!OPENAI_FIELDS.includes(field)) body[field] = value;
  const quality = readEnum(given['quality'], 'quality', Object.keys(QUALITY_STEPS), 'auto');
  body['model'] = readModel(given['model'], choice);
  const share = QUALITY_STEPS[quality];
  if (share !== null && share !== undefined && body['steps'] === undefined) {
    const family = choice.familyOf?.(String(body['model'])) ?? null;
    body['steps'] = Math.round(share * ((family && familyTraits[family].defaultSteps) ?? SD_DEFAULT_STEPS));
  }
  const n = readN(given['n']);
  const responseFormat = readEnum(given['response_format'], 'response_format', ['b64_json', 'url'], 'b64_json');
  return { body, n, size: readSize(given['size']), responseFormat, stream: readStream(given, n, responseFormat, quality) };
}

/** A prompt is text, and not blank: one of another type is named as such, not as missing. */
function requirePrompt(value: unknown, what: string): void {
  if (value !== undefined && value !== null && typeof value !== 'string') throw invalidField('prompt', `must be a string (${what}), got ${Array.isArray(value) ? 'an array' : typeof value}`);
  if (typeof value !== 'string' || value.trim() === '') throw invalidField('prompt', `is required: ${what}`);
}

/** `POST /v1/images/generations` (JSON) → a DAN txt2img body. */
export function generationAsk(raw: unknown, choice: ModelChoice): ImageAsk {
  const { body, n, size, responseFormat, stream } = translate(raw, choice);
  requirePrompt(body['prompt'], 'a text description of the image');
  // No size: DAN's parser gives the model family's native one.
  return { body: { ...body, ...(size ? { width: size.width, height: size.height } : {}) }, n, responseFormat, stream };
}

/** The longest multipart text field, in bytes: a prompt of the most characters allowed, each up to four bytes. */
export const MAX_FORM_FIELD_BYTES = 64 * 1024;

/** Multipart text fields DAN reads as numbers, sent as text by every multipart client. */
const NUMERIC_FIELDS = new Set(['n', 'seed', 'steps', 'cfg_scale', 'guidance', 'denoising_strength', 'resize_mode', 'partial_images', 'output_compression', 'mask_blur', 'inpaint_area']);

/** Multipart form fields as a JSON body would have them: numbers for the numeric fields, booleans for `stream`. */
export function formFields(form: unknown): Record<string, unknown> {
  const fields = asObject(form);
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    // `image[]` (several images, gpt-image models) is taken as `image`: DAN edits one.
    const field = name.endsWith('[]') ? name.slice(0, -2) : name;
    if (Array.isArray(value) && value.length > 1) throw invalidField(field, field === 'image' ? `DAN edits one image per request, got ${value.length}` : `was sent ${value.length} times; send it once`);
    const one = Array.isArray(value) ? value[0] : value;
    // Read one byte past the limit: a field that reaches it was cut, not sent whole.
    if (typeof one === 'string' && Buffer.byteLength(one) > MAX_FORM_FIELD_BYTES) throw invalidField(field, `is larger than a form's text field may be (${MAX_FORM_FIELD_BYTES / 1024} KiB)`);
    if (typeof one === 'string' && NUMERIC_FIELDS.has(field) && one.trim() !== '' && Number.isFinite(Number(one))) out[field] = Number(one);
    else if (field === 'stream' && (one === 'true' || one === 'false')) out[field] = one === 'true';
    else if (field === 'loras' && typeof one === 'string' && one.trim().startsWith('[')) out[field] = parseJsonField(one, field);
    else out[field] = one;
  }
  return out;
}

function parseJsonField(text: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidField(field, 'must be JSON when sent as a form field: an array of [LoRA, weight] pairs such as [["<sha256 or name>", 0.7]]');
  }
}

function fileOf(value: unknown, field: string, required: boolean): Buffer | null {
  if (value === undefined || value === null) {
    if (required) throw invalidField(field, 'is required: an image file (PNG, JPEG or WebP)');
    return null;
  }
  if (!Buffer.isBuffer(value)) throw invalidField(field, 'must be a file part of the multipart form (an image file), not a text field');
  return value;
}

/** How big images may be: an input's sides (checked before anything decodes it), an output's. */
export interface ImageBounds {
  maxInputSide: number;
  maxSide: number;
}

/**
 * An uploaded image checked as DAN checks every image (format by its bytes, sides from its header, then
 * its pixels), before anything else decodes it; its base64 and size.
 */
async function checkedImage(field: string, file: Buffer, bounds: ImageBounds): Promise<{ base64: string; width: number; height: number }> {
  return decodeImageField(field, file.toString('base64'), bounds.maxInputSide);
}

/** The output size of an edit without `size`: the input's, scaled down to fit the largest side allowed. */
function fittedSize(image: { width: number; height: number }, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(image.width, image.height));
  return { width: roundSide(Math.max(64, Math.floor(image.width * scale))), height: roundSide(Math.max(64, Math.floor(image.height * scale))) };
}

/**
 * OpenAI's mask (its transparent pixels mark what to repaint) as DAN's (white is repainted, black kept):
 * its alpha channel, inverted. A mask with no transparent pixel would change nothing: refused.
 */
export async function danMaskOf(mask: Buffer, bounds: ImageBounds, image: { width: number; height: number }): Promise<string> {
  const { width, height } = await checkedImage('mask', mask, bounds);
  // As OpenAI's API: a mask of another size than its image would be stretched over it, out of place.
  if (width !== image.width || height !== image.height) throw invalidField('mask', `must be the size of the image (${image.width}×${image.height}), got ${width}×${height}`);
  // Sides checked: no more pixels than those are decoded, whatever the header said.
  const decode = () => sharp(mask, { limitInputPixels: width * height });
  if ((await decode().stats()).isOpaque) throw invalidField('mask', "is fully opaque: its transparent pixels mark the area to repaint, as in OpenAI's API");
  // Made upright here, as the image it goes with is by the WebUI: the white mask sent on keeps no orientation.
  return (await (await uprightOf(decode())).ensureAlpha().extractChannel('alpha').negate().png().toBuffer()).toString('base64');
}

/** Whether an image (checked already: `size`) has a pixel that is not fully opaque. */
async function isTransparentSomewhere(image: Buffer, size: { width: number; height: number }): Promise<boolean> {
  return !(await sharp(image, { limitInputPixels: size.width * size.height }).stats()).isOpaque;
}

/** `POST /v1/images/edits` (multipart: image, optional mask, prompt, …) → a DAN img2img body, inpainting with a mask. */
export async function editAsk(form: unknown, choice: ModelChoice, bounds: ImageBounds): Promise<ImageAsk> {
  const fields = formFields(form);
  const image = fileOf(fields['image'], 'image', true)!;
  const mask = fileOf(fields['mask'], 'mask', false);
  // DAN's inpainting fields (`mask_blur`, `inpaint_area`) go with the mask, into the `inpaint` object.
  const { image: _image, mask: _mask, mask_blur: maskBlur, inpaint_area: inpaintArea, ...rest } = fields;
  const { body, n, size, responseFormat, stream } = translate(rest, choice);
  requirePrompt(body['prompt'], 'a text description of the edited image');
  const input = await checkedImage('image', image, bounds);
  // As OpenAI's API: without a mask, the image's own transparent pixels are the area to repaint.
  const maskSource = mask ?? ((await isTransparentSomewhere(image, input)) ? image : null);
  if (!maskSource && (maskBlur !== undefined || inpaintArea !== undefined)) {
    throw invalidField(maskBlur !== undefined ? 'mask_blur' : 'inpaint_area', 'applies to a mask: send one, or an image with transparent pixels (they are repainted)');
  }
  const given = { ...(maskBlur === undefined ? {} : { mask_blur: maskBlur }), ...(inpaintArea === undefined ? {} : { inpaint_area: inpaintArea }) };
  const inpaint = maskSource ? { inpaint: { mask: await danMaskOf(maskSource, bounds, input), mask_mode: 0, ...given } } : {};
  return { body: { ...body, init_image: input.base64, ...sizeOfEdit(size, input, bounds, isEditModel(body, choice)), ...inpaint }, n, responseFormat, stream };
}

/** How far a variation may move from its image, unless `denoising_strength` is given. */
const VARIATION_STRENGTH = 0.6;

/** `POST /v1/images/variations` (multipart: image, …) → a DAN img2img body without a prompt (one may be given as an extra field). */
export async function variationAsk(form: unknown, choice: ModelChoice, bounds: ImageBounds): Promise<ImageAsk> {
  const fields = formFields(form);
  const image = fileOf(fields['image'], 'image', true)!;
  const { image: _image, ...rest } = fields;
  // Before the fields' own checks: partial images alone would be told to come with `stream`, which is refused here.
  for (const field of ['stream', 'partial_images']) {
    if (rest[field] !== undefined && rest[field] !== null && rest[field] !== false && rest[field] !== 0) throw invalidField(field, "variations are not streamed (nor are they in OpenAI's API): leave stream and partial_images out");
  }
  const { body, n, size, responseFormat } = translate(rest, choice);
  const input = await checkedImage('image', image, bounds);
  // An edit model redraws the whole image (strength 1 only): a variation of it is one, with no strength of its own.
  const edit = isEditModel(body, choice);
  return { body: { ...(edit ? {} : { denoising_strength: VARIATION_STRENGTH }), ...body, init_image: input.base64, ...sizeOfEdit(size, input, bounds, edit) }, n, responseFormat, stream: null };
}

/** Whether the request's model is an edit model (FLUX.1 Kontext, Qwen-Image-Edit). */
function isEditModel(body: Record<string, unknown>, choice: ModelChoice): boolean {
  const family = choice.familyOf?.(String(body['model'])) ?? null;
  return family !== null && familyTraits[family]?.edits === true;
}

/**
 * The size of an edit or variation: the one asked for, else the image's (fitted to the largest side); for an edit
 * model, none, so that DAN's parser gives its edit size nearest the image's aspect (about a megapixel).
 */
function sizeOfEdit(size: { width: number; height: number } | null, input: { width: number; height: number }, bounds: ImageBounds, edit: boolean): { width?: number; height?: number } {
  if (size) return size;
  return edit ? {} : fittedSize(input, bounds.maxSide);
}
