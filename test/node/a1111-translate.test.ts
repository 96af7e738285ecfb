import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Binding, bindSpec } from '../../src/domain/binding.js';
import { type NodeOffering, toNodeOffering } from '../../src/domain/offering.js';
import type { GenerationSpec } from '../../src/domain/spec.js';
import { discoverCapabilities } from '../../src/node/backends/a1111/discover.js';
import { fromA1111Response, toA1111Request } from '../../src/node/backends/a1111/translate.js';
import { BackendClient } from '../../src/node/backends/backend-client.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import {
  controlNetUnit,
  imageSizeOf,
  img2imgSpec,
  kobeni,
  koreanDoll,
  makeMask,
  makePng,
  txt2imgSpec,
} from './a1111-test-helpers.js';

const CHECKPOINT = 'clarity.safetensors [627a6f5c8b]';
const CANNY = 'control_v11p_sd15_canny [d14c016b]';
const OPENPOSE = 'control_v11p_sd15_openpose [cab727d4]';

const initImage = await makePng(64, 48, [30, 120, 200]);
const mask = await makeMask(64, 48);
const cannyImage = await makePng(64, 48, [255, 255, 255]);
const poseImage = await makePng(64, 48, [0, 0, 0]);
const smallImage = await makePng(32, 24);

const diffusionBinding: Binding = {
  checkpoint: CHECKPOINT,
  loras: [],
  sampler: { sampler: 'Euler a', scheduler: null },
};

/** The body every diffusion request shares, for the defaults of `txt2imgSpec`. */
const baseBody = {
  prompt: 'a red fox in the snow',
  negative_prompt: 'blurry',
  seed: 42,
  sampler_name: 'Euler a',
  steps: 20,
  cfg_scale: 7,
  width: 64,
  height: 48,
  batch_size: 1,
  n_iter: 1,
  override_settings: { sd_model_checkpoint: CHECKPOINT },
  override_settings_restore_afterwards: false,
  send_images: true,
  save_images: false,
};

const cannyUnitBody = {
  enabled: true,
  module: 'canny',
  model: CANNY,
  weight: 0.8,
  image: cannyImage,
  resize_mode: 'Crop and Resize',
  processor_res: 512,
  threshold_a: 100,
  threshold_b: 200,
  guidance_start: 0,
  guidance_end: 1,
  control_mode: 'ControlNet is more important',
  pixel_perfect: false,
  save_detected_map: false,
};

interface TranslateCase {
  name: string;
  spec: GenerationSpec;
  binding: Binding;
  path: string;
  body: Record<string, unknown>;
  /** What the sandbox must give back: an image of this size, or a caption. */
  expect: { width: number; height: number; seed?: number } | 'caption';
}

const translateCases: TranslateCase[] = [
  {
    name: 'plain txt2img',
    spec: txt2imgSpec(),
    binding: diffusionBinding,
    path: '/sdapi/v1/txt2img',
    body: baseBody,
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'txt2img with LoRAs appends tags with local names in order',
    spec: txt2imgSpec({
      seed: -1,
      loras: [
        { lora: koreanDoll, weight: 0.7 },
        { lora: kobeni, weight: 1 },
      ],
    }),
    binding: { ...diffusionBinding, loras: ['koreandolllikeness_V10', 'kobeni_v10'] },
    path: '/sdapi/v1/txt2img',
    body: {
      ...baseBody,
      seed: -1,
      prompt: 'a red fox in the snow <lora:koreandolllikeness_V10:0.7> <lora:kobeni_v10:1>',
    },
    expect: { width: 64, height: 48 },
  },
  {
    name: 'a refiner takes over at its switch point (A1111 ≥ 1.6)',
    spec: txt2imgSpec({ refiner: { model: { id: '3a17d0deffa4592fd91c711a798031a258ab44041809ade8b4591c0225ea9401', name: 'chillout_mix' }, switchAt: 0.7 } }),
    binding: { ...diffusionBinding, refiner: 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]' },
    path: '/sdapi/v1/txt2img',
    body: { ...baseBody, refiner_checkpoint: 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]', refiner_switch_at: 0.7 },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'hires fix with a latent upscaler',
    spec: txt2imgSpec({ hires: { scale: 2, upscaler: 'Latent', denoisingStrength: 0.55 } }),
    binding: { ...diffusionBinding, hiresUpscaler: 'Latent' },
    path: '/sdapi/v1/txt2img',
    body: {
      ...baseBody,
      enable_hr: true,
      hr_scale: 2,
      hr_upscaler: 'Latent',
      denoising_strength: 0.55,
      hr_second_pass_steps: 0,
    },
    expect: { width: 128, height: 96, seed: 42 },
  },
  {
    name: 'hires fix with an ESRGAN upscaler under its node name',
    spec: txt2imgSpec({ hires: { scale: 1.5, upscaler: 'ESRGAN 4x', denoisingStrength: 0.3 } }),
    binding: { ...diffusionBinding, hiresUpscaler: 'ESRGAN_4x' },
    path: '/sdapi/v1/txt2img',
    body: {
      ...baseBody,
      enable_hr: true,
      hr_scale: 1.5,
      hr_upscaler: 'ESRGAN_4x',
      denoising_strength: 0.3,
      hr_second_pass_steps: 0,
    },
    expect: { width: 96, height: 72, seed: 42 },
  },
  {
    name: 'ControlNet canny with guess mode → control_mode, string resize mode, enabled',
    spec: txt2imgSpec({ controlNet: [controlNetUnit(cannyImage, { guessMode: true })] }),
    binding: { ...diffusionBinding, controlNet: [{ model: CANNY, module: 'canny' }] },
    path: '/sdapi/v1/txt2img',
    body: { ...baseBody, alwayson_scripts: { controlnet: { args: [cannyUnitBody] } } },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'ControlNet openpose without thresholds',
    spec: txt2imgSpec({
      controlNet: [
        controlNetUnit(poseImage, {
          module: 'openpose',
          model: 'sd15_openpose',
          thresholdA: null,
          thresholdB: null,
          weight: 1.2,
          resizeMode: 'resize_and_fill',
          guidanceStart: 0.1,
          guidanceEnd: 0.9,
        }),
      ],
    }),
    binding: { ...diffusionBinding, controlNet: [{ model: OPENPOSE, module: 'openpose' }] },
    path: '/sdapi/v1/txt2img',
    body: {
      ...baseBody,
      alwayson_scripts: {
        controlnet: {
          args: [
            {
              enabled: true,
              module: 'openpose',
              model: OPENPOSE,
              weight: 1.2,
              image: poseImage,
              resize_mode: 'Resize and Fill',
              processor_res: 512,
              guidance_start: 0.1,
              guidance_end: 0.9,
              control_mode: 'Balanced',
              pixel_perfect: false,
              save_detected_map: false,
            },
          ],
        },
      },
    },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'img2img with an int resize mode',
    spec: img2imgSpec(initImage),
    binding: diffusionBinding,
    path: '/sdapi/v1/img2img',
    body: { ...baseBody, init_images: [initImage], resize_mode: 1, denoising_strength: 0.6 },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'inpaint the masked (white) pixels on the whole picture',
    spec: img2imgSpec(initImage, {
      resizeMode: 'just_resize',
      inpaint: { mask, maskBlur: 4, regenerate: 'masked', area: 'whole' },
    }),
    binding: diffusionBinding,
    path: '/sdapi/v1/img2img',
    body: {
      ...baseBody,
      init_images: [initImage],
      resize_mode: 0,
      denoising_strength: 0.6,
      mask,
      mask_blur: 4,
      inpainting_fill: 1,
      inpaint_full_res: false,
      inpaint_full_res_padding: 32,
      inpainting_mask_invert: 0,
    },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'inpaint the unmasked pixels, only the masked area at full resolution',
    spec: img2imgSpec(initImage, {
      resizeMode: 'resize_and_fill',
      inpaint: { mask, maskBlur: 0, regenerate: 'unmasked', area: 'masked_only' },
    }),
    binding: diffusionBinding,
    path: '/sdapi/v1/img2img',
    body: {
      ...baseBody,
      init_images: [initImage],
      resize_mode: 2,
      denoising_strength: 0.6,
      mask,
      mask_blur: 0,
      inpainting_fill: 1,
      inpaint_full_res: true,
      inpaint_full_res_padding: 32,
      inpainting_mask_invert: 1,
    },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'legacy combined sampler name bound to sampler + scheduler',
    spec: txt2imgSpec({ sampler: 'DPM++ SDE Karras' }),
    binding: { ...diffusionBinding, sampler: { sampler: 'DPM++ SDE', scheduler: 'Karras' } },
    path: '/sdapi/v1/txt2img',
    body: { ...baseBody, sampler_name: 'DPM++ SDE', scheduler: 'Karras' },
    expect: { width: 64, height: 48, seed: 42 },
  },
  {
    name: 'interrogate with clip',
    spec: { kind: 'interrogate', image: smallImage, interrogator: 'clip' },
    binding: { interrogator: 'clip' },
    path: '/sdapi/v1/interrogate',
    body: { image: smallImage, model: 'clip' },
    expect: 'caption',
  },
  {
    name: 'interrogate with deepdanbooru',
    spec: { kind: 'interrogate', image: smallImage, interrogator: 'DeepDanbooru' },
    binding: { interrogator: 'deepdanbooru' },
    path: '/sdapi/v1/interrogate',
    body: { image: smallImage, model: 'deepdanbooru' },
    expect: 'caption',
  },
  {
    name: 'upscale with one upscaler',
    spec: {
      kind: 'upscale',
      image: smallImage,
      scale: 2,
      upscaler: 'ESRGAN 4x',
      upscaler2: null,
      upscaler2Visibility: 0,
      sourceWidth: 32,
      sourceHeight: 24,
    },
    binding: { upscaler: 'ESRGAN_4x' },
    path: '/sdapi/v1/extra-single-image',
    body: {
      image: smallImage,
      resize_mode: 0,
      upscaling_resize: 2,
      upscaler_1: 'ESRGAN_4x',
      upscaler_2: 'None',
      extras_upscaler_2_visibility: 0,
      show_extras_results: true,
      gfpgan_visibility: 0,
      codeformer_visibility: 0,
      codeformer_weight: 0,
      upscale_first: false,
    },
    expect: { width: 64, height: 48 },
  },
  {
    name: 'upscale blending a second upscaler',
    spec: {
      kind: 'upscale',
      image: smallImage,
      scale: 3,
      upscaler: 'Lanczos',
      upscaler2: 'R-ESRGAN 4x+',
      upscaler2Visibility: 0.4,
      sourceWidth: 32,
      sourceHeight: 24,
    },
    binding: { upscaler: 'Lanczos', upscaler2: 'R-ESRGAN 4x+' },
    path: '/sdapi/v1/extra-single-image',
    body: {
      image: smallImage,
      resize_mode: 0,
      upscaling_resize: 3,
      upscaler_1: 'Lanczos',
      upscaler_2: 'R-ESRGAN 4x+',
      extras_upscaler_2_visibility: 0.4,
      show_extras_results: true,
      gfpgan_visibility: 0,
      codeformer_visibility: 0,
      codeformer_weight: 0,
      upscale_first: false,
    },
    expect: { width: 96, height: 72 },
  },
];

describe('toA1111Request', () => {
  it.each(translateCases)('$name', ({ spec, binding, path, body }) => {
    expect(toA1111Request(spec, binding)).toEqual({ path, body });
  });

  it('never sends the legacy ControlNet keys the original deployment used', () => {
    const { body } = toA1111Request(
      txt2imgSpec({ controlNet: [controlNetUnit(cannyImage, { guessMode: true })] }),
      { ...diffusionBinding, controlNet: [{ model: CANNY, module: 'canny' }] },
    );
    expect(Object.keys(body)).not.toContain('ControlNet');
    const unit = (body['alwayson_scripts'] as { controlnet: { args: Record<string, unknown>[] } }).controlnet.args[0];
    for (const legacy of ['guessmode', 'guess_mode', 'input_image', 'lowvram', 'guidance']) {
      expect(unit).not.toHaveProperty(legacy);
    }
  });

  it('formats LoRA weights as plain numbers and keeps an empty prompt free of a leading space', () => {
    const spec = txt2imgSpec({ prompt: '', loras: [{ lora: kobeni, weight: 0.05 }, { lora: koreanDoll, weight: -1.25 }] });
    const { body } = toA1111Request(spec, { ...diffusionBinding, loras: ['kobeni_v10', 'koreandolllikeness_V10'] });
    expect(body['prompt']).toBe('<lora:kobeni_v10:0.05> <lora:koreandolllikeness_V10:-1.25>');
  });

  it('refuses a binding that lacks the checkpoint rather than sending a request A1111 would misread', () => {
    expect(() => toA1111Request(txt2imgSpec(), { sampler: { sampler: 'Euler a', scheduler: null } })).toThrow(
      expect.objectContaining({ id: 'DAN_ERR_NODE_INTERNAL' }),
    );
  });

  it('sends Forge its modules, the hires pass\'s CFG and, for Flux, the distilled guidance and the Simple schedule; A1111 none of them', () => {
    const hires = { scale: 2, upscaler: 'Latent', denoisingStrength: 0.5 };
    const forge: Binding = { ...diffusionBinding, hiresUpscaler: 'Latent', forgeModules: [] };
    // An SD model on Forge: no modules (a Flux model's would stay on otherwise), and the hires pass at the task's CFG.
    const sd = toA1111Request(txt2imgSpec({ hires }), forge).body;
    expect(sd).toMatchObject({ override_settings: { sd_model_checkpoint: CHECKPOINT, forge_additional_modules: [] }, hr_cfg: 7, cfg_scale: 7, hr_additional_modules: ['Use same choices'] });
    expect(sd).not.toHaveProperty('distilled_cfg_scale');
    expect(sd).not.toHaveProperty('scheduler');
    // Flux on Forge.
    const modules = ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'];
    const flux = txt2imgSpec({ negativePrompt: '', cfgScale: 1, guidance: 3.5, sampler: 'Euler', hires });
    const fluxBinding: Binding = { ...forge, sampler: { sampler: 'Euler', scheduler: null }, forgeModules: modules };
    expect(toA1111Request(flux, fluxBinding).body).toMatchObject({
      override_settings: { sd_model_checkpoint: CHECKPOINT, forge_additional_modules: modules },
      override_settings_restore_afterwards: false,
      cfg_scale: 1,
      distilled_cfg_scale: 3.5,
      scheduler: 'Simple',
      hr_cfg: 1,
      hr_distilled_cfg: 3.5,
    });
    // A schedule asked for is kept.
    expect(toA1111Request(flux, { ...fluxBinding, sampler: { sampler: 'Euler', scheduler: 'Beta' } }).body).toMatchObject({ scheduler: 'Beta' });
    // Plain A1111: none of Forge's fields (its strict API model would refuse them; the sandbox does).
    const a1111 = toA1111Request(txt2imgSpec({ hires }), { ...diffusionBinding, hiresUpscaler: 'Latent' }).body;
    for (const field of ['hr_cfg', 'hr_distilled_cfg', 'distilled_cfg_scale', 'hr_additional_modules']) expect(a1111).not.toHaveProperty(field);
    expect(a1111['override_settings']).toEqual({ sd_model_checkpoint: CHECKPOINT });
  });

  it('refuses a binding with fewer LoRA names than the spec has LoRAs', () => {
    const spec = txt2imgSpec({ loras: [{ lora: kobeni, weight: 1 }, { lora: koreanDoll, weight: 1 }] });
    expect(() => toA1111Request(spec, { ...diffusionBinding, loras: ['kobeni_v10'] })).toThrow(/koreanDollLikeness_v10/);
  });
});

describe('fromA1111Response', () => {
  const spec = txt2imgSpec();
  const info = (value: unknown) => JSON.stringify(value);

  it('takes the images and all_seeds of the info JSON string', () => {
    expect(fromA1111Response(spec, { images: ['AAAA'], parameters: {}, info: info({ seed: 7, all_seeds: [7] }) })).toEqual({
      kind: 'images',
      images: ['AAAA'],
      seeds: [7],
    });
  });

  it('strips a data: prefix and drops images extensions appended (e.g. ControlNet maps)', () => {
    const result = fromA1111Response(spec, { images: ['data:image/png;base64,AAAA', 'MAP1'], info: info({ all_seeds: [3, 4] }) });
    expect(result).toEqual({ kind: 'images', images: ['AAAA'], seeds: [3] });
  });

  it.each([
    ['info is not JSON', 'not json {', []],
    ['info has no all_seeds but a seed', info({ seed: 11 }), [11]],
    ['all_seeds holds non-integers', info({ all_seeds: ['x'], seed: 12 }), [12]],
    ['info is missing', undefined, []],
    ['info is an object (some forks)', { all_seeds: [13] }, [13]],
  ])('still succeeds when %s', (_title, infoValue, seeds) => {
    expect(fromA1111Response(spec, { images: ['AAAA'], info: infoValue })).toEqual({ kind: 'images', images: ['AAAA'], seeds });
  });

  it.each([
    ['no images', { images: [], info: '{}' }],
    ['images not a list', { images: 'AAAA' }],
    ['an image that is not a string', { images: [42] }],
    ['an empty image', { images: ['data:image/png;base64,'] }],
    ['not an object', ['AAAA']],
    ['null', null],
  ])('fails with BAD_RESPONSE on %s', (_title, json) => {
    expect(() => fromA1111Response(spec, json)).toThrow(expect.objectContaining({ id: 'DAN_ERR_BACKEND_BAD_RESPONSE' }));
  });

  it('reads an interrogation caption, and fails when it is missing', () => {
    const interrogate: GenerationSpec = { kind: 'interrogate', image: 'AAAA', interrogator: 'clip' };
    expect(fromA1111Response(interrogate, { caption: 'a fox' })).toEqual({ kind: 'caption', caption: 'a fox' });
    expect(() => fromA1111Response(interrogate, { caption: null })).toThrow(
      expect.objectContaining({ id: 'DAN_ERR_BACKEND_BAD_RESPONSE' }),
    );
  });

  it('reads an upscaled image, and fails when it is missing', () => {
    const upscale = translateCases.find((c) => c.spec.kind === 'upscale')?.spec;
    if (!upscale) throw new Error('table has no upscale case');
    expect(fromA1111Response(upscale, { html_info: '', image: 'BBBB' })).toEqual({ kind: 'images', images: ['BBBB'], seeds: [] });
    expect(() => fromA1111Response(upscale, { html_info: '' })).toThrow(
      expect.objectContaining({ id: 'DAN_ERR_BACKEND_BAD_RESPONSE' }),
    );
  });
});

describe('translated requests against the strict A1111 sandbox', () => {
  let sandbox: Sandbox;
  let client: BackendClient;
  let offering: NodeOffering;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: Infinity });
    client = new BackendClient({ baseUrl: sandbox.url });
    const { capabilities } = await discoverCapabilities(client, { maxPixels: 1 << 22, interrogators: ['clip', 'deepdanbooru'] });
    offering = toNodeOffering(capabilities);
  });
  afterAll(() => sandbox.close());

  it.each(translateCases)('$name', async ({ spec, binding, expect: expected }) => {
    // The table's binding is what the gateway would compute for this node.
    expect(bindSpec(spec, offering)).toEqual({ ok: true, binding });

    const { path, body } = toA1111Request(spec, binding);
    const result = fromA1111Response(spec, await client.post(path, body));

    if (expected === 'caption') {
      expect(result).toEqual({ kind: 'caption', caption: expect.stringMatching(/\S/) });
      return;
    }
    if (result.kind !== 'images') throw new Error(`expected images, got ${result.kind}`);
    expect(result.images).toHaveLength(1);
    expect(await imageSizeOf(result.images[0] ?? '')).toEqual({ width: expected.width, height: expected.height });
    if (spec.kind === 'upscale') expect(result.seeds).toEqual([]);
    else if (expected.seed !== undefined) expect(result.seeds).toEqual([expected.seed]);
    else expect(result.seeds).toEqual([expect.any(Number)]);
  });

  it('sent nothing the sandbox refused', () => {
    const refused = sandbox.requests().filter((r) => r.status >= 400);
    expect(refused).toEqual([]);
    expect(sandbox.stats().jobs).toBe(translateCases.length);
  });
});
