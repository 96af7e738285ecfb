/**
 * @module domain/families
 *
 * Model families: which architecture a checkpoint is, and so how a backend must
 * run it and which request values make sense for it. SD 1.5 and SDXL are UNet
 * checkpoints with CLIP text encoders and classifier-free guidance. The others
 * are flow-matching transformers whose text encoders and VAE usually ship as
 * separate files: Flux.1 is guidance-distilled (cfg 1, a `guidance` value, no
 * negative prompt), and so is Flux.2 [dev], with another text encoder
 * (Mistral Small 3), VAE and latent; Qwen-Image takes classifier-free guidance at a low scale
 * and a negative prompt; Z-Image-Turbo is distilled to run at cfg 1 in about
 * eight steps, with no guidance of either kind and no negative prompt.
 */
import { Type } from '@sinclair/typebox';

export const ModelFamilies = ['sd15', 'sdxl', 'flux', 'flux2', 'qwen-image', 'z-image-turbo', 'flux-kontext', 'qwen-image-edit'] as const;
export type ModelFamily = (typeof ModelFamilies)[number];
export const ModelFamilyField = Type.Union(ModelFamilies.map((f) => Type.Literal(f)));

/** What a safetensors header's `modelspec.architecture` says of the family (kohya / SAI ModelSpec values), or null. */
export function familyOfArchitecture(architecture: string): ModelFamily | null {
  const value = architecture.toLowerCase();
  if (value.endsWith('/lora') || value.endsWith('/textual-inversion')) return null;
  // The refiner and edit models are SDXL too, but not for text to image.
  if (value === 'stable-diffusion-xl-v1-base') return 'sdxl';
  if (value.startsWith('stable-diffusion-v1')) return 'sd15';
  if (value === 'flux-1-dev' || value === 'flux-1-schnell' || value === 'flux-1') return 'flux';
  // Trainers' values (musubi-tuner writes `Qwen-Image`, others `qwen_image`); not the first Edit model nor the Layered
  // one, which need other graphs, nor `Z-Image`, which names the base model as well as the turbo one. musubi-tuner
  // writes `Qwen-Image-Edit-Plus` for the 2509 model and `Qwen-Image-Edit-2511` for the 2511 one.
  if (value === 'flux.2-dev' || value === 'flux-2-dev') return 'flux2';
  if (value === 'qwen-image' || value === 'qwen_image') return 'qwen-image';
  if (/^qwen[-_]image[-_]edit[-_](plus|2509|2511)$/.test(value)) return 'qwen-image-edit';
  if (value === 'z-image-turbo' || value === 'z_image_turbo') return 'z-image-turbo';
  return null;
}

/** kohya sd-scripts' `ss_base_model_version` values, in a LoRA's metadata, by the family they name. */
const KOHYA_BASE_VERSIONS: readonly [RegExp, ModelFamily][] = [
  [/^sd_v1/, 'sd15'],
  [/^sdxl_base_v1/, 'sdxl'],
  [/^flux1$/, 'flux'],
];

/**
 * The family a LoRA was trained for, from its file's metadata as a WebUI lists it: the ModelSpec
 * architecture (`stable-diffusion-xl-v1-base/lora`), else kohya's `ss_base_model_version`; null when neither
 * names a family DAN knows (SD 2, Flux.2 Klein, …): unknown, never a guess.
 */
export function loraFamilyOfMetadata(metadata: Readonly<Record<string, unknown>>): ModelFamily | null {
  const architecture = metadata['modelspec.architecture'];
  if (typeof architecture === 'string' && architecture.toLowerCase().endsWith('/lora')) {
    const family = familyOfArchitecture(architecture.slice(0, -'/lora'.length));
    if (family) return family;
  }
  const base = metadata['ss_base_model_version'];
  return typeof base === 'string' ? familyOfKohyaBase(base) : null;
}

/** What kohya's `ss_base_model_version` (`sd_v1`, `sdxl_base_v1-0`, `flux1`, …) says of the family, or null. */
export function familyOfKohyaBase(value: string): ModelFamily | null {
  const base = value.toLowerCase();
  return KOHYA_BASE_VERSIONS.find(([pattern]) => pattern.test(base))?.[1] ?? null;
}

/** `file=family` pairs (`--model-family`, env `DAN_MODEL_FAMILIES`): files whose family a backend cannot tell. */
export function parseDeclaredFamilies(pairs: readonly string[]): { families: Map<string, ModelFamily>; problems: string[] } {
  const families = new Map<string, ModelFamily>();
  const problems: string[] = [];
  for (const pair of pairs) {
    const at = pair.lastIndexOf('=');
    const file = pair.slice(0, at).trim();
    const family = pair.slice(at + 1).trim();
    if (at <= 0 || file === '') problems.push(`model family "${pair}" must look like file=family`);
    else if (!(ModelFamilies as readonly string[]).includes(family)) problems.push(`model family of ${file} must be one of ${ModelFamilies.join(', ')}, got "${family}"`);
    else families.set(file.toLowerCase(), family as ModelFamily);
  }
  return { families, problems };
}

/** The declared family of a file, matched by its name with or without extension, case-insensitively. */
export function declaredFamilyOf(declared: ReadonlyMap<string, ModelFamily>, fileName: string): ModelFamily | null {
  const name = fileName.toLowerCase();
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const stem = base.replace(/\.[^.]+$/, '');
  return declared.get(name) ?? declared.get(base) ?? declared.get(stem) ?? null;
}

/**
 * How a family is steered towards its prompt: classifier-free guidance (`cfg_scale`, with a negative prompt),
 * a distilled guidance value (`guidance`; it runs at cfg 1 and takes no negative prompt), or neither (a model
 * distilled to run at cfg 1 with no guidance value: no negative prompt either).
 */
export type GuidanceKind = 'cfg' | 'distilled' | 'none';

/** Which backends run a family: every A1111-compatible WebUI and ComfyUI, Forge (of those) and ComfyUI, or ComfyUI only. */
export type FamilyBackends = 'any' | 'forge-or-comfyui' | 'comfyui';

/** What a family expects of a request: its native size, its sampler, its steps, which guidance it takes. */
export interface FamilyTraits {
  label: string;
  /** The article before the label in a sentence: "an SDXL model", "a Flux.1 model". */
  article: 'a' | 'an';
  /** The side it was trained at; the default width and height. */
  nativeSide: number;
  /** The sampler used when a request names none. */
  defaultSampler: string;
  guidance: GuidanceKind;
  /** `cfg_scale` when a request sets none (`cfg` families); 1, and no other value, for the others. */
  defaultCfgScale: number;
  /** `guidance` when a request sets none (`distilled` families); null for the others, which take none. */
  defaultGuidance: number | null;
  /** `steps` when a request sets none: the API's 20, or a turbo model's few. */
  defaultSteps: number;
  /**
   * The pixels of a latent cell each way, which width and height are rounded down to: 8 (SD's VAE, the
   * WebUI's rounding), or 16 for Flux.2's VAE, whose decoding would crop the rest.
   */
  sideMultiple: number;
  backends: FamilyBackends;
  /**
   * Whether DAN runs ControlNet units for it (`ControlNetApplyAdvanced`, A1111's extension). Qwen-Image's and
   * Z-Image's control models load as model patches, through other nodes, which DAN does not build yet.
   */
  controlNet: boolean;
  /**
   * An edit model (FLUX.1 Kontext, Qwen-Image-Edit): it redraws a whole image given to it, as a reference, as its prompt asks. It
   * runs as img2img only, with no denoising strength and no mask, at one of `EDIT_SIZES` by default.
   */
  edits: boolean;
  /** The families whose LoRAs its models take: its own; FLUX.1 Kontext's also Flux.1's (Kontext LoRAs are trained as Flux.1's). */
  loraFamilies: readonly ModelFamily[];
}

/**
 * A family as `supportedModelInfo` lists it (`Families`): its traits and its name, what a client needs to fill
 * a form the way the gateway will read it, so that it holds no table of its own.
 */
export type FamilyInfo = FamilyTraits & { name: ModelFamily };

/** Every family, as `supportedModelInfo` lists them. */
export function familyInfos(): FamilyInfo[] {
  return ModelFamilies.map((name) => ({ name, ...familyTraits[name] }));
}

/**
 * The sizes an edit model makes by default, about a megapixel each in 16-pixel cells: FLUX.1 Kontext's
 * (ComfyUI's `FluxKontextImageScale` picks among them), and their transposes.
 */
export const EDIT_SIZES: readonly (readonly [number, number])[] = [
  [672, 1568], [688, 1504], [720, 1456], [752, 1392], [800, 1328], [832, 1248], [880, 1184], [944, 1104], [1024, 1024],
  [1104, 944], [1184, 880], [1248, 832], [1328, 800], [1392, 752], [1456, 720], [1504, 688], [1568, 672],
];

/** A megapixel (1024²): the most a GPU with 10 GiB or less is asked to make (node/backends/comfyui/discover.ts). */
const EDIT_MAX_PIXELS = 1024 * 1024;

/**
 * The edit size of an image's aspect: the nearest ratio, ties to the smaller width, as `FluxKontextImageScale`
 * picks; among the sizes of a megapixel at most (4 of the 17 are a little over, which a node of 8–10 GiB
 * refuses: a request that named no size would have had no node).
 */
export function editSizeOf(width: number, height: number): { width: number; height: number } {
  const aspect = width / height;
  let best: readonly [number, number] = [1024, 1024];
  for (const size of EDIT_SIZES) {
    if (size[0] * size[1] > EDIT_MAX_PIXELS) continue;
    if (Math.abs(aspect - size[0] / size[1]) < Math.abs(aspect - best[0] / best[1])) best = size;
  }
  return { width: best[0], height: best[1] };
}

/** Flux.1-dev's usual distilled guidance (ComfyUI's `FluxGuidance` default and Forge's). */
export const FLUX_DEFAULT_GUIDANCE = 3.5;

/** The cfg_scale of families without classifier-free guidance: at 1 the negative prompt is never evaluated. */
export const UNGUIDED_CFG_SCALE = 1;

/** A1111's default cfg_scale, the API's for SD 1.5, SDXL and models of unknown family. */
export const SD_DEFAULT_CFG_SCALE = 7;

/** The API's default steps, of the families without their own and of models of unknown family. */
export const SD_DEFAULT_STEPS = 20;

/** Width and height are rounded down to a multiple of this, as the WebUI does, unless a family needs more. */
export const SD_SIDE_MULTIPLE = 8;

/** What the families of SD's kind take when a request sets nothing: cfg 7, no distilled guidance, 20 steps, sides in 8s. */
const SD_DEFAULTS = { defaultCfgScale: SD_DEFAULT_CFG_SCALE, defaultGuidance: null, defaultSteps: SD_DEFAULT_STEPS, sideMultiple: SD_SIDE_MULTIPLE } as const;

export const familyTraits: Readonly<Record<ModelFamily, FamilyTraits>> = {
  sd15: { label: 'SD 1.5', article: 'an', nativeSide: 512, defaultSampler: 'Euler a', guidance: 'cfg', ...SD_DEFAULTS, backends: 'any', controlNet: true, edits: false, loraFamilies: ['sd15'] },
  sdxl: { label: 'SDXL', article: 'an', nativeSide: 1024, defaultSampler: 'Euler a', guidance: 'cfg', ...SD_DEFAULTS, backends: 'any', controlNet: true, edits: false, loraFamilies: ['sdxl'] },
  flux: {
    label: 'Flux.1',
    article: 'a',
    nativeSide: 1024,
    defaultSampler: 'Euler',
    guidance: 'distilled',
    defaultCfgScale: UNGUIDED_CFG_SCALE,
    defaultGuidance: FLUX_DEFAULT_GUIDANCE,
    defaultSteps: SD_DEFAULT_STEPS,
    sideMultiple: SD_SIDE_MULTIPLE,
    backends: 'forge-or-comfyui',
    controlNet: true,
    edits: false,
    loraFamilies: ['flux'],
  },
  // ComfyUI's own Flux.2 example: FluxGuidance 4, 20 steps of euler on its own schedule (Flux2Scheduler).
  flux2: {
    label: 'Flux.2',
    article: 'a',
    nativeSide: 1024,
    defaultSampler: 'Euler',
    guidance: 'distilled',
    defaultCfgScale: UNGUIDED_CFG_SCALE,
    defaultGuidance: 4,
    defaultSteps: SD_DEFAULT_STEPS,
    sideMultiple: 16,
    backends: 'comfyui',
    controlNet: false,
    edits: false,
    loraFamilies: ['flux2'],
  },
  // ComfyUI's own Qwen-Image template: 1328², euler with the simple schedule, 20 steps at cfg 2.5.
  'qwen-image': { label: 'Qwen-Image', article: 'a', nativeSide: 1328, defaultSampler: 'Euler', guidance: 'cfg', ...SD_DEFAULTS, defaultCfgScale: 2.5, backends: 'comfyui', controlNet: false, edits: false, loraFamilies: ['qwen-image'] },
  // ComfyUI's Z-Image-Turbo template and example: 1024², 8 (or 9) steps at cfg 1.
  'z-image-turbo': {
    label: 'Z-Image-Turbo',
    article: 'a',
    nativeSide: 1024,
    defaultSampler: 'Euler',
    guidance: 'none',
    defaultCfgScale: UNGUIDED_CFG_SCALE,
    defaultGuidance: null,
    defaultSteps: 8,
    sideMultiple: SD_SIDE_MULTIPLE,
    backends: 'comfyui',
    controlNet: false,
    edits: false,
    loraFamilies: ['z-image-turbo'],
  },
  // ComfyUI's FLUX.1 Kontext [dev] template: Flux.1's encoders and VAE, guidance 2.5, 20 steps of euler/simple at cfg 1.
  'flux-kontext': {
    label: 'FLUX.1 Kontext',
    article: 'a',
    nativeSide: 1024,
    defaultSampler: 'Euler',
    guidance: 'distilled',
    defaultCfgScale: UNGUIDED_CFG_SCALE,
    defaultGuidance: 2.5,
    defaultSteps: SD_DEFAULT_STEPS,
    sideMultiple: 16,
    backends: 'comfyui',
    controlNet: false,
    edits: true,
    loraFamilies: ['flux-kontext', 'flux'],
  },
  // ComfyUI's Qwen-Image-Edit 2509 template: Qwen-Image's encoder and VAE, 20 steps of euler/simple at cfg 2.5, with a
  // negative prompt; the image joins both prompts' encodings (TextEncodeQwenImageEditPlus).
  'qwen-image-edit': {
    label: 'Qwen-Image-Edit',
    article: 'a',
    nativeSide: 1024,
    defaultSampler: 'Euler',
    guidance: 'cfg',
    ...SD_DEFAULTS,
    defaultCfgScale: 2.5,
    sideMultiple: 16,
    backends: 'comfyui',
    controlNet: false,
    edits: true,
    loraFamilies: ['qwen-image-edit'],
  },
};

/**
 * Flux.1's separate files, each by its usual names, the exact one first: its VAE (`ae.safetensors`), its
 * CLIP-L and its T5-XXL text encoders (city96's GGUF and Google's encoder-only files among them; not
 * UMT5, Wan's). Several that match: the first in name order, so that every node picks alike.
 */
const FLUX_MODULES: readonly { exact: RegExp; usual: RegExp }[] = [
  { exact: /^ae\.(safetensors|sft)$/i, usual: /^(flux[-_.]?1?[-_.]?(dev[-_.]|schnell[-_.])?vae|vae[-_.]flux)[\w.-]*\.(safetensors|sft|gguf)$/i },
  { exact: /^clip_l\.safetensors$/i, usual: /^clip[-_]l([-_.]fp\d+|[-_.]bf16)?\.(safetensors|sft|gguf)$/i },
  { exact: /^t5xxl_fp(16|8_e4m3fn)\.safetensors$/i, usual: /(^|[^m])t5[-_]?(v1[-_.]1[-_])?xxl/i },
];

/** What `fluxModulesOf` found among a node's modules: Flux's three, none of them, or some only. */
export type FluxModules = { found: string[] } | { partial: string[] };

/**
 * The module files (Forge's `/sdapi/v1/sd-modules` names) to load with a Flux.1 checkpoint: its VAE and
 * two text encoders when all three are there; none when none is (the checkpoint must hold them itself:
 * an all-in-one file, such as the NF4 ones Forge's own guide names); some only is a node that cannot run
 * a UNet-only file and may not hold an all-in-one one either (`partial`: what it has).
 */
export function fluxModulesOf(modules: readonly string[]): FluxModules {
  const sorted = [...modules].sort();
  const found = FLUX_MODULES.map(({ exact, usual }) => sorted.find((name) => exact.test(name)) ?? sorted.find((name) => usual.test(name)));
  const present = found.filter((name) => name !== undefined);
  if (present.length === FLUX_MODULES.length) return { found: present };
  return present.length === 0 ? { found: [] } : { partial: present };
}

/** Those of `modules` that are Flux's (`fluxModulesOf`), which no other model may be given. */
export function isFluxModule(name: string): boolean {
  return FLUX_MODULES.some(({ exact, usual }) => exact.test(name) || usual.test(name));
}
