/**
 * @module sandbox/comfyui/nodes-sampling
 *
 * Text encoding, latents, sampling and the VAE (`nodes.py`, `comfy_extras/nodes_flux.py`,
 * `nodes_sd3.py`). `KSampler` is where a prompt spends its time: `steps` steps
 * at the latent's size (ComfyUI always runs the steps it is given, whatever
 * the denoise), reported step by step as `progress`, with a preview now and
 * then; its picture is the seed pattern of the prompt, blended into the
 * latent it started from by `denoise`, and only inside a noise mask.
 */
import { blend, composite } from '../pixels.js';
import { renderSeedPattern } from '../pattern.js';
import { secondsPerStep, toWallMs } from '../time-model.js';
import { cropRaw, filled, previewJpeg, resizeRaw } from './raw-pixels.js';
import {
  link,
  NodeExecutionError,
  MAX_RESOLUTION,
  type ClipValue,
  type ConditioningValue,
  type ImageValue,
  type InputSpec,
  type LatentChannels,
  type LatentValue,
  encoderFamilyOf,
  latentChannelsOf,
  latentCellOf,
  type MaskValue,
  type ModelValue,
  type NodeClass,
  type NodeResult,
  type NodeRun,
  type NoiseValue,
  type SamplerValue,
  type SigmasValue,
  type GuiderValue,
  type VaeValue,
} from './node-types.js';

/** What ComfyUI's KSampler lists (comfy/samplers.py, 2025). */
export const COMFY_SAMPLERS = [
  'euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'dpm_2', 'dpm_2_ancestral',
  'lms', 'dpm_fast', 'dpm_adaptive', 'dpmpp_2s_ancestral', 'dpmpp_2s_ancestral_cfg_pp', 'dpmpp_sde', 'dpmpp_sde_gpu',
  'dpmpp_2m', 'dpmpp_2m_cfg_pp', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'ddpm', 'lcm',
  'ipndm', 'ipndm_v', 'deis', 'res_multistep', 'res_multistep_cfg_pp', 'res_multistep_ancestral',
  'res_multistep_ancestral_cfg_pp', 'gradient_estimation', 'er_sde', 'seeds_2', 'seeds_3', 'ddim', 'uni_pc', 'uni_pc_bh2',
];
export const COMFY_SCHEDULERS = ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal'];
const SECOND_ORDER = new Set(['heun', 'heunpp2', 'dpm_2', 'dpm_2_ancestral', 'dpmpp_2s_ancestral', 'dpmpp_sde', 'dpmpp_sde_gpu', 'seeds_2']);
/** Previews a sampler run sends: one at each quarter of its steps. */
const PREVIEWS_PER_RUN = 4;
const UPSCALE_METHODS = ['nearest-exact', 'bilinear', 'area', 'bicubic', 'bislerp'];

const side = (defaultValue: number, step: number): InputSpec => ({ kind: 'int', default: defaultValue, min: 16, max: MAX_RESOLUTION, step });
const batch: InputSpec = { kind: 'int', default: 1, min: 1, max: 4096 };

/**
 * An empty latent node: `EmptyLatentImage` (SD's 4 channels), `EmptySD3LatentImage` (16: Flux.1, Qwen-Image,
 * Z-Image), `EmptyFlux2LatentImage` (128, in cells of 16 pixels). Its picture is noise: null.
 */
function emptyLatentNode(names: Pick<NodeClass, 'name' | 'displayName' | 'category' | 'pythonModule'>, defaultSide: number, step: number, channels: LatentChannels): NodeClass {
  return {
    ...names,
    required: { width: side(defaultSide, step), height: side(defaultSide, step), batch_size: batch },
    outputs: [{ type: 'LATENT', name: 'LATENT' }],
    async run(run) {
      if (Number(run.inputs['batch_size']) !== 1) throw new NodeExecutionError('NotImplementedError', 'the sandbox models batch_size 1 only');
      const cell = latentCellOf(channels);
      const width = Math.floor(Number(run.inputs['width']) / cell) * cell;
      const height = Math.floor(Number(run.inputs['height']) / cell) * cell;
      const latent: LatentValue = { type: 'LATENT', width, height, channels, rgb: null, noiseMask: null };
      return { outputs: [latent] };
    },
  };
}

/** What an image encodes to: cropped to whole latent cells of its VAE (8 pixels, Flux.2's 16). */
function encodedSize(image: { width: number; height: number }, channels: LatentChannels): { width: number; height: number } {
  const cell = latentCellOf(channels);
  return { width: Math.floor(image.width / cell) * cell, height: Math.floor(image.height / cell) * cell };
}

/** A latent of other channels than a model or VAE takes fails in its first convolution, as torch words it. */
function checkChannels(latent: LatentValue, expected: LatentChannels): void {
  if (latent.channels === expected) return;
  throw new NodeExecutionError(
    'RuntimeError',
    `Given groups=1, weight of size [320, ${expected}, 3, 3], expected input[1, ${latent.channels}, ${latent.height / 8}, ${latent.width / 8}] to have ${expected} channels, but got ${latent.channels} channels instead`,
  );
}

/** 255 where the mask is over one half, else 0 (torch's `round`, which takes exactly one half to 0). */
function roundedMask(mask: Buffer): Buffer {
  return Buffer.from(mask.map((v) => (v > 127.5 ? 255 : 0)));
}

function fitMask(mask: MaskValue, to: { width: number; height: number }): Promise<Buffer> {
  return resizeRaw(mask.data, mask, to, 1, 'nearest');
}

/** The inputs KSampler and KSamplerAdvanced share, in their order. */
const samplingInputs: Record<string, InputSpec> = {
  steps: { kind: 'int', default: 20, min: 1, max: 10000 },
  cfg: { kind: 'float', default: 8, min: 0, max: 100, step: 0.1, round: 0.01 },
  sampler_name: { kind: 'combo', choices: () => COMFY_SAMPLERS },
  scheduler: { kind: 'combo', choices: () => COMFY_SCHEDULERS },
  positive: link('CONDITIONING'),
  negative: link('CONDITIONING'),
  latent_image: link('LATENT'),
};

const samplerNode: NodeClass = {
  name: 'KSampler',
  displayName: 'KSampler',
  category: 'sampling',
  description: 'Uses the provided model, positive and negative conditioning to denoise the latent image.',
  required: {
    model: link('MODEL'),
    seed: { kind: 'int', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, controlAfterGenerate: true },
    ...samplingInputs,
    denoise: { kind: 'float', default: 1, min: 0, max: 1, step: 0.01 },
  },
  outputs: [{ type: 'LATENT', name: 'LATENT' }],
  async run(run) {
    const steps = Number(run.inputs['steps']);
    return sample(run, inputsOf(run), { seed: Number(run.inputs['seed']), steps, from: 0, to: steps, denoise: Number(run.inputs['denoise']), continues: false });
  },
};

/** What a sampler works with: the model, its conditioning (no negative: a guider of the positive alone), the latent. */
interface SamplingInputs {
  model: ModelValue;
  positive: ConditioningValue;
  negative: ConditioningValue | null;
  latent: LatentValue;
  samplerName: string;
}

/** KSampler's and KSamplerAdvanced's inputs, as `sample` takes them. */
function inputsOf(run: NodeRun): SamplingInputs {
  return {
    model: run.inputs['model'] as ModelValue,
    positive: run.inputs['positive'] as ConditioningValue,
    negative: run.inputs['negative'] as ConditioningValue,
    latent: run.inputs['latent_image'] as LatentValue,
    samplerName: String(run.inputs['sampler_name']),
  };
}

/**
 * Samples steps `from` to `to` of a `steps` schedule, step by step with progress; the picture is the seed
 * pattern of the prompt and model blended into the latent by `denoise` (inside its noise mask). A run that
 * `continues` another's (KSamplerAdvanced without added noise: SDXL's refiner) moves the picture a little
 * towards its own model's pattern instead.
 */
async function sample(run: NodeRun, given: SamplingInputs, part: { seed: number; steps: number; from: number; to: number; denoise: number; continues: boolean }): Promise<NodeResult> {
  const { model, positive, negative, latent, samplerName } = given;
  const encodedFor = encoderFamilyOf(model.family);
  for (const cond of negative ? [positive, negative] : [positive]) {
    if (cond.family !== encodedFor) {
      throw new NodeExecutionError('RuntimeError', `mat1 and mat2 shapes cannot be multiplied (sandbox: ${cond.family} text encoding given to a ${model.family} model)`);
    }
  }
  checkChannels(latent, latentChannelsOf(model.family));
  const size = { width: latent.width, height: latent.height };
  const stepSeconds = secondsPerStep(run.world.timing, {
    pixels: size.width * size.height,
    secondOrder: SECOND_ORDER.has(samplerName),
    batchSize: 1,
    controlNetUnits: positive.controls,
    family: model.family,
  });
  const text = [positive.text, model.file, ...model.loras, positive.guidance ?? '', model.shift ?? ''].join('\u0000');
  const pattern = renderSeedPattern(part.seed % 2 ** 32, text, size.width, size.height);
  const stepMs = toWallMs(run.world.timing, stepSeconds);
  const count = Math.max(0, Math.min(part.to, part.steps) - part.from);
  const previewEvery = Math.max(1, Math.ceil(count / PREVIEWS_PER_RUN));
  for (let step = 1; step <= count; step++) {
    await run.job.sample(0, 1, stepMs);
    if (run.job.interrupted) throw new InterruptedSampling();
    const preview = step % previewEvery === 0 && step < count ? await previewJpeg(pattern, size) : undefined;
    run.onProgress(step, count, preview);
  }
  const start = latent.rgb;
  // An edit keeps much of the image it is given as a reference, whatever it starts from (Kontext: its latent, denoise 1).
  const reference = positive.reference && positive.reference.length === pattern.length ? positive.reference : null;
  const drawn = reference ? blend(reference, pattern, EDIT_SHARE) : pattern;
  const generated = start ? blend(start, drawn, part.continues ? REFINING_SHARE : part.denoise) : drawn;
  const rgb = start && latent.noiseMask ? composite(start, generated, latent.noiseMask) : generated;
  return { outputs: [{ ...latent, rgb }] };
}

/** How far a continuing run (a refiner's) moves the picture towards its own pattern. */
const REFINING_SHARE = 0.15;
/** How far an edit moves its reference image towards the prompt's pattern. */
const EDIT_SHARE = 0.35;

const advancedSamplerNode: NodeClass = {
  name: 'KSamplerAdvanced',
  displayName: 'KSampler (Advanced)',
  category: 'sampling',
  required: {
    model: link('MODEL'),
    add_noise: { kind: 'combo', choices: () => ['enable', 'disable'] },
    noise_seed: { kind: 'int', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, controlAfterGenerate: true },
    ...samplingInputs,
    start_at_step: { kind: 'int', default: 0, min: 0, max: 10000 },
    end_at_step: { kind: 'int', default: 10000, min: 0, max: 10000 },
    return_with_leftover_noise: { kind: 'combo', choices: () => ['disable', 'enable'] },
  },
  outputs: [{ type: 'LATENT', name: 'LATENT' }],
  async run(run) {
    const continues = run.inputs['add_noise'] === 'disable';
    const steps = Number(run.inputs['steps']);
    const from = Number(run.inputs['start_at_step']);
    return sample(run, inputsOf(run), {
      seed: Number(run.inputs['noise_seed']),
      steps,
      from,
      to: Number(run.inputs['end_at_step']),
      // Starting later in the schedule adds less noise: the share of the schedule left is how far it moves.
      denoise: steps > 0 ? Math.max(0, steps - from) / steps : 1,
      continues,
    });
  },
};

/** Ends a prompt as ComfyUI's `InterruptProcessingException` does: `execution_interrupted`, not an error. */
export class InterruptedSampling extends Error {}

/**
 * ComfyUI's custom sampling (`comfy_extras/nodes_custom_sampler.py`, `nodes_flux.py`): noise, a sampler, a
 * schedule (its sigmas) and a guider, put together by `SamplerCustomAdvanced`. A schedule split part way
 * (`SplitSigmas`) samples its low part from the latent it is given, as img2img does.
 */
const customSamplingNodes: NodeClass[] = [
  {
    name: 'RandomNoise',
    displayName: 'RandomNoise',
    category: 'sampling/custom_sampling/noise',
    pythonModule: 'comfy_extras.nodes_custom_sampler',
    required: { noise_seed: { kind: 'int', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, controlAfterGenerate: true } },
    outputs: [{ type: 'NOISE', name: 'NOISE' }],
    async run(run) {
      return { outputs: [{ type: 'NOISE', seed: Number(run.inputs['noise_seed']) }] };
    },
  },
  {
    name: 'KSamplerSelect',
    displayName: 'KSamplerSelect',
    category: 'sampling/custom_sampling/samplers',
    pythonModule: 'comfy_extras.nodes_custom_sampler',
    required: { sampler_name: { kind: 'combo', choices: () => COMFY_SAMPLERS } },
    outputs: [{ type: 'SAMPLER', name: 'SAMPLER' }],
    async run(run) {
      return { outputs: [{ type: 'SAMPLER', name: String(run.inputs['sampler_name']) }] };
    },
  },
  {
    name: 'BasicScheduler',
    displayName: 'BasicScheduler',
    category: 'sampling/custom_sampling/schedulers',
    pythonModule: 'comfy_extras.nodes_custom_sampler',
    required: {
      model: link('MODEL'),
      scheduler: { kind: 'combo', choices: () => COMFY_SCHEDULERS },
      steps: { kind: 'int', default: 20, min: 1, max: 10000 },
      denoise: { kind: 'float', default: 1, min: 0, max: 1, step: 0.01 },
    },
    outputs: [{ type: 'SIGMAS', name: 'SIGMAS' }],
    async run(run) {
      const denoise = Number(run.inputs['denoise']);
      return { outputs: [{ type: 'SIGMAS', steps: Number(run.inputs['steps']), from: 1 - denoise }] };
    },
  },
  {
    name: 'Flux2Scheduler',
    displayName: 'Flux2Scheduler',
    category: 'sampling/custom_sampling/schedulers',
    pythonModule: 'comfy_extras.nodes_flux',
    required: {
      steps: { kind: 'int', default: 20, min: 1, max: 4096 },
      width: { kind: 'int', default: 1024, min: 16, max: MAX_RESOLUTION, step: 1 },
      height: { kind: 'int', default: 1024, min: 16, max: MAX_RESOLUTION, step: 1 },
    },
    outputs: [{ type: 'SIGMAS', name: 'SIGMAS' }],
    async run(run) {
      return { outputs: [{ type: 'SIGMAS', steps: Number(run.inputs['steps']), from: 0 }] };
    },
  },
  {
    name: 'SplitSigmas',
    displayName: 'SplitSigmas',
    category: 'sampling/custom_sampling/sigmas',
    pythonModule: 'comfy_extras.nodes_custom_sampler',
    required: { sigmas: link('SIGMAS'), step: { kind: 'int', default: 0, min: 0, max: 10000 } },
    outputs: [
      { type: 'SIGMAS', name: 'high_sigmas' },
      { type: 'SIGMAS', name: 'low_sigmas' },
    ],
    async run(run) {
      const sigmas = run.inputs['sigmas'] as SigmasValue;
      const step = Math.min(Number(run.inputs['step']), sigmas.steps);
      const share = (steps: number) => (1 - sigmas.from) * (steps / sigmas.steps);
      const high: SigmasValue = { type: 'SIGMAS', steps: step, from: sigmas.from };
      const low: SigmasValue = { type: 'SIGMAS', steps: sigmas.steps - step, from: sigmas.from + share(step) };
      return { outputs: [high, low] };
    },
  },
  {
    name: 'BasicGuider',
    displayName: 'BasicGuider',
    category: 'sampling/custom_sampling/guiders',
    pythonModule: 'comfy_extras.nodes_custom_sampler',
    required: { model: link('MODEL'), conditioning: link('CONDITIONING') },
    outputs: [{ type: 'GUIDER', name: 'GUIDER' }],
    async run(run) {
      return { outputs: [{ type: 'GUIDER', model: run.inputs['model'] as ModelValue, positive: run.inputs['conditioning'] as ConditioningValue, negative: null }] };
    },
  },
  {
    name: 'SamplerCustomAdvanced',
    displayName: 'SamplerCustomAdvanced',
    category: 'sampling/custom_sampling',
    pythonModule: 'comfy_extras.nodes_custom_sampler',
    required: { noise: link('NOISE'), guider: link('GUIDER'), sampler: link('SAMPLER'), sigmas: link('SIGMAS'), latent_image: link('LATENT') },
    outputs: [
      { type: 'LATENT', name: 'output' },
      { type: 'LATENT', name: 'denoised_output' },
    ],
    async run(run) {
      const guider = run.inputs['guider'] as GuiderValue;
      const sigmas = run.inputs['sigmas'] as SigmasValue;
      const latent = run.inputs['latent_image'] as LatentValue;
      const given = { model: guider.model, positive: guider.positive, negative: guider.negative, latent, samplerName: (run.inputs['sampler'] as SamplerValue).name };
      // A schedule that starts part way moves the latent it is given by the share of the schedule left.
      const result = await sample(run, given, { seed: (run.inputs['noise'] as NoiseValue).seed, steps: sigmas.steps, from: 0, to: sigmas.steps, denoise: 1 - sigmas.from, continues: false });
      return { outputs: [result.outputs[0]!, result.outputs[0]!] };
    },
  },
];

export const samplingNodes: NodeClass[] = [
  {
    name: 'CLIPTextEncode',
    displayName: 'CLIP Text Encode (Prompt)',
    category: 'conditioning',
    required: { text: { kind: 'string', multiline: true, dynamicPrompts: true }, clip: link('CLIP') },
    outputs: [{ type: 'CONDITIONING', name: 'CONDITIONING' }],
    async run(run) {
      const clip = run.inputs['clip'] as ClipValue;
      const cond: ConditioningValue = { type: 'CONDITIONING', family: clip.family, text: String(run.inputs['text']), guidance: null, controls: 0 };
      return { outputs: [cond] };
    },
  },
  {
    name: 'CLIPSetLastLayer',
    displayName: 'CLIP Set Last Layer',
    category: 'conditioning',
    required: { clip: link('CLIP'), stop_at_clip_layer: { kind: 'int', default: -1, min: -24, max: -1 } },
    outputs: [{ type: 'CLIP', name: 'CLIP' }],
    async run(run) {
      return { outputs: [{ ...(run.inputs['clip'] as ClipValue), stopAt: Number(run.inputs['stop_at_clip_layer']) }] };
    },
  },
  {
    name: 'FluxGuidance',
    displayName: 'FluxGuidance',
    category: 'advanced/conditioning/flux',
    pythonModule: 'comfy_extras.nodes_flux',
    required: { conditioning: link('CONDITIONING'), guidance: { kind: 'float', default: 3.5, min: 0, max: 100, step: 0.1 } },
    outputs: [{ type: 'CONDITIONING', name: 'CONDITIONING' }],
    async run(run) {
      return { outputs: [{ ...(run.inputs['conditioning'] as ConditioningValue), guidance: Number(run.inputs['guidance']) }] };
    },
  },
  {
    name: 'ModelSamplingAuraFlow',
    displayName: 'ModelSamplingAuraFlow',
    category: 'advanced/model',
    pythonModule: 'comfy_extras.nodes_model_advanced',
    required: { model: link('MODEL'), shift: { kind: 'float', default: 1.73, min: 0, max: 100, step: 0.01 } },
    outputs: [{ type: 'MODEL', name: 'MODEL' }],
    async run(run) {
      return { outputs: [{ ...(run.inputs['model'] as ModelValue), shift: Number(run.inputs['shift']) }] };
    },
  },
  {
    name: 'ReferenceLatent',
    displayName: 'ReferenceLatent',
    category: 'advanced/conditioning/edit_models',
    pythonModule: 'comfy_extras.nodes_edit_model',
    required: { conditioning: link('CONDITIONING') },
    optional: { latent: link('LATENT') },
    outputs: [{ type: 'CONDITIONING', name: 'CONDITIONING' }],
    async run(run) {
      const conditioning = run.inputs['conditioning'] as ConditioningValue;
      const latent = run.inputs['latent'] as LatentValue | undefined;
      return { outputs: [latent?.rgb ? { ...conditioning, reference: latent.rgb } : conditioning] };
    },
  },
  {
    name: 'TextEncodeQwenImageEditPlus',
    displayName: 'TextEncodeQwenImageEditPlus',
    category: 'advanced/conditioning',
    pythonModule: 'comfy_extras.nodes_qwen',
    required: { clip: link('CLIP'), prompt: { kind: 'string', multiline: true, dynamicPrompts: true } },
    optional: { vae: link('VAE'), image1: link('IMAGE'), image2: link('IMAGE'), image3: link('IMAGE') },
    outputs: [{ type: 'CONDITIONING', name: 'CONDITIONING' }],
    async run(run) {
      const clip = run.inputs['clip'] as ClipValue;
      const image = run.inputs['image1'] as ImageValue | undefined;
      const cond: ConditioningValue = { type: 'CONDITIONING', family: clip.family, text: String(run.inputs['prompt']), guidance: null, controls: 0 };
      return { outputs: [image ? { ...cond, reference: image.rgb } : cond] };
    },
  },
  {
    name: 'FluxKontextMultiReferenceLatentMethod',
    displayName: 'Edit Model Reference Method',
    category: 'advanced/conditioning/flux',
    pythonModule: 'comfy_extras.nodes_flux',
    required: { conditioning: link('CONDITIONING'), reference_latents_method: { kind: 'combo', choices: () => ['offset', 'index', 'uxo/uno', 'index_timestep_zero'] } },
    outputs: [{ type: 'CONDITIONING', name: 'CONDITIONING' }],
    async run(run) {
      return { outputs: [run.inputs['conditioning'] as ConditioningValue] };
    },
  },
  {
    name: 'CFGNorm',
    displayName: 'CFGNorm',
    category: 'advanced/guidance',
    pythonModule: 'comfy_extras.nodes_cfg',
    required: { model: link('MODEL'), strength: { kind: 'float', default: 1, min: 0, max: 100, step: 0.01 } },
    outputs: [{ type: 'MODEL', name: 'patched_model' }],
    async run(run) {
      return { outputs: [run.inputs['model'] as ModelValue] };
    },
  },
  {
    name: 'ConditioningZeroOut',
    displayName: 'ConditioningZeroOut',
    category: 'advanced/conditioning',
    required: { conditioning: link('CONDITIONING') },
    outputs: [{ type: 'CONDITIONING', name: 'CONDITIONING' }],
    async run(run) {
      return { outputs: [{ ...(run.inputs['conditioning'] as ConditioningValue), text: '' }] };
    },
  },
  emptyLatentNode({ name: 'EmptyLatentImage', displayName: 'Empty Latent Image', category: 'latent' }, 512, 8, 4),
  emptyLatentNode({ name: 'EmptySD3LatentImage', displayName: 'EmptySD3LatentImage', category: 'latent/sd3', pythonModule: 'comfy_extras.nodes_sd3' }, 1024, 16, 16),
  emptyLatentNode({ name: 'EmptyFlux2LatentImage', displayName: 'Empty Flux 2 Latent', category: 'latent', pythonModule: 'comfy_extras.nodes_flux' }, 1024, 16, 128),
  samplerNode,
  advancedSamplerNode,
  ...customSamplingNodes,
  {
    name: 'VAEDecode',
    displayName: 'VAE Decode',
    category: 'latent',
    required: { samples: link('LATENT'), vae: link('VAE') },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      const latent = run.inputs['samples'] as LatentValue;
      checkChannels(latent, (run.inputs['vae'] as VaeValue).channels);
      const image: ImageValue = { type: 'IMAGE', width: latent.width, height: latent.height, rgb: latent.rgb ?? filled(latent, 3, 128) };
      return { outputs: [image] };
    },
  },
  {
    name: 'VAEEncode',
    displayName: 'VAE Encode',
    category: 'latent',
    required: { pixels: link('IMAGE'), vae: link('VAE') },
    outputs: [{ type: 'LATENT', name: 'LATENT' }],
    async run(run) {
      const image = run.inputs['pixels'] as ImageValue;
      const size = encodedSize(image, (run.inputs['vae'] as VaeValue).channels);
      const channels = (run.inputs['vae'] as VaeValue).channels;
      return { outputs: [{ type: 'LATENT', ...size, channels, rgb: cropRaw(image.rgb, image, size, 3), noiseMask: null }] };
    },
  },
  {
    name: 'VAEEncodeForInpaint',
    displayName: 'VAE Encode (for Inpainting)',
    category: 'latent/inpaint',
    required: { pixels: link('IMAGE'), vae: link('VAE'), mask: link('MASK'), grow_mask_by: { kind: 'int', default: 6, min: 0, max: 64 } },
    outputs: [{ type: 'LATENT', name: 'LATENT' }],
    async run(run) {
      const image = run.inputs['pixels'] as ImageValue;
      const size = encodedSize(image, (run.inputs['vae'] as VaeValue).channels);
      // ComfyUI rounds the mask here: a soft one greys, and lets change, only where it is over one half.
      const mask = roundedMask(cropRaw(await fitMask(run.inputs['mask'] as MaskValue, image), image, size, 1));
      // Masked pixels are set to grey before encoding, so only a full denoise repaints them well.
      const rgb = composite(cropRaw(image.rgb, image, size, 3), filled(size, 3, 128), mask);
      return { outputs: [{ type: 'LATENT', ...size, channels: (run.inputs['vae'] as VaeValue).channels, rgb, noiseMask: mask }] };
    },
  },
  {
    // nodes.py: the picture encoded as the latent, with the mask as its noise mask (as given, not rounded);
    // both conditionings carry the picture greyed where the mask is over one half, for inpainting checkpoints.
    name: 'InpaintModelConditioning',
    displayName: 'InpaintModelConditioning',
    category: 'conditioning/inpaint',
    required: {
      positive: link('CONDITIONING'),
      negative: link('CONDITIONING'),
      vae: link('VAE'),
      pixels: link('IMAGE'),
      mask: link('MASK'),
      noise_mask: { kind: 'boolean', default: true },
    },
    outputs: [
      { type: 'CONDITIONING', name: 'positive' },
      { type: 'CONDITIONING', name: 'negative' },
      { type: 'LATENT', name: 'latent' },
    ],
    async run(run) {
      const image = run.inputs['pixels'] as ImageValue;
      const size = encodedSize(image, (run.inputs['vae'] as VaeValue).channels);
      const channels = (run.inputs['vae'] as VaeValue).channels;
      const latent: LatentValue = { type: 'LATENT', ...size, channels, rgb: cropRaw(image.rgb, image, size, 3), noiseMask: null };
      if (run.inputs['noise_mask'] !== false) latent.noiseMask = await fitMask(run.inputs['mask'] as MaskValue, latent);
      return { outputs: [run.inputs['positive'] as ConditioningValue, run.inputs['negative'] as ConditioningValue, latent] };
    },
  },
  {
    name: 'SetLatentNoiseMask',
    displayName: 'Set Latent Noise Mask',
    category: 'latent/inpaint',
    required: { samples: link('LATENT'), mask: link('MASK') },
    outputs: [{ type: 'LATENT', name: 'LATENT' }],
    async run(run) {
      const latent = run.inputs['samples'] as LatentValue;
      return { outputs: [{ ...latent, noiseMask: await fitMask(run.inputs['mask'] as MaskValue, latent) }] };
    },
  },
  {
    name: 'LatentUpscale',
    displayName: 'Upscale Latent',
    category: 'latent',
    required: {
      samples: link('LATENT'),
      upscale_method: { kind: 'combo', choices: () => UPSCALE_METHODS },
      width: { kind: 'int', default: 512, min: 0, max: MAX_RESOLUTION, step: 8 },
      height: { kind: 'int', default: 512, min: 0, max: MAX_RESOLUTION, step: 8 },
      crop: { kind: 'combo', choices: () => ['disabled', 'center'] },
    },
    outputs: [{ type: 'LATENT', name: 'LATENT' }],
    async run(run) {
      const latent = run.inputs['samples'] as LatentValue;
      let width = Number(run.inputs['width']);
      let height = Number(run.inputs['height']);
      // 0 keeps the aspect ratio from the other side; the latent is an eighth of the pixels (nodes.py LatentUpscale).
      if (width === 0 && height === 0) return { outputs: [latent] };
      if (width === 0) width = Math.round((latent.width * height) / latent.height);
      if (height === 0) height = Math.round((latent.height * width) / latent.width);
      // Its sizes count latent cells of 8 pixels (nodes.py: `width // 8`), whatever pixels a cell of this latent is.
      const cell = latentCellOf(latent.channels);
      const size = { width: Math.max(8, Math.floor(width / 8)) * cell, height: Math.max(8, Math.floor(height / 8)) * cell };
      const rgb = latent.rgb ? await resizeRaw(latent.rgb, latent, size, 3) : null;
      return { outputs: [{ type: 'LATENT', ...size, channels: latent.channels, rgb, noiseMask: null }] };
    },
  },
  {
    name: 'LatentUpscaleBy',
    displayName: 'Upscale Latent By',
    category: 'latent',
    required: {
      samples: link('LATENT'),
      upscale_method: { kind: 'combo', choices: () => UPSCALE_METHODS },
      scale_by: { kind: 'float', default: 1.5, min: 0.01, max: 8, step: 0.01 },
    },
    outputs: [{ type: 'LATENT', name: 'LATENT' }],
    async run(run) {
      const latent = run.inputs['samples'] as LatentValue;
      const scale = Number(run.inputs['scale_by']);
      const cell = latentCellOf(latent.channels);
      const size = { width: Math.round((latent.width / cell) * scale) * cell, height: Math.round((latent.height / cell) * scale) * cell };
      const rgb = latent.rgb ? await resizeRaw(latent.rgb, latent, size, 3) : null;
      return { outputs: [{ type: 'LATENT', ...size, channels: latent.channels, rgb, noiseMask: null }] };
    },
  },
  {
    name: 'ControlNetApplyAdvanced',
    displayName: 'Apply ControlNet',
    category: 'conditioning/controlnet',
    required: {
      positive: link('CONDITIONING'),
      negative: link('CONDITIONING'),
      control_net: link('CONTROL_NET'),
      image: link('IMAGE'),
      strength: { kind: 'float', default: 1, min: 0, max: 10, step: 0.01 },
      start_percent: { kind: 'float', default: 0, min: 0, max: 1, step: 0.001 },
      end_percent: { kind: 'float', default: 1, min: 0, max: 1, step: 0.001 },
    },
    optional: { vae: link('VAE') },
    outputs: [
      { type: 'CONDITIONING', name: 'positive' },
      { type: 'CONDITIONING', name: 'negative' },
    ],
    async run(run) {
      const positive = run.inputs['positive'] as ConditioningValue;
      const negative = run.inputs['negative'] as ConditioningValue;
      return { outputs: [{ ...positive, controls: positive.controls + 1 }, { ...negative, controls: negative.controls + 1 }] };
    },
  },
];
