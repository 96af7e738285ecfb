/**
 * @module node/backends/comfyui/discover
 *
 * What a ComfyUI offers, from `/object_info` (the choices of its loader nodes'
 * file inputs, its samplers, which preprocessor and tagger nodes are
 * installed) and `/system_stats` (GPU memory), shaped as `NodeCapabilities`
 * under DAN's names, plus the `ComfyInventory` the driver builds graphs from:
 * how each model is loaded, which file or method each upscaler is.
 *
 * - Checkpoints load with `CheckpointLoaderSimple`. Their family comes from the
 *   GPU owner's `--model-family`, else from the file's safetensors metadata
 *   (`/view_metadata/checkpoints`), else it is unknown.
 * - Diffusion models (UNet-only files, `UNETLoader`) need their text encoders
 *   and VAE, and their family told by the GPU owner or by the file's name
 *   (ComfyUI's own repackaged names): a Flux.1 model is offered only when a
 *   T5-XXL and a CLIP-L encoder, `DualCLIPLoader`'s `flux` type and the Flux
 *   VAE (`ae`) are all there; Flux.2 [dev] with Mistral Small 3, `CLIPLoader`'s
 *   `flux2` type, its own VAE and its sampling nodes; Qwen-Image with Qwen2.5-VL, `CLIPLoader`'s
 *   `qwen_image` type and its own VAE; Z-Image-Turbo with Qwen3-4B, the
 *   `lumina2` type and the Flux VAE; FLUX.1 Kontext with Flux.1's files and
 *   `ReferenceLatent`; Qwen-Image-Edit 2509 and 2511 with Qwen-Image's files,
 *   `TextEncodeQwenImageEditPlus` and `CFGNorm`, and 2511 where the reference
 *   method `index_timestep_zero` is there (`DIFFUSION_FAMILIES`). Other
 *   UNet-only families are not offered.
 */
import type { ControlNetCapability, LoraCapability, ModelCapability, NodeCapabilities } from '../../../domain/capabilities.js';
import { stripExtension } from '../../../domain/catalog.js';
import { declaredFamilyOf, familyOfArchitecture, loraFamilyOfMetadata, type ModelFamily } from '../../../domain/families.js';
import { DanError } from '../../../errors/dan-error.js';
import type { BackendClient } from '../backend-client.js';
import { AUTOMATIC_SCHEDULER, LATENT_MODES, RESAMPLING_UPSCALERS, SAMPLERS, SCHEDULERS, upscalerNameOf } from './comfy-names.js';
import { ObjectInfo } from './object-info.js';

/** The families whose UNet-only files a ComfyUI node offers, with the text encoders and VAE each needs. */
export type DiffusionFamily = 'flux' | 'flux2' | 'qwen-image' | 'z-image-turbo' | 'flux-kontext' | 'qwen-image-edit';

/**
 * How the graph loads a model: a checkpoint, or a diffusion model with its text encoders (one: `CLIPLoader`;
 * two: `DualCLIPLoader`, Flux's T5-XXL then CLIP-L), the loader's `type` for them, and its VAE.
 */
export type ModelRecipe =
  | { loader: 'checkpoint'; file: string; family: ModelFamily | null }
  | { loader: 'diffusion-model'; file: string; family: DiffusionFamily; textEncoders: readonly string[]; clipType: string; vae: string };

export type UpscalerRecipe = { kind: 'model'; file: string } | { kind: 'resample'; method: string };

export interface ComfyInventory {
  /** By model title (the file name as ComfyUI lists it). */
  models: ReadonlyMap<string, ModelRecipe>;
  /** By the name declared in the capabilities. */
  upscalers: ReadonlyMap<string, UpscalerRecipe>;
  /** Latent hires modes by declared name → `LatentUpscaleBy` method. */
  latentModes: ReadonlyMap<string, string>;
  /** The tagger model `WD14Tagger|pysssss` runs, when that node is installed. */
  taggerModel: string | null;
  /** LoRA files by the name declared (the file's stem, as A1111 names LoRAs, so both kinds of node offer one identity). */
  loras: ReadonlyMap<string, string>;
  /** Whether `ControlNetApplyAdvanced` takes a VAE (builds since late 2024; older ones fail on an input they do not know). */
  controlNetTakesVae: boolean;
  /** Whether it has `InpaintModelConditioning` (since early 2024), which gives inpainting checkpoints their masked picture. */
  inpaintConditioning: boolean;
  /** Whether it has `ThresholdMask` and `MaskComposite` (rounding and doubling an inpainting mask); older builds make do without. */
  thresholdMask: boolean;
  maskComposite: boolean;
}

export interface ComfyDiscovery {
  capabilities: NodeCapabilities;
  inventory: ComfyInventory;
}

export interface ComfyDiscoverOptions {
  /** The most pixels the GPU owner allows; the GPU's memory may allow fewer. */
  maxPixels: number;
  /** Families the GPU owner declared, by file name. */
  declaredFamilies: ReadonlyMap<string, ModelFamily>;
  /** Families read from file metadata before, by `folder/file`, and until when they hold: `MetadataCache`. */
  metadataCache: MetadataCache;
}

/**
 * What `/view_metadata` told of each file, by `folder/file`, and until when (`Date.now()`) it holds. ComfyUI
 * gives no path, size or date to tell a replaced file by, so a reading is asked again after
 * `METADATA_KEEP_MS` (one small request per file an hour). A request that failed (ComfyUI busy loading, a
 * timeout, a broken file) is asked again after `METADATA_RETRY_MS`, not at every discovery (a file it always
 * fails on, or a hung disk that times every request out, would make each discovery slow), nor only after the
 * node restarts; meanwhile the file keeps what it was read as before, if anything.
 */
export type MetadataCache = Map<string, { family: ModelFamily | null; until: number }>;
const METADATA_KEEP_MS = 60 * 60_000;
const METADATA_RETRY_MS = 10 * 60_000;

const TAGGER_NODE = 'WD14Tagger|pysssss';
const OPENPOSE_NODE = 'OpenposePreprocessor';
/** ControlNet units one graph may chain (ComfyUI sets no limit; each unit slows sampling by about a third). */
const MAX_CONTROLNET_UNITS = 4;
const MAX_LIST_ITEMS = 4096;
const GIB = 1024 ** 3;
/** Metadata reads at once: a node may have hundreds of checkpoints. */
const METADATA_CONCURRENCY = 8;

export async function discoverComfy(client: BackendClient, options: ComfyDiscoverOptions): Promise<ComfyDiscovery> {
  const infoJson = await client.getOptional('/object_info');
  if (infoJson === undefined || typeof infoJson !== 'object' || infoJson === null) {
    throw new DanError('DAN_ERR_BACKEND_UNREACHABLE', `ComfyUI at ${client.baseUrl} has no /object_info; is this a ComfyUI server?`);
  }
  const info = new ObjectInfo(infoJson);
  if (!info.has('KSampler') || !info.has('CheckpointLoaderSimple')) {
    throw new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', `ComfyUI at ${client.baseUrl} lists no KSampler or CheckpointLoaderSimple node`);
  }
  const stats = await client.getOptional('/system_stats');
  const checkpoints = info.choices('CheckpointLoaderSimple', 'ckpt_name').slice(0, MAX_LIST_ITEMS);
  const families = await fileFamilies(client, 'checkpoints', checkpoints, options);
  const recipes = new Map<string, ModelRecipe>();
  const models: ModelCapability[] = [];
  for (const file of checkpoints) {
    const family = families.get(file) ?? null;
    recipes.set(file, { loader: 'checkpoint', file, family });
    models.push(modelCapability(file, family));
  }
  for (const recipe of diffusionModels(info, options.declaredFamilies)) {
    if (recipes.has(recipe.file)) continue;
    recipes.set(recipe.file, recipe);
    models.push(modelCapability(recipe.file, recipe.family));
  }
  const upscalers = upscalerRecipes(info);
  const loras = loraFiles(info);
  const loraFamilies = await fileFamilies(client, 'loras', [...loras.values()], options);
  const latentModes = new Map(Object.entries(LATENT_MODES).filter(([, method]) => info.choices('LatentUpscale', 'upscale_method').includes(method)));
  const taggerModels = info.choices(TAGGER_NODE, 'model');
  const comfySamplers = info.choices('KSampler', 'sampler_name');
  const comfySchedulers = info.choices('KSampler', 'scheduler');
  const capabilities: NodeCapabilities = {
    backend: { kind: 'comfyui', version: versionOf(stats) },
    models: models.slice(0, MAX_LIST_ITEMS),
    loras: [...loras].map(([name, file]) => toLora(name, file, loraFamilies.get(file) ?? null)),
    samplers: Object.entries(SAMPLERS)
      .filter(([, pair]) => comfySamplers.includes(pair.sampler) && comfySchedulers.includes(pair.scheduler))
      .map(([name]) => name),
    schedulers: [AUTOMATIC_SCHEDULER, ...Object.entries(SCHEDULERS).filter(([, s]) => comfySchedulers.includes(s)).map(([label]) => label)],
    upscalers: [...upscalers.keys()],
    latentUpscaleModes: [...latentModes.keys()],
    controlNet: controlNetOf(info),
    interrogators: taggerModels.length > 0 ? ['deepdanbooru'] : [],
    maxPixels: Math.min(options.maxPixels, pixelsForMemory(stats)),
  };
  const taggerModel = taggerModels.includes('wd-v1-4-moat-tagger-v2') ? 'wd-v1-4-moat-tagger-v2' : (taggerModels[0] ?? null);
  const controlNetTakesVae = info.hasInput('ControlNetApplyAdvanced', 'vae');
  const masks = { inpaintConditioning: info.has('InpaintModelConditioning'), thresholdMask: info.has('ThresholdMask'), maskComposite: info.has('MaskComposite') };
  return { capabilities, inventory: { models: recipes, upscalers, latentModes, taggerModel, loras, controlNetTakesVae, ...masks } };
}

function modelCapability(file: string, family: ModelFamily | null): ModelCapability {
  const fileName = baseName(file);
  return { title: file, name: stripExtension(fileName), fileName, sha256: null, ...(family ? { family } : {}) };
}

/** How a model folder's files tell their family in their safetensors metadata. */
const FAMILY_OF_METADATA = {
  checkpoints: (metadata: Record<string, unknown>) => {
    const architecture = metadata['modelspec.architecture'];
    return typeof architecture === 'string' ? familyOfArchitecture(architecture) : null;
  },
  loras: loraFamilyOfMetadata,
} as const satisfies Record<string, (metadata: Record<string, unknown>) => ModelFamily | null>;

/**
 * The family of each file of a model folder: the GPU owner's declaration first, then the file's safetensors
 * metadata (kept a while: `MetadataCache`).
 */
async function fileFamilies(
  client: BackendClient,
  folder: keyof typeof FAMILY_OF_METADATA,
  files: readonly string[],
  options: ComfyDiscoverOptions,
): Promise<Map<string, ModelFamily | null>> {
  const families = new Map<string, ModelFamily | null>();
  const unread: string[] = [];
  const now = Date.now();
  for (const file of files) {
    const declared = declaredFamilyOf(options.declaredFamilies, file);
    const cached = options.metadataCache.get(`${folder}/${file}`);
    if (declared) families.set(file, declared);
    else if (cached !== undefined && now < cached.until) families.set(file, cached.family);
    else if (file.endsWith('.safetensors')) unread.push(file);
  }
  for (let i = 0; i < unread.length; i += METADATA_CONCURRENCY) {
    await Promise.all(
      unread.slice(i, i + METADATA_CONCURRENCY).map(async (file) => {
        const key = `${folder}/${file}`;
        const read = await metadataFamily(client, folder, file);
        const family = read === undefined ? (options.metadataCache.get(key)?.family ?? null) : read;
        options.metadataCache.set(key, { family, until: now + (read === undefined ? METADATA_RETRY_MS : METADATA_KEEP_MS) });
        families.set(file, family);
      }),
    );
  }
  return families;
}

/** What the file's metadata says of its family (null: nothing), or undefined when ComfyUI could not be asked. */
async function metadataFamily(client: BackendClient, folder: keyof typeof FAMILY_OF_METADATA, file: string): Promise<ModelFamily | null | undefined> {
  try {
    // 404 when the file has no metadata (most community files), or on builds without the route.
    const metadata = await client.getOptional(`/view_metadata/${folder}?filename=${encodeURIComponent(file)}`);
    return typeof metadata === 'object' && metadata !== null ? FAMILY_OF_METADATA[folder](metadata as Record<string, unknown>) : null;
  } catch {
    return undefined;
  }
}

/** The Flux.1 VAE's usual names (`ae.safetensors`, Black Forest Labs' own); Z-Image uses it too. */
const FLUX_VAE = /^(ae|flux[-_]?vae|flux1?[-_]ae)\.(safetensors|sft|pt)$/i;

/**
 * What each family's diffusion model needs beside it, as ComfyUI's own templates load it: its text encoders
 * (matched by name, in the loader's order), the loader's `type`, its VAE, and the node classes its graph uses
 * (graph-builder.ts).
 */
const DIFFUSION_FAMILIES: Readonly<Record<DiffusionFamily, { encoders: readonly RegExp[]; clipType: string; vae: RegExp; nodes: readonly string[]; sinceType?: string }>> = {
  flux: { encoders: [/t5xxl/i, /clip_l/i], clipType: 'flux', vae: FLUX_VAE, nodes: ['FluxGuidance', 'EmptySD3LatentImage'] },
  // Flux.2 [dev]'s is Mistral Small 3 (`mistral_3_small_flux2_fp8.safetensors`); it samples with its own schedule.
  flux2: {
    encoders: [/mistral[-_.]?3[-_.]?small/i],
    clipType: 'flux2',
    vae: /flux[-_.]?2[-_.]?vae/i,
    nodes: ['FluxGuidance', 'EmptyFlux2LatentImage', 'Flux2Scheduler', 'BasicScheduler', 'SplitSigmas', 'RandomNoise', 'KSamplerSelect', 'BasicGuider', 'SamplerCustomAdvanced'],
  },
  // Qwen-Image's text encoder is the Qwen2.5-VL 7B model (`qwen_2.5_vl_7b_fp8_scaled.safetensors`).
  'qwen-image': { encoders: [/qwen[-_.]?2[._]?5[-_.]?vl/i], clipType: 'qwen_image', vae: /qwen[-_.]?image[-_.]?vae/i, nodes: ['ModelSamplingAuraFlow', 'EmptySD3LatentImage'] },
  // Z-Image's is Qwen3 4B (`qwen_3_4b.safetensors`), loaded as ComfyUI's `lumina2` type (its architecture).
  // `lumina2` is older than Z-Image (late November 2025): a ComfyUI must also list `flux2`, which came with it.
  'z-image-turbo': {
    encoders: [/qwen[-_.]?3[-_.]?4b/i],
    clipType: 'lumina2',
    vae: FLUX_VAE,
    nodes: ['ModelSamplingAuraFlow', 'EmptySD3LatentImage', 'ConditioningZeroOut'],
    sinceType: 'flux2',
  },
  // FLUX.1 Kontext [dev]: Flux.1's encoders and VAE; the image it edits joins the positive through `ReferenceLatent`
  // (ComfyUI v0.3.42, June 2025), its negative zeroed out.
  'flux-kontext': { encoders: [/t5xxl/i, /clip_l/i], clipType: 'flux', vae: FLUX_VAE, nodes: ['FluxGuidance', 'ReferenceLatent', 'ConditioningZeroOut'] },
  // Qwen-Image-Edit 2509 and 2511: Qwen-Image's encoder and VAE; the image joins both prompts through
  // `TextEncodeQwenImageEditPlus`, and the model is normalised by `CFGNorm` (ComfyUI v0.3.60, September 2025).
  'qwen-image-edit': {
    encoders: [/qwen[-_.]?2[._]?5[-_.]?vl/i],
    clipType: 'qwen_image',
    vae: /qwen[-_.]?image[-_.]?vae/i,
    nodes: ['ModelSamplingAuraFlow', 'TextEncodeQwenImageEditPlus', 'CFGNorm'],
  },
};

/** The node that tells a model how to place its reference images, and the method Qwen-Image-Edit 2511 needs. */
export const REFERENCE_METHOD_NODE = 'FluxKontextMultiReferenceLatentMethod';
export const TIMESTEP_ZERO_INDEX = 'index_timestep_zero';

/**
 * Whether a model file is Qwen-Image-Edit 2511, whose template differs from 2509's: a shift of 3.1, and its
 * reference image placed at timestep zero. ComfyUI does the latter for Comfy-Org's files only from a mark in
 * them, and the template adds `FluxKontextMultiReferenceLatentMethod` (`index_timestep_zero`, ComfyUI from
 * December 2025) after both encoders for any file: a ComfyUI without that method runs the model with the wrong
 * one, and its pictures come out worse without an error.
 */
export function isQwenEdit2511(family: ModelFamily | null, file: string): boolean {
  return family === 'qwen-image-edit' && /2511/.test(baseName(file));
}

/** Diffusion models of a family DAN runs, each with the text encoders and VAE it needs; none whose files are missing. */
function diffusionModels(info: ObjectInfo, declared: ReadonlyMap<string, ModelFamily>): ModelRecipe[] {
  if (!info.has('UNETLoader')) return [];
  const vaes = info.choices('VAELoader', 'vae_name');
  const recipes: ModelRecipe[] = [];
  for (const file of info.choices('UNETLoader', 'unet_name')) {
    const family = declaredFamilyOf(declared, file) ?? guessedFamily(file);
    if (family === null || !(family in DIFFUSION_FAMILIES)) continue;
    const needs = DIFFUSION_FAMILIES[family as DiffusionFamily];
    const [loader, input] = needs.encoders.length === 2 ? ['DualCLIPLoader', 'clip_name1'] : ['CLIPLoader', 'clip_name'];
    const encoders = info.choices(loader, input);
    const textEncoders = needs.encoders.map((pattern) => encoders.find((e) => pattern.test(baseName(e))));
    const vae = vaes.find((v) => needs.vae.test(baseName(v)));
    if (textEncoders.some((e) => e === undefined) || vae === undefined) continue;
    const types = info.choices(loader, 'type');
    if (!types.includes(needs.clipType) || (needs.sinceType !== undefined && !types.includes(needs.sinceType)) || !needs.nodes.every((node) => info.has(node))) continue;
    if (isQwenEdit2511(family, file) && !info.choices(REFERENCE_METHOD_NODE, 'reference_latents_method').includes(TIMESTEP_ZERO_INDEX)) continue;
    recipes.push({ loader: 'diffusion-model', file, family: family as DiffusionFamily, textEncoders: textEncoders as string[], clipType: needs.clipType, vae });
  }
  return recipes;
}

/**
 * A diffusion model's family from its name when its owner did not declare it, by the names ComfyUI's own
 * repackaged files have: Flux.1 dev or schnell, FLUX.1 Kontext dev (`flux1-dev-kontext_fp8_scaled`,
 * `flux1-kontext-dev`), Flux.2 dev, Qwen-Image, Qwen-Image-Edit 2509 and 2511 (`qwen_image_edit_2509_fp8_e4m3fn`),
 * Z-Image-Turbo. Not their variants for other work (Flux's Fill, Canny, Depth, Redux; Qwen-Image's first Edit
 * model and Layered), Flux.2 Klein (another text encoder, real CFG), nor
 * distilled Qwen-Image files, which need other graphs, files or settings.
 */
function guessedFamily(file: string): DiffusionFamily | null {
  const name = baseName(file).toLowerCase();
  if (/flux[-_.]?2/.test(name)) return /klein|fill|kontext|redux/.test(name) ? null : 'flux2';
  if (/flux[-_.]?1/.test(name) && /kontext/.test(name)) return /pro|max/.test(name) ? null : 'flux-kontext';
  if (/flux/.test(name) && !/fill|canny|depth|kontext|redux/.test(name)) return 'flux';
  // Nunchaku's quantized files (`svdq-int4_r128-qwen-image…`) sit with the others but load through nodes of their own.
  if (/svdq|nunchaku/.test(name)) return null;
  // Qwen-Image-Edit 2509 and 2511 only: the first Edit model's encoding node takes one image, not the Plus one's.
  if (/qwen[-_.]?image[-_.]?edit[-_.]?25(09|11)/.test(name)) return /distill|lightning/.test(name) ? null : 'qwen-image-edit';
  if (/qwen[-_.]?image/.test(name) && !/edit|layered|distill|lightning|control/.test(name)) return 'qwen-image';
  if (/z[-_.]?image[-_.]?turbo/.test(name)) return 'z-image-turbo';
  return null;
}

function upscalerRecipes(info: ObjectInfo): Map<string, UpscalerRecipe> {
  const recipes = new Map<string, UpscalerRecipe>();
  const methods = info.choices('ImageScale', 'upscale_method');
  for (const [name, method] of Object.entries(RESAMPLING_UPSCALERS)) if (methods.includes(method)) recipes.set(name, { kind: 'resample', method });
  if (info.has('ImageUpscaleWithModel')) {
    for (const file of info.choices('UpscaleModelLoader', 'model_name')) {
      const name = upscalerNameOf(file);
      if (!recipes.has(name)) recipes.set(name, { kind: 'model', file });
    }
  }
  return recipes;
}

function controlNetOf(info: ObjectInfo): ControlNetCapability | null {
  if (!info.has('ControlNetApplyAdvanced')) return null;
  const models = info.choices('ControlNetLoader', 'control_net_name');
  const modules = [...(info.has('Canny') ? ['canny'] : []), ...(info.has(OPENPOSE_NODE) ? ['openpose'] : [])];
  return { models, modules, maxUnits: MAX_CONTROLNET_UNITS };
}

/** LoRA files by their stem; the first of two files with one stem (in different folders) wins. */
function loraFiles(info: ObjectInfo): Map<string, string> {
  const files = new Map<string, string>();
  for (const file of info.choices('LoraLoader', 'lora_name')) {
    const stem = stripExtension(baseName(file));
    if (stem !== '' && !files.has(stem)) files.set(stem, file);
  }
  return files;
}

function toLora(stem: string, file: string, family: ModelFamily | null): LoraCapability {
  // Named as A1111 names a LoRA (the stem), so a request for a LoRA outside the catalog finds it on both kinds of
  // node; the graph's `lora_name` is the listed path (inventory.loras).
  return { name: stem, alias: null, fileName: baseName(file), sha256: null, ...(family ? { family } : {}) };
}

/**
 * How many pixels one image may have on a GPU with this much memory: a rough
 * guide from SDXL/Flux practice (1024² wants about 8 GiB; hires beyond that much
 * more). The GPU owner's `--max-pixels` caps it.
 */
export function pixelsForMemory(stats: unknown): number {
  const device = (stats as { devices?: { vram_total?: unknown }[] } | undefined)?.devices?.[0];
  const vram = typeof device?.vram_total === 'number' ? device.vram_total : null;
  if (vram === null || vram <= 0) return 1024 * 1024;
  if (vram < 6 * GIB) return 768 * 768;
  if (vram < 10 * GIB) return 1024 * 1024;
  if (vram < 16 * GIB) return 1536 * 1536;
  return 2048 * 2048;
}

function versionOf(stats: unknown): string | null {
  const version = (stats as { system?: { comfyui_version?: unknown } } | undefined)?.system?.comfyui_version;
  return typeof version === 'string' ? version.slice(0, 128) : null;
}

function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}
