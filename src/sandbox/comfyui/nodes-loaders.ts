/**
 * @module sandbox/comfyui/nodes-loaders
 *
 * The loader node classes of ComfyUI's core (`nodes.py`): checkpoints,
 * diffusion models with their text encoders and VAE (Flux), LoRAs, ControlNet
 * and upscale models. A loader whose file differs from the weights in GPU
 * memory pays the checkpoint switch time; ComfyUI's cache then keeps its
 * output, so the next prompt with the same file skips it (`execution_cached`).
 */
import { toWallMs } from '../time-model.js';
import type { ComfyOfferings, Family } from './comfy-offerings.js';
import { encoderFamilyOf, latentChannelsOf, link, NodeExecutionError, vaeChannelsOf, type ClipValue, type ComfyWorld, type ModelValue, type NodeClass, type NodeRun } from './node-types.js';

const WEIGHT_DTYPES = ['default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2'];
const CLIP_TYPES = ['sdxl', 'sd3', 'flux', 'hunyuan_video', 'hidream'];
/** `CLIPLoader`'s types (nodes.py, 2026). */
const SINGLE_CLIP_TYPES = [
  'stable_diffusion', 'stable_cascade', 'sd3', 'stable_audio', 'mochi', 'ltxv', 'pixart', 'cosmos', 'lumina2', 'wan', 'hidream',
  'chroma', 'ace', 'omnigen2', 'qwen_image', 'hunyuan_image', 'flux2', 'ovis', 'longcat_image', 'cogvideox',
];
/**
 * The single text encoders the sandbox knows, by file name and the `type` that loads them for a family: ComfyUI
 * tells the encoder from its weights and the type picks among the families that share it (Qwen3-4B is Z-Image's
 * as `lumina2`, Flux.2 Klein's as `flux2`).
 */
const SINGLE_ENCODERS: readonly { file: RegExp; type: string; family: Family }[] = [
  { file: /mistral[-_.]?3[-_.]?small/i, type: 'flux2', family: 'flux2' },
  { file: /qwen[-_.]?2[._]?5[-_.]?vl/i, type: 'qwen_image', family: 'qwen-image' },
  { file: /qwen[-_.]?3[-_.]?4b/i, type: 'lumina2', family: 'z-image-turbo' },
];
const strength = { kind: 'float', default: 1, min: -100, max: 100, step: 0.01 } as const;

/** Which weights are in GPU memory; a loader that brings others pays the switch. */
export interface LoadedWeights {
  file: string | null;
  switches: number;
}

export function createLoadedWeights(): LoadedWeights {
  return { file: null, switches: 0 };
}

async function loadWeights(run: NodeRun, weights: LoadedWeights, file: string, loadSeconds: number | undefined): Promise<void> {
  if (weights.file === file) return;
  await run.job.wait('checkpoint load', toWallMs(run.world.timing, loadSeconds ?? run.world.timing.switchSeconds));
  weights.file = file;
  weights.switches += 1;
}

function checkpointOf(offerings: ComfyOfferings, file: string) {
  const found = offerings.checkpoints.find((c) => c.fileName === file);
  if (!found) throw new NodeExecutionError('FileNotFoundError', `Model in folder 'checkpoints' with filename '${file}' not found.`);
  return found;
}

export function loaderNodes(weights: LoadedWeights): NodeClass[] {
  return [
    {
      name: 'CheckpointLoaderSimple',
      displayName: 'Load Checkpoint',
      category: 'loaders',
      description: 'Loads a diffusion model checkpoint, diffusion models are used to denoise latents.',
      required: { ckpt_name: { kind: 'combo', choices: (w) => w.offerings.checkpoints.map((c) => c.fileName) } },
      outputs: [
        { type: 'MODEL', name: 'MODEL' },
        { type: 'CLIP', name: 'CLIP' },
        { type: 'VAE', name: 'VAE' },
      ],
      async run(run) {
        const file = String(run.inputs['ckpt_name']);
        const checkpoint = checkpointOf(run.world.offerings, file);
        await loadWeights(run, weights, file, checkpoint.loadSeconds);
        const family = checkpoint.family;
        return {
          outputs: [
            { type: 'MODEL', family, file, loras: [] },
            { type: 'CLIP', family: encoderFamilyOf(family), loras: [], stopAt: -1 },
            { type: 'VAE', file, channels: latentChannelsOf(family) },
          ],
        };
      },
    },
    {
      name: 'UNETLoader',
      displayName: 'Load Diffusion Model',
      category: 'advanced/loaders',
      required: {
        unet_name: { kind: 'combo', choices: (w) => w.offerings.diffusionModels.map((d) => d.fileName) },
        weight_dtype: { kind: 'combo', choices: () => WEIGHT_DTYPES },
      },
      outputs: [{ type: 'MODEL', name: 'MODEL' }],
      async run(run) {
        const file = String(run.inputs['unet_name']);
        const model = run.world.offerings.diffusionModels.find((d) => d.fileName === file);
        if (!model) throw new NodeExecutionError('FileNotFoundError', `Model in folder 'diffusion_models' with filename '${file}' not found.`);
        await loadWeights(run, weights, file, model.loadSeconds);
        return { outputs: [{ type: 'MODEL', family: model.family, file, loras: [] }] };
      },
    },
    {
      name: 'DualCLIPLoader',
      displayName: 'DualCLIPLoader',
      category: 'advanced/loaders',
      description: '[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\nflux: clip-l, t5',
      required: {
        clip_name1: { kind: 'combo', choices: (w) => w.offerings.textEncoders },
        clip_name2: { kind: 'combo', choices: (w) => w.offerings.textEncoders },
        type: { kind: 'combo', choices: () => CLIP_TYPES },
      },
      optional: { device: { kind: 'combo', choices: () => ['default', 'cpu'] } },
      outputs: [{ type: 'CLIP', name: 'CLIP' }],
      async run(run) {
        const names = [String(run.inputs['clip_name1']), String(run.inputs['clip_name2'])];
        const type = String(run.inputs['type']);
        if (type === 'flux' && !(names.some((n) => /t5/i.test(n)) && names.some((n) => /clip_l/i.test(n)))) {
          throw new NodeExecutionError('RuntimeError', `flux needs a clip-l and a t5 text encoder, got ${names.join(' and ')}`);
        }
        const clip: ClipValue = { type: 'CLIP', family: type === 'flux' ? 'flux' : 'sdxl', loras: [], stopAt: -1 };
        return { outputs: [clip] };
      },
    },
    {
      name: 'CLIPLoader',
      displayName: 'Load CLIP',
      category: 'advanced/loaders',
      description: '[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\nlumina2: gemma 2 2B / qwen 3 4B\nqwen_image: qwen 2.5 vl 7b',
      required: {
        clip_name: { kind: 'combo', choices: (w) => w.offerings.textEncoders },
        type: { kind: 'combo', choices: () => SINGLE_CLIP_TYPES },
      },
      optional: { device: { kind: 'combo', choices: () => ['default', 'cpu'] } },
      outputs: [{ type: 'CLIP', name: 'CLIP' }],
      async run(run) {
        const name = String(run.inputs['clip_name']);
        const type = String(run.inputs['type']);
        const encoder = SINGLE_ENCODERS.find((e) => e.file.test(name));
        if (!encoder) throw new NodeExecutionError('RuntimeError', `sandbox: no model family it knows takes ${name} as its one text encoder`);
        if (encoder.type !== type) throw new NodeExecutionError('RuntimeError', `sandbox: ${name} loaded as ${type} makes no ${encoder.family} text encoder (its type is ${encoder.type})`);
        const clip: ClipValue = { type: 'CLIP', family: encoder.family, loras: [], stopAt: -1 };
        return { outputs: [clip] };
      },
    },
    {
      name: 'VAELoader',
      displayName: 'Load VAE',
      category: 'loaders',
      required: { vae_name: { kind: 'combo', choices: (w) => [...w.offerings.vaes, 'taesd', 'taesdxl', 'taesd3', 'taef1'] } },
      outputs: [{ type: 'VAE', name: 'VAE' }],
      async run(run) {
        const file = String(run.inputs['vae_name']);
        return { outputs: [{ type: 'VAE', file, channels: vaeChannelsOf(file) }] };
      },
    },
    {
      name: 'LoraLoader',
      displayName: 'Load LoRA',
      category: 'loaders',
      description: 'LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are denoised such as applying styles.',
      required: {
        model: link('MODEL'),
        clip: link('CLIP'),
        lora_name: { kind: 'combo', choices: (w) => w.offerings.loras },
        strength_model: strength,
        strength_clip: strength,
      },
      outputs: [
        { type: 'MODEL', name: 'MODEL' },
        { type: 'CLIP', name: 'CLIP' },
      ],
      async run(run) {
        const model = run.inputs['model'] as ModelValue;
        const clip = run.inputs['clip'] as ClipValue;
        const tag = `${String(run.inputs['lora_name'])}:${String(run.inputs['strength_model'])}`;
        return { outputs: [{ ...model, loras: [...model.loras, tag] }, { ...clip, loras: [...clip.loras, tag] }] };
      },
    },
    {
      name: 'LoraLoaderModelOnly',
      displayName: 'LoraLoaderModelOnly',
      category: 'loaders',
      required: { model: link('MODEL'), lora_name: { kind: 'combo', choices: (w) => w.offerings.loras }, strength_model: strength },
      outputs: [{ type: 'MODEL', name: 'MODEL' }],
      async run(run) {
        const model = run.inputs['model'] as ModelValue;
        const tag = `${String(run.inputs['lora_name'])}:${String(run.inputs['strength_model'])}`;
        return { outputs: [{ ...model, loras: [...model.loras, tag] }] };
      },
    },
    {
      name: 'ControlNetLoader',
      displayName: 'Load ControlNet Model',
      category: 'loaders',
      required: { control_net_name: { kind: 'combo', choices: (w) => w.offerings.controlNets } },
      outputs: [{ type: 'CONTROL_NET', name: 'CONTROL_NET' }],
      async run(run) {
        return { outputs: [{ type: 'CONTROL_NET', file: String(run.inputs['control_net_name']) }] };
      },
    },
    {
      name: 'UpscaleModelLoader',
      displayName: 'Load Upscale Model',
      category: 'loaders',
      pythonModule: 'comfy_extras.nodes_upscale_model',
      required: { model_name: { kind: 'combo', choices: (w: ComfyWorld) => w.offerings.upscaleModels, v3: true } },
      outputs: [{ type: 'UPSCALE_MODEL', name: 'UPSCALE_MODEL' }],
      async run(run) {
        return { outputs: [{ type: 'UPSCALE_MODEL', file: String(run.inputs['model_name']) }] };
      },
    },
  ];
}
