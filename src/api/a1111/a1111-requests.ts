/**
 * @module api/a1111/a1111-requests
 *
 * AUTOMATIC1111 WebUI request bodies (`/sdapi/v1/txt2img`, `img2img`,
 * `extra-single-image`, `interrogate`) as DAN request bodies, checked by DAN's
 * parsers afterwards. Every field of A1111's request models is known here, in
 * one of three ways:
 *
 * - **mapped** to a DAN field (prompt, seed, sampler and scheduler, steps, the
 *   hires fields, the checkpoint in `override_settings`, init image and mask,
 *   ControlNet units in `alwayson_scripts.controlnet`);
 * - **honoured at its default**: a field DAN has no place for is accepted when
 *   it holds A1111's own default (or a value that changes nothing, such as
 *   `null`); WebUI client libraries send some 45 fields on every call;
 * - otherwise **refused** with A1111's 422 shape naming the field and what DAN
 *   takes, never silently dropped.
 *
 * Masks keep A1111's meaning (white, or opaque alpha, is repainted), which is
 * DAN's own. The table of fields is in docs/a1111-api.md.
 */
import { type FamilyTraits, familyTraits, type ModelFamily, SD_DEFAULT_CFG_SCALE, SD_DEFAULT_STEPS } from '../../domain/families.js';
import { a1111Field } from './a1111-errors.js';

type Body = Record<string, unknown>;

/** What a field of A1111 may hold when DAN has no place for it: the values that change nothing. */
type Neutral = readonly unknown[];

const at = (...values: unknown[]): Neutral => [null, undefined, ...values];
/** Any value: A1111 itself does nothing with it here (saving files, task ids, comments). */
const ANY = 'any' as const;

/** Fields of both txt2img and img2img that DAN has no place for, and what they may hold. */
const SHARED_NEUTRAL: Record<string, Neutral | typeof ANY> = {
  styles: at([]),
  subseed: at(-1, 0),
  subseed_strength: at(0),
  seed_resize_from_h: at(-1, 0),
  seed_resize_from_w: at(-1, 0),
  restore_faces: at(false),
  tiling: at(false),
  do_not_save_samples: ANY,
  do_not_save_grid: ANY,
  // null lets A1111 take its settings' values: eta 1 for ancestral samplers, 0 for DDIM; the s_* are 0 and 1.
  eta: at(0, 1),
  s_min_uncond: at(0),
  s_churn: at(0),
  s_tmax: at(0),
  s_tmin: at(0),
  s_noise: at(1),
  override_settings_restore_afterwards: ANY,
  disable_extra_networks: at(false),
  firstpass_image: at(''),
  comments: ANY,
  force_task_id: ANY,
  sampler_index: ANY,
  script_name: at('', 'None'),
  script_args: at([]),
  send_images: at(true),
  // Whether the WebUI also writes the images to its own outputs folder: nothing a caller gets changes.
  save_images: ANY,
  // SD.Next's CLIP skip, which some clients (SillyTavern) send to A1111 too (which ignores it); DAN's is 1.
  clip_skip: at(1),
  infotext: at(''),
};

const TXT2IMG_NEUTRAL: Record<string, Neutral | typeof ANY> = {
  ...SHARED_NEUTRAL,
  firstphase_width: at(0),
  firstphase_height: at(0),
  hr_resize_x: at(0),
  hr_resize_y: at(0),
  hr_second_pass_steps: at(0),
  hr_checkpoint_name: at('', 'Use same checkpoint'),
  hr_sampler_name: at('', 'Use same sampler'),
  hr_scheduler: at('', 'Use same scheduler'),
  hr_prompt: at(''),
  hr_negative_prompt: at(''),
  hr_additional_modules: at([], ['Use same choices']),
};

const IMG2IMG_NEUTRAL: Record<string, Neutral | typeof ANY> = {
  ...SHARED_NEUTRAL,
  // DAN runs SDXL's refiner in txt2img only.
  refiner_checkpoint: at('', 'None'),
  refiner_switch_at: ANY,
  // Read by instruct-pix2pix checkpoints only (A1111's `sd_models_config`), which DAN does not run: webuiapi sends 1.5.
  image_cfg_scale: ANY,
  mask_round: ANY,
  // A1111's default (0, fill) and DAN's choice (1, original: see node/backends/a1111/translate.ts).
  inpainting_fill: at(0, 1),
  inpaint_full_res_padding: at(0, 32),
  initial_noise_multiplier: at(1),
  latent_mask: at(''),
  include_init_images: at(false),
};

/** Fields read (mapped) rather than checked: a txt2img's and an img2img's. */
const TXT2IMG_MAPPED = ['prompt', 'negative_prompt', 'seed', 'sampler_name', 'scheduler', 'distilled_cfg_scale', 'refiner_checkpoint', 'refiner_switch_at', 'batch_size', 'n_iter', 'steps', 'cfg_scale', 'width', 'height', 'override_settings', 'alwayson_scripts', 'enable_hr', 'hr_scale', 'hr_upscaler', 'denoising_strength'];
const IMG2IMG_MAPPED = [...TXT2IMG_MAPPED.filter((f) => !f.startsWith('hr_') && !f.startsWith('refiner_') && f !== 'enable_hr'), 'init_images', 'resize_mode', 'mask', 'mask_blur', 'mask_blur_x', 'mask_blur_y', 'inpaint_full_res', 'inpainting_mask_invert'];

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (Array.isArray(a) && Array.isArray(b) && JSON.stringify(a) === JSON.stringify(b));
}

/** Refuses a field DAN does not honour at the value sent; A1111 itself would take it (it is one of its fields). */
function checkNeutral(body: Body, neutral: Record<string, Neutral | typeof ANY>, mapped: readonly string[]): void {
  for (const [field, value] of Object.entries(body)) {
    if (mapped.includes(field)) continue;
    const allowed = neutral[field];
    if (allowed === undefined) throw a1111Field(field, 'is not a field of this endpoint of the AUTOMATIC1111 API');
    if (allowed === ANY || allowed.some((v) => sameValue(v, value))) continue;
    const shown = allowed.filter((v) => v !== undefined).map((v) => JSON.stringify(v));
    throw a1111Field(field, `is not supported by DAN except at ${shown.join(' or ')} (A1111's default), got ${JSON.stringify(value)}`);
  }
}

function asBody(body: unknown): Body {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw a1111Field('body', 'must be a JSON object');
  return body as Body;
}

/** Whether pydantic reads `value` as a boolean false (as A1111's API models do): false, 0, and their spellings. */
function falseAsPydantic(value: unknown): boolean {
  if (value === false || value === 0) return true;
  return typeof value === 'string' && ['false', '0', 'no', 'off', 'f', 'n'].includes(value.trim().toLowerCase());
}

/** A value that is not `null`/`undefined`: A1111's models take `null` for "the default" everywhere. */
const given = (value: unknown): boolean => value !== null && value !== undefined;

/** How the checkpoint is chosen: `override_settings.sd_model_checkpoint` (any of A1111's spellings), else the caller's default. */
export interface CheckpointChoice {
  /** A checkpoint as A1111 names it (title `name [hash]`, name, sha256, short hash) → DAN's name or sha256; null when unknown. */
  resolve: (value: string) => string | null;
  /** The caller's default (POST /sdapi/v1/options), else the gateway's; null when the network serves none. */
  fallback: () => string | null;
  /** The checkpoint's family (as DAN names it), null when unknown: Forge's `distilled_cfg_scale` is a Flux model's guidance. */
  familyOf: (model: string) => ModelFamily | null;
}

/** A1111's img2img `denoising_strength` default, which its clients send on every call. */
const A1111_DENOISING_DEFAULT = 0.75;

/** What Forge's clients send as `distilled_cfg_scale` whatever the model: honoured for models that have no such guidance. */
const FORGE_DISTILLED_DEFAULT = 3.5;

/** Whether a txt2img or img2img body names its checkpoint (`override_settings.sd_model_checkpoint`): then no default is asked for. */
export function namesCheckpoint(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const settings = (body as Body)['override_settings'];
  return typeof settings === 'object' && settings !== null && given((settings as Body)['sd_model_checkpoint']);
}

/** Settings of A1111's `override_settings` that DAN has no place for, at the values (A1111's defaults) that change nothing. */
const NEUTRAL_SETTINGS: Record<string, Neutral> = {
  CLIP_stop_at_last_layers: [1, null],
  // The checkpoint's own VAE (or the WebUI's default): what DAN's nodes use.
  sd_vae: ['Automatic', null],
  eta_noise_seed_delta: [0, null],
};

function readCheckpoint(body: Body, choice: CheckpointChoice): string {
  const settings = body['override_settings'];
  if (given(settings)) {
    if (typeof settings !== 'object' || Array.isArray(settings)) throw a1111Field('override_settings', 'must be an object');
    for (const [key, value] of Object.entries(settings as Body)) {
      if (key === 'sd_model_checkpoint') continue;
      const allowed = NEUTRAL_SETTINGS[key];
      if (allowed?.some((v) => sameValue(v, value))) continue;
      const others = `only sd_model_checkpoint may be overridden, and ${Object.entries(NEUTRAL_SETTINGS).map(([name, values]) => `${name} at ${values.filter((v) => v !== null).map((v) => JSON.stringify(v)).join(' or ')}`).join(', ')}`;
      throw a1111Field(`override_settings.${key}`, allowed ? `is not supported by DAN except at ${allowed.filter((v) => v !== null).map((v) => JSON.stringify(v)).join(' or ')}, got ${JSON.stringify(value)}` : `is not supported by DAN: ${others}`);
    }
    const checkpoint = (settings as Body)['sd_model_checkpoint'];
    if (given(checkpoint)) {
      if (typeof checkpoint !== 'string') throw a1111Field('override_settings.sd_model_checkpoint', 'must be a checkpoint title or name');
      // A name DAN does not know goes on as it is: DAN's parser refuses it with the names it has.
      return choice.resolve(checkpoint) ?? checkpoint;
    }
  }
  const fallback = choice.fallback();
  if (fallback === null) throw a1111Field('override_settings.sd_model_checkpoint', 'is required: no default checkpoint is set (POST /sdapi/v1/options) and no node serves one now');
  return fallback;
}

/** `sampler_name` (or `sampler_index`) and `scheduler` as DAN's fields of the same names; "" is A1111's "none". */
function readSampler(body: Body): Body {
  const sampler = given(body['sampler_name']) ? body['sampler_name'] : body['sampler_index'];
  const scheduler = body['scheduler'];
  return {
    ...(given(sampler) ? { sampler_name: sampler } : {}),
    ...(given(scheduler) && scheduler !== '' ? { scheduler } : {}),
  };
}

/** How many images (tasks): batch_size × n_iter, each image a task of its own. */
function readCount(body: Body): number {
  const read = (field: string) => {
    const value = body[field];
    if (!given(value)) return 1;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw a1111Field(field, `must be an integer of at least 1, got ${JSON.stringify(value)}`);
    return value;
  };
  const count = read('batch_size') * read('n_iter');
  if (count > MAX_IMAGES) throw a1111Field('batch_size', `batch_size × n_iter may be at most ${MAX_IMAGES} on DAN (each image is a task), got ${count}`);
  return count;
}

/** Most images one request may ask for (batch_size × n_iter). */
const MAX_IMAGES = 16;

/** sd-webui-controlnet's names of its resize modes and control modes, as DAN's codes. */
const CONTROLNET_RESIZE: Record<string, number> = { 'just resize': 0, 'crop and resize': 1, 'resize and fill': 2, inner_fit: 1, outer_fit: 2, envelope: 0 };
const GUESS_MODES: Record<string, boolean> = { balanced: false, 'controlnet is more important': true, 'my prompt is more important': false };

/** `alwayson_scripts.controlnet.args` as DAN's `control_net` units; other scripts are refused. */
function readControlNet(body: Body): Body[] | undefined {
  const scripts = body['alwayson_scripts'];
  if (!given(scripts)) return undefined;
  if (typeof scripts !== 'object' || Array.isArray(scripts)) throw a1111Field('alwayson_scripts', 'must be an object');
  const units: Body[] = [];
  for (const [name, script] of Object.entries(scripts as Body)) {
    if (name.toLowerCase() !== 'controlnet') throw a1111Field(`alwayson_scripts.${name}`, 'is not supported by DAN: only controlnet is');
    const args = (script as { args?: unknown } | null)?.args;
    if (!Array.isArray(args)) throw a1111Field(`alwayson_scripts.${name}.args`, 'must be a list of ControlNet units');
    args.forEach((unit, index) => {
      const path = `alwayson_scripts.${name}.args[${index}]`;
      if (unit === null || typeof unit !== 'object') throw a1111Field(path, 'must be a ControlNet unit object');
      const u = unit as Body;
      if (u['enabled'] === false) return;
      const resize = u['resize_mode'];
      const mode = u['control_mode'];
      units.push({
        image: u['image'] ?? u['input_image'],
        preprocess: u['module'] ?? 'none',
        // sd-webui-controlnet lists its models with a short hash, "control_v11p_sd15_canny [d14c016b]".
        model: typeof u['model'] === 'string' ? u['model'].replace(/\s*\[[0-9a-f]{6,64}\]$/i, '') : u['model'],
        ...(given(u['weight']) ? { weight: u['weight'] } : {}),
        ...(given(u['threshold_a']) && u['threshold_a'] !== -1 ? { preprocess_param1: u['threshold_a'] } : {}),
        ...(given(u['threshold_b']) && u['threshold_b'] !== -1 ? { preprocess_param2: u['threshold_b'] } : {}),
        ...(given(resize) ? { resize_mode: typeof resize === 'string' ? (CONTROLNET_RESIZE[resize.toLowerCase()] ?? resize) : resize } : {}),
        ...(given(u['guidance_start']) ? { guidance_start: u['guidance_start'] } : {}),
        ...(given(u['guidance_end']) ? { guidance_end: u['guidance_end'] } : {}),
        ...(given(mode) ? { guess_mode: typeof mode === 'string' ? (GUESS_MODES[mode.toLowerCase()] ?? mode) : mode === 2 } : {}),
      });
    });
  }
  return units.length > 0 ? units : undefined;
}

/** What every generation shares: DAN's body and the number of images. */
export interface A1111Ask {
  body: Body;
  count: number;
}

/** The fields txt2img and img2img share, in DAN's words, and the traits of the checkpoint's family (null: not known). */
function diffusionBody(body: Body, choice: CheckpointChoice): { out: Body; traits: FamilyTraits | null } {
  const controlNet = readControlNet(body);
  const out: Body = { model: readCheckpoint(body, choice), ...readSampler(body) };
  for (const field of ['prompt', 'negative_prompt', 'seed', 'steps', 'cfg_scale', 'width', 'height']) if (given(body[field])) out[field] = body[field];
  const family = choice.familyOf(String(out['model']));
  const traits = family ? familyTraits[family] : null;
  // A1111's clients send its default cfg_scale, 7, on every call: for a model that runs at cfg 1 (Flux, Z-Image-Turbo)
  // it is the client's default, not a choice, and counts as honoured; another value is sent on, for DAN's parser to
  // refuse with its reason.
  if (traits !== null && traits.guidance !== 'cfg' && out['cfg_scale'] === SD_DEFAULT_CFG_SCALE) delete out['cfg_scale'];
  // Forge's name for Flux's distilled guidance. Its clients send it on every call: at Forge's default it changes
  // nothing for other models; another value for one is sent on, for DAN's parser to refuse with its reason.
  const distilled = body['distilled_cfg_scale'];
  if (given(distilled) && (traits?.guidance === 'distilled' || distilled !== FORGE_DISTILLED_DEFAULT)) out['guidance'] = distilled;
  // A1111's default where DAN's differs: 50 steps, and its clients expect them; a turbo model's own few.
  if ((traits?.defaultSteps ?? SD_DEFAULT_STEPS) === SD_DEFAULT_STEPS) out['steps'] ??= 50;
  if (controlNet) out['control_net'] = controlNet;
  return { out, traits };
}

/** `POST /sdapi/v1/txt2img` → a DAN txt2img body, and how many images. */
export function txt2imgAsk(raw: unknown, choice: CheckpointChoice): A1111Ask {
  const body = asBody(raw);
  checkNeutral(body, TXT2IMG_NEUTRAL, TXT2IMG_MAPPED);
  const { out } = diffusionBody(body, choice);
  const refiner = body['refiner_checkpoint'];
  const switchAt = body['refiner_switch_at'];
  // "" and "None" (any case) are A1111's "no refiner", and so is a switch at the very end: the refiner never runs.
  const noRefiner = !given(refiner) || refiner === '' || (typeof refiner === 'string' && refiner.toLowerCase() === 'none') || switchAt === 1;
  if (!noRefiner) {
    out['refiner'] = { model: typeof refiner === 'string' ? (choice.resolve(refiner) ?? refiner) : refiner, ...(given(switchAt) ? { switch_at: switchAt } : {}) };
  }
  if (body['enable_hr'] === true) {
    out['upscale'] = {
      scale: given(body['hr_scale']) ? body['hr_scale'] : 2,
      ...(given(body['hr_upscaler']) ? { upscaler: body['hr_upscaler'] } : { upscaler: 'Latent' }),
      ...(given(body['denoising_strength']) ? { denoising_strength: body['denoising_strength'] } : {}),
    };
  } else if (given(body['enable_hr']) && body['enable_hr'] !== false) throw a1111Field('enable_hr', 'must be a boolean');
  return { body: out, count: readCount(body) };
}

/** `POST /sdapi/v1/img2img` → a DAN img2img body (inpainting with `mask`), and how many images. */
export function img2imgAsk(raw: unknown, choice: CheckpointChoice): A1111Ask {
  const body = asBody(raw);
  checkNeutral(body, IMG2IMG_NEUTRAL, IMG2IMG_MAPPED);
  const { out, traits } = diffusionBody(body, choice);
  const images = body['init_images'];
  if (!Array.isArray(images) || images.length === 0) throw a1111Field('init_images', 'is required: a list with one base64 image');
  if (images.length > 1) throw a1111Field('init_images', `DAN takes one init image per request, got ${images.length}`);
  out['init_image'] = images[0];
  // sd-webui-controlnet gives a unit without an image of its own the init image (webuiapi sends "").
  for (const unit of (out['control_net'] as Body[] | undefined) ?? []) if (unit['image'] === '' || !given(unit['image'])) unit['image'] = images[0];
  if (given(body['resize_mode'])) {
    if (body['resize_mode'] === 3) throw a1111Field('resize_mode', 'is not supported by DAN at 3 (just resize, latent upscale); 0, 1 or 2');
    out['resize_mode'] = body['resize_mode'];
  }
  // An edit model redraws the whole image: A1111's default strength (0.75), which its clients send, counts as its 1.
  if (given(body['denoising_strength']) && !(traits?.edits && body['denoising_strength'] === A1111_DENOISING_DEFAULT)) out['denoising_strength'] = body['denoising_strength'];
  if (given(body['mask'])) out['inpaint'] = inpaintOf(body);
  return { body: out, count: readCount(body) };
}

function inpaintOf(body: Body): Body {
  const blurX = body['mask_blur_x'];
  const blurY = body['mask_blur_y'];
  if (given(blurX) && given(blurY) && blurX !== blurY) throw a1111Field('mask_blur_y', `DAN blurs the mask alike both ways: mask_blur_x and mask_blur_y must be equal, got ${JSON.stringify(blurX)} and ${JSON.stringify(blurY)}`);
  const blur = given(body['mask_blur']) ? body['mask_blur'] : given(blurX) ? blurX : given(blurY) ? blurY : 4;
  const invert = body['inpainting_mask_invert'];
  return {
    mask: body['mask'],
    mask_blur: blur,
    // A1111's 0 repaints the white pixels, DAN's mask_mode 0 too: the same meaning, passed as it is.
    // An int field of A1111's model: pydantic takes true and false as 1 and 0.
    ...(given(invert) ? { mask_mode: typeof invert === 'boolean' ? Number(invert) : invert } : {}),
    // inpaint_full_res: true is "only masked" (A1111's default, also for null), DAN's inpaint_area 1; read as
    // A1111's API (pydantic) reads a boolean: 0, "false", "0", "no", "off" are false.
    inpaint_area: falseAsPydantic(body['inpaint_full_res']) ? 0 : 1,
  };
}

/** `POST /sdapi/v1/extra-single-image` → a DAN upscale body. */
export function upscaleBody(raw: unknown): Body {
  const body = asBody(raw);
  const neutral: Record<string, Neutral | typeof ANY> = {
    resize_mode: at(0),
    show_extras_results: ANY,
    gfpgan_visibility: at(0),
    codeformer_visibility: at(0),
    codeformer_weight: at(0),
    upscaling_resize_w: ANY,
    upscaling_resize_h: ANY,
    upscaling_crop: ANY,
    upscale_first: at(false),
  };
  checkNeutral(body, neutral, ['image', 'upscaling_resize', 'upscaler_1', 'upscaler_2', 'extras_upscaler_2_visibility']);
  const second = body['upscaler_2'];
  return {
    image: body['image'],
    upscalingRate: given(body['upscaling_resize']) ? body['upscaling_resize'] : 2,
    upscaler: body['upscaler_1'],
    ...(given(second) && second !== 'None' ? { upscaler2: second, upscaler2_factor: given(body['extras_upscaler_2_visibility']) ? body['extras_upscaler_2_visibility'] : 0 } : {}),
  };
}

/** `POST /sdapi/v1/interrogate` → a DAN interrogate body (A1111's default interrogator is clip). */
export function interrogateBody(raw: unknown): Body {
  const body = asBody(raw);
  checkNeutral(body, {}, ['image', 'model']);
  return { image: body['image'], model: given(body['model']) ? body['model'] : 'clip' };
}
