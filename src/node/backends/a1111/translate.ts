/**
 * @module node/backends/a1111/translate
 *
 * Pure translation between DAN's neutral `GenerationSpec` and the HTTP API of an
 * AUTOMATIC1111-compatible WebUI (v1.9/v1.10 field set, sd-webui-controlnet
 * ≥ 1.1.447 unit shape). Names of checkpoints, LoRAs, samplers, upscalers and
 * ControlNet models come from the `Binding` the gateway computed for this node,
 * so nothing here knows the catalog.
 *
 * @example
 * const { path, body } = toA1111Request(spec, binding);
 * const json = await client.post(path, body);
 * const result = fromA1111Response(spec, json);
 */
import type { Binding } from '../../../domain/binding.js';
import type {
  ControlNetUnitSpec,
  DiffusionSpec,
  GenerationSpec,
  Img2ImgSpec,
  InpaintSpec,
  ResizeMode,
  TaskResult,
  Txt2ImgSpec,
} from '../../../domain/spec.js';
import { DanError } from '../../../errors/dan-error.js';

export interface A1111Request {
  path: string;
  body: Record<string, unknown>;
}

type Body = Record<string, unknown>;

/** A1111 img2img `resize_mode` is an int (A.3). */
const IMG2IMG_RESIZE_MODES: Record<ResizeMode, number> = {
  just_resize: 0,
  crop_and_resize: 1,
  resize_and_fill: 2,
};

/** ControlNet ≥ 1.1.447 accepts only the enum strings, not ints (B.3). */
const CONTROLNET_RESIZE_MODES: Record<ResizeMode, string> = {
  just_resize: 'Just Resize',
  crop_and_resize: 'Crop and Resize',
  resize_and_fill: 'Resize and Fill',
};

/** Pixels of padding around the masked area when inpainting "only masked"; A1111's UI default. */
const INPAINT_PADDING_PX = 32;
/** Preprocessor resolution; the extension's own default for canny/openpose. */
const CONTROLNET_PROCESSOR_RES_PX = 512;

/** The WebUI route and JSON body that run `spec` on this node. Throws if `binding` lacks a name the spec needs. */
export function toA1111Request(spec: GenerationSpec, binding: Binding): A1111Request {
  switch (spec.kind) {
    case 'txt2img':
      return { path: '/sdapi/v1/txt2img', body: toTxt2ImgBody(spec, binding) };
    case 'img2img':
      return { path: '/sdapi/v1/img2img', body: toImg2ImgBody(spec, binding) };
    case 'interrogate':
      return {
        path: '/sdapi/v1/interrogate',
        body: { image: spec.image, model: requireBound(binding.interrogator, 'interrogator') },
      };
    case 'upscale':
      return {
        path: '/sdapi/v1/extra-single-image',
        body: {
          image: spec.image,
          resize_mode: 0,
          upscaling_resize: spec.scale,
          upscaler_1: requireBound(binding.upscaler, 'upscaler'),
          upscaler_2: binding.upscaler2 ?? 'None',
          extras_upscaler_2_visibility: spec.upscaler2Visibility,
          show_extras_results: true,
          gfpgan_visibility: 0,
          codeformer_visibility: 0,
          codeformer_weight: 0,
          upscale_first: false,
        },
      };
  }
}

function toTxt2ImgBody(spec: Txt2ImgSpec, binding: Binding): Body {
  const body = toDiffusionBody(spec, binding);
  if (spec.hires) {
    body['enable_hr'] = true;
    body['hr_scale'] = spec.hires.scale;
    body['hr_upscaler'] = requireBound(binding.hiresUpscaler, 'hires upscaler');
    // txt2img's generated schema defaults denoising_strength to null (A.2 quirk): always send it.
    body['denoising_strength'] = spec.hires.denoisingStrength;
    // 0 = as many steps as the first pass.
    body['hr_second_pass_steps'] = 0;
    if (binding.forgeModules !== undefined) {
      // Forge runs the second pass at its own hr_cfg, which its API defaults to 1 (its UI copies the CFG):
      // the negative prompt would be dropped and the guidance lost.
      body['hr_cfg'] = spec.cfgScale;
      if (spec.guidance !== undefined) body['hr_distilled_cfg'] = spec.guidance;
      // Its API leaves the second pass's modules None, and the pass then fails (`'Use same choices' not in
      // None`): the first pass's, as its UI says it.
      body['hr_additional_modules'] = ['Use same choices'];
    }
  }
  if (spec.refiner) {
    body['refiner_checkpoint'] = requireBound(binding.refiner, 'refiner');
    body['refiner_switch_at'] = spec.refiner.switchAt;
  }
  return body;
}

function toImg2ImgBody(spec: Img2ImgSpec, binding: Binding): Body {
  const body = toDiffusionBody(spec, binding);
  body['init_images'] = [spec.initImage];
  body['resize_mode'] = IMG2IMG_RESIZE_MODES[spec.resizeMode];
  body['denoising_strength'] = spec.denoisingStrength;
  if (spec.inpaint) Object.assign(body, toInpaintFields(spec.inpaint));
  return body;
}

/**
 * Mask polarity: A1111 regenerates the WHITE pixels of the mask when
 * `inpainting_mask_invert` is 0. The DAN API's `mask_mode 0` ("regenerate where
 * masked") therefore maps to 0 here; the original deployment sent `1 - mask_mode`
 * and so regenerated the black pixels by default.
 */
function toInpaintFields(inpaint: InpaintSpec): Body {
  return {
    mask: inpaint.mask,
    mask_blur: inpaint.maskBlur,
    // 1 = start from the original pixels; 0 ("fill") blurs the area away first, which
    // looks wrong whenever the denoising strength is below 1.
    inpainting_fill: 1,
    inpaint_full_res: inpaint.area === 'masked_only',
    inpaint_full_res_padding: INPAINT_PADDING_PX,
    inpainting_mask_invert: inpaint.regenerate === 'masked' ? 0 : 1,
  };
}

function toDiffusionBody(spec: DiffusionSpec, binding: Binding): Body {
  const sampler = requireBound(binding.sampler, 'sampler');
  const body: Body = {
    prompt: withLoraTags(spec, binding),
    negative_prompt: spec.negativePrompt,
    seed: spec.seed,
    sampler_name: sampler.sampler,
    ...(sampler.scheduler === null ? {} : { scheduler: sampler.scheduler }),
    steps: spec.steps,
    cfg_scale: spec.cfgScale,
    width: spec.width,
    height: spec.height,
    batch_size: 1,
    n_iter: 1,
    // Forge: with the modules to load beside the checkpoint, kept loaded as it is (restored, Forge would load
    // the model again for the next job); none for a model that needs none.
    override_settings: {
      sd_model_checkpoint: requireBound(binding.checkpoint, 'checkpoint'),
      ...(binding.forgeModules === undefined ? {} : { forge_additional_modules: [...binding.forgeModules] }),
    },
    // Keep the model loaded: the gateway schedules tasks by the model a node has loaded.
    override_settings_restore_afterwards: false,
    send_images: true,
    save_images: false,
  };
  if (spec.controlNet.length > 0) {
    body['alwayson_scripts'] = { controlnet: { args: toControlNetUnits(spec.controlNet, binding) } };
  }
  if (binding.forgeModules !== undefined && spec.guidance !== undefined) {
    // Flux on Forge: its distilled guidance, and the Simple schedule unless one was asked for (Forge's own
    // Flux preset; with the sampler's default schedule Flux makes noise).
    body['distilled_cfg_scale'] = spec.guidance;
    if (sampler.scheduler === null) body['scheduler'] = 'Simple';
  }
  return body;
}

/** `<lora:NAME:W>` tags after the prompt; A1111 strips them before encoding the text. */
function withLoraTags(spec: DiffusionSpec, binding: Binding): string {
  if (spec.loras.length === 0) return spec.prompt;
  const names = requireBound(binding.loras, 'LoRA names');
  const tags = spec.loras.map((use, i) => `<lora:${requireBound(names[i], `LoRA ${use.lora.name}`)}:${String(use.weight)}>`);
  return [spec.prompt, ...tags].filter((part) => part.length > 0).join(' ');
}

function toControlNetUnits(units: readonly ControlNetUnitSpec[], binding: Binding): Body[] {
  const bound = requireBound(binding.controlNet, 'ControlNet models');
  return units.map((unit, i) => {
    const names = requireBound(bound[i], `ControlNet unit ${i}`);
    return {
      // Required since ControlNet 1.1.447: units default to disabled.
      enabled: true,
      module: names.module,
      model: names.model,
      weight: unit.weight,
      image: unit.image,
      resize_mode: CONTROLNET_RESIZE_MODES[unit.resizeMode],
      processor_res: CONTROLNET_PROCESSOR_RES_PX,
      ...(unit.thresholdA === null ? {} : { threshold_a: unit.thresholdA }),
      ...(unit.thresholdB === null ? {} : { threshold_b: unit.thresholdB }),
      guidance_start: unit.guidanceStart,
      guidance_end: unit.guidanceEnd,
      // Guess Mode was removed in 1.1.136; its successor is this control mode.
      control_mode: unit.guessMode ? 'ControlNet is more important' : 'Balanced',
      pixel_perfect: false,
      // Otherwise the detected map is appended to `images` next to the result.
      save_detected_map: false,
    };
  });
}

function requireBound<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') {
    // The gateway only assigns tasks it could bind, so this is a gateway/agent bug.
    throw new DanError('DAN_ERR_NODE_INTERNAL', `The task's binding has no ${what} for this node`);
  }
  return value;
}

// --- responses ---------------------------------------------------------------

/** Images one diffusion request asks for (batch_size × n_iter). */
const IMAGES_PER_REQUEST = 1;
const DATA_URL_PREFIX = /^data:[^,]*,/;

/** The `TaskResult` in a WebUI answer to `toA1111Request(spec, …)`. Throws BAD_RESPONSE when it holds none. */
export function fromA1111Response(spec: GenerationSpec, json: unknown): TaskResult {
  const answer = asRecord(json);
  switch (spec.kind) {
    case 'txt2img':
    case 'img2img': {
      // Extensions may append extra images (e.g. ControlNet maps): keep what was asked for.
      const images = parseImageList(answer['images']).slice(0, IMAGES_PER_REQUEST);
      return { kind: 'images', images, seeds: parseSeeds(answer['info']).slice(0, images.length) };
    }
    case 'interrogate': {
      const caption = answer['caption'];
      if (typeof caption !== 'string') throw badResponse('interrogate answer has no "caption" string');
      return { kind: 'caption', caption };
    }
    case 'upscale':
      return { kind: 'images', images: [parseImage(answer['image'], 'image')], seeds: [] };
  }
}

function asRecord(json: unknown): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw badResponse(`expected a JSON object, got ${json === null ? 'null' : typeof json}`);
  }
  return json as Record<string, unknown>;
}

function parseImageList(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw badResponse('answer has no "images"');
  return value.map((image, i) => parseImage(image, `images[${i}]`));
}

function parseImage(value: unknown, field: string): string {
  if (typeof value !== 'string') throw badResponse(`"${field}" is not a string`);
  const data = value.replace(DATA_URL_PREFIX, '');
  if (data.length === 0) throw badResponse(`"${field}" is empty`);
  return data;
}

/**
 * Seeds from `info` (a JSON string in A1111; tolerated as an object). Missing or
 * odd seeds never fail a task that produced images: the seed is informative.
 */
function parseSeeds(info: unknown): number[] {
  let parsed: unknown = info;
  if (typeof info === 'string') {
    try {
      parsed = JSON.parse(info);
    } catch {
      return [];
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const { all_seeds: allSeeds, seed } = parsed as { all_seeds?: unknown; seed?: unknown };
  if (Array.isArray(allSeeds) && allSeeds.length > 0 && allSeeds.every(Number.isSafeInteger)) {
    return allSeeds as number[];
  }
  return Number.isSafeInteger(seed) ? [seed as number] : [];
}

function badResponse(problem: string): DanError {
  return new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', `The WebUI's answer is not a result: ${problem}`);
}
