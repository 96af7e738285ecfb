/**
 * @module sandbox/generation-request
 *
 * Turns a txt2img / img2img body into a `GenerationPlan`, refusing whatever a
 * careful client should not send: unknown fields and wrong types (422), unknown
 * samplers (400), unknown schedulers, checkpoints, LoRAs, styles and scripts,
 * bad ControlNet units, and images that do not decode.
 */
import { parseBody } from './body-validation.js';
import { parseControlNetUnits } from './controlnet-units.js';
import { fixSeed, seedsOf, toLatentSize, type GenerationPlan } from './generation-plan.js';
import {
  Img2ImgBody,
  img2imgDefaults,
  MAX_IMAGES_PER_REQUEST,
  Txt2ImgBody,
  txt2imgDefaults,
  type DiffusionBody,
} from './generation-schemas.js';
import { parseForgeFields } from './forge-fields.js';
import { parseHires } from './hires-plan.js';
import { httpException, strictError } from './http-errors.js';
import { decodeOptionalImage } from './image-decoding.js';
import { parseImg2ImgInputs } from './img2img-inputs.js';
import { findCheckpoint, type CheckpointRecord, type Inventory, type LoraRecord } from './inventory.js';
import { parseLoraTags } from './prompt-loras.js';
import { resolveSampler } from './sampler-resolution.js';

export async function parseGenerationRequest(
  inventory: Inventory,
  kind: 'txt2img' | 'img2img',
  raw: unknown,
): Promise<GenerationPlan> {
  const body: DiffusionBody = kind === 'txt2img' ? parseBody(Txt2ImgBody, raw) : parseBody(Img2ImgBody, raw);
  assertScriptName(body.script_name);
  assertNoStyles(body.styles);
  const batchSize = body.batch_size ?? 1;
  const nIter = body.n_iter ?? 1;
  if (batchSize * nIter > MAX_IMAGES_PER_REQUEST) {
    throw strictError(['body', 'n_iter'], `batch_size × n_iter = ${batchSize * nIter}; the sandbox makes at most ${MAX_IMAGES_PER_REQUEST} images per request`);
  }
  const requested = { width: body.width ?? 512, height: body.height ?? 512 };
  const steps = body.steps ?? 50;
  const samplerName = body.sampler_name ?? body.sampler_index ?? 'Euler';
  const sampler = resolveSampler(inventory, { samplerName, scheduler: body.scheduler ?? null }, { scheduler: ['body', 'scheduler'] });
  const hires = kind === 'txt2img' ? parseHires(inventory, body, { requested, steps, samplerName, sampler }) : null;
  const img2img = kind === 'img2img' ? await parseImg2ImgInputs(body, steps, batchSize) : null;
  // Decoded only to refuse a bad one: the sandbox's second pass does not start from it.
  await decodeOptionalImage(body.firstpass_image);
  const subseedStrength = body.subseed_strength ?? 0;
  const { seeds, subseeds } = seedsOf(fixSeed(body.seed), fixSeed(body.subseed), { count: batchSize * nIter, subseedStrength });
  const defaults = kind === 'txt2img' ? txt2imgDefaults : img2imgDefaults;
  return {
    kind,
    parameters: echoParameters(defaults, body),
    prompt: body.prompt ?? '',
    negativePrompt: body.negative_prompt ?? '',
    seeds,
    subseeds,
    subseedStrength,
    requested,
    size: toLatentSize(requested),
    steps,
    cfgScale: body.cfg_scale ?? 7,
    batchSize,
    nIter,
    sampler,
    checkpoint: checkpointOverride(inventory, body.override_settings),
    refiner: refinerOf(inventory, body.refiner_checkpoint, body.refiner_switch_at),
    restoreAfterwards: body.override_settings_restore_afterwards ?? true,
    loras: lorasOf(inventory, body),
    hires,
    img2img,
    controlNet: await parseControlNetUnits(inventory, body.alwayson_scripts, kind),
    sendImages: body.send_images ?? true,
    forge: parseForgeFields(inventory, body),
  };
}

/** The sandbox has no selectable scripts; A1111 answers an unknown one with this 422. */
function assertScriptName(name: string | null | undefined): void {
  if (name) throw httpException(422, `Script '${name}' not found`);
}

function assertNoStyles(styles: readonly string[] | null | undefined): void {
  if (styles && styles.length > 0) {
    throw strictError(['body', 'styles'], `no prompt styles exist here (/sdapi/v1/prompt-styles is empty); A1111 would silently skip "${styles.join('", "')}"`);
  }
}

/** The refiner checkpoint, by any of its aliases; "" and "None" are none. A1111 fails a job whose refiner it cannot find. */
function refinerOf(inventory: Inventory, name: string | null | undefined, switchAt: number | null | undefined): CheckpointRecord | null {
  if (!name || name === 'None') return null;
  const found = findCheckpoint(inventory, name);
  if (!found) throw strictError(['body', 'refiner_checkpoint'], `checkpoint ${JSON.stringify(name)} not found; use a title or name of /sdapi/v1/sd-models`);
  if (switchAt === null || switchAt === undefined || switchAt <= 0 || switchAt >= 1) {
    throw strictError(['body', 'refiner_switch_at'], `must be between 0 and 1 (exclusive) with a refiner, got ${JSON.stringify(switchAt)}; A1111 would run no refiner`);
  }
  return found;
}

/** Only an exact `checkpoint_aliases` key; the real WebUI silently ignores anything else. */
function checkpointOverride(inventory: Inventory, settings: Readonly<Record<string, unknown>> | null | undefined): CheckpointRecord | null {
  if (!settings || !('sd_model_checkpoint' in settings)) return null;
  const value = settings['sd_model_checkpoint'];
  const found = typeof value === 'string' ? findCheckpoint(inventory, value) : undefined;
  if (!found) {
    const titles = inventory.checkpoints.map((c) => c.title).join(', ');
    throw strictError(
      ['body', 'override_settings', 'sd_model_checkpoint'],
      `checkpoint ${JSON.stringify(value)} not found (A1111 would silently keep the current model); use a title, name, model_name, sha256 or short hash of /sdapi/v1/sd-models: ${titles}`,
    );
  }
  return found;
}

function lorasOf(inventory: Inventory, body: DiffusionBody): LoraRecord[] {
  if (body.disable_extra_networks) return [];
  const texts: [string, string | null | undefined][] = [
    ['prompt', body.prompt],
    ['negative_prompt', body.negative_prompt],
  ];
  if ('hr_prompt' in body) texts.push(['hr_prompt', body.hr_prompt], ['hr_negative_prompt', body.hr_negative_prompt]);
  const all = texts.flatMap(([field, text]) => parseLoraTags(inventory, text ?? '', ['body', field]));
  return [...new Set(all)];
}

/** `vars(request)`: every field of the model, defaults filled in, images left out unless asked for. */
function echoParameters(defaults: Readonly<Record<string, unknown>>, body: DiffusionBody): Record<string, unknown> {
  const parameters: Record<string, unknown> = { ...defaults, ...body };
  if ('init_images' in parameters && !parameters['include_init_images']) {
    parameters['init_images'] = null;
    parameters['mask'] = null;
  }
  return parameters;
}
