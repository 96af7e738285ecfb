/**
 * @module domain/families
 *
 * Model families: which architecture a checkpoint is, and so how a backend must
 * run it and which request values make sense for it. SD 1.5 and SDXL are UNet
 * checkpoints with CLIP text encoders and classifier-free guidance; Flux.1 is a
 * guidance-distilled transformer whose text encoders (CLIP-L, T5-XXL) and VAE
 * usually ship as separate files, runs at cfg 1 with a `guidance` value, and
 * takes no negative prompt.
 */
import { Type } from '@sinclair/typebox';

export const ModelFamilies = ['sd15', 'sdxl', 'flux'] as const;
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
 * names a family DAN knows (SD 2, Flux.2, …): unknown, never a guess.
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

/** What a family expects of a request: its native size, its sampler, which guidance it takes. */
export interface FamilyTraits {
  label: string;
  /** The article before the label in a sentence: "an SDXL model", "a Flux.1 model". */
  article: 'a' | 'an';
  /** The side it was trained at; the default width and height. */
  nativeSide: number;
  /** The sampler used when a request names none. */
  defaultSampler: string;
  /** Flux's distilled guidance (`guidance`) instead of classifier-free guidance (`cfg_scale`) and a negative prompt. */
  distilledGuidance: boolean;
}

export const familyTraits: Readonly<Record<ModelFamily, FamilyTraits>> = {
  sd15: { label: 'SD 1.5', article: 'an', nativeSide: 512, defaultSampler: 'Euler a', distilledGuidance: false },
  sdxl: { label: 'SDXL', article: 'an', nativeSide: 1024, defaultSampler: 'Euler a', distilledGuidance: false },
  flux: { label: 'Flux.1', article: 'a', nativeSide: 1024, defaultSampler: 'Euler', distilledGuidance: true },
};

/** Flux.1-dev's usual distilled guidance (ComfyUI's `FluxGuidance` default and Forge's). */
export const FLUX_DEFAULT_GUIDANCE = 3.5;

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
