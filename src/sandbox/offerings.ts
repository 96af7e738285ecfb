/**
 * @module sandbox/offerings
 *
 * What a sandbox pretends to have installed: checkpoints, LoRAs, samplers,
 * schedulers, upscalers and ControlNet. The default is the DAN catalog under the
 * file names of its download links, as a freshly provisioned node would have it.
 * With `forge`, it is a Forge WebUI: it lists VAE and text-encoder files as
 * modules (`/sdapi/v1/sd-modules`) and takes Forge's fields; `forgeOfferings`
 * adds Flux.1-dev as a UNet-only file and its three modules.
 */
import { readFile } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { catalogLoras, catalogModels, type CatalogEntry } from '../domain/catalog.js';
import { ModelFamilyField } from '../domain/families.js';
import { a1111LatentUpscaleModes, a1111Samplers, a1111Schedulers } from './a1111-tables.js';

const Name = Type.String({ minLength: 1 });

const OfferingsSchema = Type.Object(
  {
    models: Type.Array(
      Type.Object(
        {
          fileName: Name,
          sha256: Type.Union([Type.String({ pattern: '^[0-9a-fA-F]{64}$' }), Type.Null()]),
          /** Modelled seconds a load of this checkpoint takes (an SDXL file loads slower than an SD1.5 one); default: `--switch-seconds`. */
          loadSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
          /**
           * A Flux UNet without its VAE and text encoders: Forge makes black images with it unless they
           * are loaded as modules (`forge_additional_modules`), as the real one does.
           */
          needsModules: Type.Optional(Type.Boolean()),
          /** The model's family, for the time a step takes (`--step-costs`); default: SD 1.5's step, Flux's for a Flux UNet. */
          family: Type.Optional(ModelFamilyField),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    loras: Type.Array(
      Type.Object(
        {
          fileName: Name,
          /** The file's safetensors metadata, as A1111 lists it beside the LoRA (`ss_base_model_version`, `modelspec.architecture`, …). */
          metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    samplers: Type.Array(Name, { minItems: 1 }),
    schedulers: Type.Array(Type.Object({ name: Name, label: Name }, { additionalProperties: false }), { minItems: 1 }),
    upscalers: Type.Array(Name),
    latentUpscaleModes: Type.Array(Name),
    controlNet: Type.Union([
      Type.Object(
        {
          models: Type.Array(Name),
          modules: Type.Array(Name, { minItems: 1 }),
          unitCount: Type.Integer({ minimum: 1, maximum: 16 }),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    loadedModel: Type.Optional(Name),
    /** A Forge WebUI: the VAE and text-encoder files it lists as modules. */
    forge: Type.Optional(Type.Object({ modules: Type.Array(Name) }, { additionalProperties: false })),
    /**
     * The directory the listings' file paths begin with (`filename` of `/sdapi/v1/sd-models`: its
     * `models/Stable-diffusion/<fileName>`). Default: a made-up one (inventory.ts's `FAKE_WEBUI_DIR`). A test
     * points it at a directory of real files, for a node on this machine to read their headers.
     */
    webuiDir: Type.Optional(Name),
  },
  { additionalProperties: false },
);

export type SandboxOfferings = Static<typeof OfferingsSchema>;

function fileNameOf(entry: CatalogEntry): string {
  return entry.download.slice(entry.download.lastIndexOf('/') + 1);
}

export const defaultOfferings: SandboxOfferings = {
  models: catalogModels.map((m) => ({ fileName: fileNameOf(m), sha256: m.sha256 })),
  loras: catalogLoras.map((l) => ({ fileName: fileNameOf(l) })),
  samplers: Object.keys(a1111Samplers),
  schedulers: a1111Schedulers.map(({ name, label }) => ({ name, label })),
  upscalers: ['None', 'Lanczos', 'Nearest', 'ESRGAN_4x', 'R-ESRGAN 4x+', 'R-ESRGAN 4x+ Anime6B', 'SwinIR_4x'],
  latentUpscaleModes: [...a1111LatentUpscaleModes],
  controlNet: {
    models: ['control_v11p_sd15_canny [d14c016b]', 'control_v11p_sd15_openpose [cab727d4]'],
    modules: ['none', 'canny', 'openpose', 'openpose_full', 'depth_midas', 'lineart_realistic', 'tile_resample'],
    unitCount: 3,
  },
};

/** The `forge` flavour's defaults: a Forge WebUI with Flux.1-dev (a UNet-only file) and its VAE and text encoders. */
export const forgeOfferings: SandboxOfferings = {
  ...defaultOfferings,
  models: [...defaultOfferings.models, { fileName: 'flux1-dev.safetensors', sha256: null, needsModules: true }],
  forge: { modules: ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors', 'vae-ft-mse-840000-ema-pruned.safetensors'] },
};

/** Defaults (the A1111 or the Forge ones) under the given overrides; throws when the result is not a usable offering. */
export function resolveOfferings(overrides: Partial<SandboxOfferings> = {}, defaults: SandboxOfferings = defaultOfferings): SandboxOfferings {
  const merged: SandboxOfferings = { ...defaults, ...withoutUndefined(overrides) };
  assertOfferings(merged, 'sandbox offerings');
  const loaded = merged.loadedModel;
  if (loaded !== undefined && !merged.models.some((m) => m.fileName === loaded)) {
    throw new Error(`sandbox offerings: loadedModel "${loaded}" is not one of the models' file names`);
  }
  return merged;
}

/**
 * Reads a JSON file of offering overrides (the CLI's `--config`). Unknown keys and
 * wrong types are refused, all at once, so a typo does not silently fall back to defaults.
 *
 * @example
 * const offerings = await loadSandboxOfferings('sandbox.json');
 * await startSandbox({ offerings });
 */
export async function loadSandboxOfferings(path: string): Promise<Partial<SandboxOfferings>> {
  const text = await readFile(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  assertOfferings(parsed, path, true);
  return parsed;
}

function assertOfferings(
  value: unknown,
  where: string,
  partial = false,
): asserts value is SandboxOfferings {
  const schema = partial ? Type.Partial(OfferingsSchema) : OfferingsSchema;
  const problems = [...Value.Errors(schema, value)].map((e) => `${e.path || '/'}: ${e.message}`);
  if (problems.length > 0) throw new Error(`${where}: invalid offerings:\n  ${problems.join('\n  ')}`);
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
