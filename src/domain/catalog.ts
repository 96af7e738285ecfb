/**
 * @module domain/catalog
 *
 * The built-in catalog: every model and LoRA of the DAN API reference
 * ("Supported list values"), named by sha256 with its download link, plus the
 * DAN names of ControlNet models, preprocessors, interrogators, samplers and
 * upscalers. What a request may use is what connected nodes offer; the catalog
 * gives the stable names under which those offerings are published.
 */
import type { ModelFamily } from './families.js';

export interface CatalogEntry {
  kind: 'model' | 'lora';
  name: string;
  /** The model family (a LoRA's: the family it was trained for). */
  family: ModelFamily;
  /** Full-file sha256 (lower-case hex) as published in the DAN API reference. */
  sha256: string;
  /** Where the resource is described (civitai / huggingface page). */
  ref: string;
  /** Direct download link; its file name is one of the names a node's file may carry. */
  download: string;
}

const HF = 'https://huggingface.co/fiatrete/dan-used-models/resolve/main';

export const catalogModels: readonly CatalogEntry[] = [
  {
    kind: 'model',
    family: 'sd15',
    name: 'chillout_mix',
    sha256: '3a17d0deffa4592fd91c711a798031a258ab44041809ade8b4591c0225ea9401',
    ref: 'https://civitai.com/models/6424/chilloutmix',
    download: `${HF}/chilloutmix_NiPrunedFp32Fix.safetensors`,
  },
  {
    kind: 'model',
    family: 'sd15',
    name: 'clarity',
    sha256: '627a6f5c8bf7669d4a224ac041d527debc65d2d435b16e54ead8ee2c901d1634',
    ref: 'https://civitai.com/models/5062/clarity',
    download: `${HF}/clarity.safetensors`,
  },
  {
    kind: 'model',
    family: 'sd15',
    name: 'anything-v4.5-pruned',
    sha256: '6e430eb51421ce5bf18f04e2dbe90b2cad437311948be4ef8c33658a73c86b2a',
    ref: 'https://huggingface.co/andite/anything-v4.0',
    download: `${HF}/anything-v4.5-pruned.safetensors`,
  },
];

export const catalogLoras: readonly CatalogEntry[] = [
  {
    kind: 'lora',
    family: 'sd15',
    name: 'koreanDollLikeness_v10',
    sha256: '62efe75048d55a096a238c6e8c4e12d61b36bf59e388a90589335f750923954c',
    ref: 'https://civitai.com/models/19356/koreandolllikenessv10',
    download: `${HF}/koreandolllikeness_V10.safetensors`,
  },
  {
    kind: 'lora',
    family: 'sd15',
    name: 'stLouisLuxuriousWheels_v1',
    sha256: 'f1efd7b748634120b70343bc3c3b425c06c51548431a1264a2fcb5368352349f',
    ref: 'https://civitai.com/models/6669/st-louis-luxurious-wheels-azur-lane',
    download: `${HF}/stLouisLuxuriousWheels_v1.safetensors`,
  },
  {
    kind: 'lora',
    family: 'sd15',
    name: 'taiwanDollLikeness_v10',
    sha256: '5bbaabc04553d5821a3a45e4de5a02b2e66ecb00da677dd8ae862efd8ba59050',
    ref: 'https://civitai.com/models/17497/taiwan-doll-likeness',
    download: `${HF}/taiwanDollLikeness_v10.safetensors`,
  },
  {
    kind: 'lora',
    family: 'sd15',
    name: 'kobeni_v10',
    sha256: '3e5d8fe726b4c0f1e7f0905f32ea3d1c9ce89a54028209e8179d64d323048dac',
    ref: 'https://civitai.com/models/6679/kobeni',
    download: `${HF}/kobeni_v10.safetensors`,
  },
  {
    kind: 'lora',
    family: 'sd15',
    name: 'thickerLinesAnimeStyle_loraVersion',
    sha256: '759d6fdf539f44f6991efd27ef1767c7779ac8884defc71dd909e5808b5ea74b',
    ref: 'https://civitai.com/models/13910/thicker-lines-anime-style-lora-mix',
    download: `${HF}/thickerLinesAnimeStyle_loraVersion.safetensors`,
  },
];

/** The models and LoRAs a network knows by sha256: the built-in ones and those its operator added. */
export interface Catalog {
  models: readonly CatalogEntry[];
  loras: readonly CatalogEntry[];
}

export const builtInCatalog: Catalog = { models: catalogModels, loras: catalogLoras };

/** `base` with `added` after its own entries (config/catalog-file.ts checks that none collides). */
export function extendCatalog(base: Catalog, added: readonly CatalogEntry[]): Catalog {
  return {
    models: [...base.models, ...added.filter((e) => e.kind === 'model')],
    loras: [...base.loras, ...added.filter((e) => e.kind === 'lora')],
  };
}

/**
 * ControlNet models by DAN name. A node's ControlNet model title matches when its
 * file stem (title without the ` [hash]` suffix) contains one of `stems`, so both
 * ControlNet 1.0 (`control_sd15_canny`) and 1.1 (`control_v11p_sd15_canny`) files serve.
 */
export const catalogControlNetModels: readonly { name: string; family: ModelFamily; stems: readonly string[] }[] = [
  { name: 'sd15_canny', family: 'sd15', stems: ['sd15_canny'] },
  { name: 'sd15_openpose', family: 'sd15', stems: ['sd15_openpose'] },
];

/**
 * The family a ControlNet model is made for, from its name: a catalog entry's, the entry whose stem the name
 * holds (`control_v11p_sd15_canny.pth` is `sd15_canny`), or the family its file name says (`…sdxl…`, `…flux…`,
 * `…sd15…`); null when the name says nothing. A GPU owner's own file, asked for by its name, is then held to
 * the model's family as a catalog one is.
 */
export function controlNetFamilyOf(name: string): ModelFamily | null {
  const lower = name.toLowerCase();
  const entry = catalogControlNetModels.find((m) => m.name === name) ?? catalogControlNetModels.find((m) => m.stems.some((stem) => lower.includes(stem)));
  if (entry) return entry.family;
  if (/flux[-_.]?2/.test(lower)) return 'flux2';
  if (lower.includes('flux')) return 'flux';
  if (/sdxl|(^|[^a-z])xl([^a-z]|$)/.test(lower)) return 'sdxl';
  if (/sd-?1[._-]?5|sd15/.test(lower)) return 'sd15';
  return null;
}

/** ControlNet preprocessors by DAN name; `aliases` are accepted spellings (the spec's `openopse`). */
export const catalogPreprocessors: readonly { name: string; aliases: readonly string[]; thresholds: boolean }[] = [
  { name: 'canny', aliases: [], thresholds: true },
  { name: 'openpose', aliases: ['openopse'], thresholds: false },
];

/** Interrogators of the A1111 `/sdapi/v1/interrogate` route. */
export const catalogInterrogators: readonly string[] = ['clip', 'deepdanbooru'];

/** Samplers the DAN API reference lists (nodes may offer more). */
export const catalogSamplers: readonly string[] = ['DPM++ SDE Karras', 'Euler a', 'Euler', 'DPM++ SDE', 'LMS', 'DDIM'];

/**
 * Schedules (A1111's labels, 1.9+), given with a sampler as `scheduler` or in the legacy combined name
 * ("DPM++ 2M Karras"). "Automatic" is the sampler's own default.
 */
export const catalogSchedulers: readonly string[] = ['Automatic', 'Uniform', 'Karras', 'Exponential', 'SGM Uniform', 'Simple', 'Normal', 'DDIM', 'Beta', 'KL Optimal'];

/** Hires-fix upscalers the original deployment documented (nodes may offer more). */
export const catalogHiresUpscalers: readonly string[] = ['Latent', 'ESRGAN 4x'];

/** Standalone upscalers the original deployment documented (nodes may offer more). */
export const catalogUpscalers: readonly string[] = [
  'Lanczos',
  'Nearest',
  'ESRGAN 4x',
  'R-ESRGAN 4x+',
  'R-ESRGAN 4x+ Anime6B',
  'SwinIR 4x',
];

/** The file name (without extension) of an entry's download link. */
export function downloadStemOf(entry: CatalogEntry): string {
  const file = entry.download.slice(entry.download.lastIndexOf('/') + 1);
  return stripExtension(file);
}

export function stripExtension(file: string): string {
  const dot = file.lastIndexOf('.');
  return dot > 0 ? file.slice(0, dot) : file;
}

/**
 * The key under which upscaler and sampler-like names are compared: lower case,
 * spaces, underscores and dashes dropped, so `ESRGAN 4x` meets `ESRGAN_4x`.
 */
export function toNameKey(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}
