/**
 * @module sandbox/comfyui/comfy-offerings
 *
 * What a ComfyUI sandbox has installed, folder by folder as ComfyUI's
 * `models/` directory holds it: checkpoints (each of a model family, told by
 * its safetensors metadata), diffusion models (UNet-only files such as Flux),
 * text encoders, VAEs, LoRAs, ControlNet and upscale models, which custom
 * node packs are installed, and the GPU's memory. The default has the DAN
 * catalog's SD 1.5 checkpoints and LoRAs, one SDXL checkpoint, and Flux.1-dev,
 * Flux.2-dev, Qwen-Image and Z-Image-Turbo with their text encoders and VAEs, under the
 * names of ComfyUI's own repackaged files.
 */
import { readFile } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { catalogLoras, catalogModels, type CatalogEntry } from '../../domain/catalog.js';
import { ModelFamilyField as FamilyField, type ModelFamily } from '../../domain/families.js';

export type Family = ModelFamily;

const Name = Type.String({ minLength: 1 });

/** Custom node packs the sandbox can pretend to have (each adds its node classes). */
export const CustomNodePacks = ['wd14-tagger', 'controlnet-aux'] as const;

const ComfyOfferingsSchema = Type.Object(
  {
    checkpoints: Type.Array(
      Type.Object(
        {
          fileName: Name,
          family: FamilyField,
          /** Whether `/view_metadata` tells the family (`modelspec.architecture`); many files carry no metadata. */
          metadata: Type.Optional(Type.Boolean()),
          loadSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
        },
        { additionalProperties: false },
      ),
    ),
    diffusionModels: Type.Array(
      Type.Object(
        { fileName: Name, family: FamilyField, loadSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })) },
        { additionalProperties: false },
      ),
    ),
    textEncoders: Type.Array(Name),
    vaes: Type.Array(Name),
    loras: Type.Array(Name),
    /** What `/view_metadata/loras` tells of a LoRA file (its safetensors metadata), by file name; absent: none. */
    loraMetadata: Type.Optional(Type.Record(Type.String(), Type.Record(Type.String(), Type.String()))),
    controlNets: Type.Array(Name),
    upscaleModels: Type.Array(Name),
    customNodes: Type.Array(Type.Union(CustomNodePacks.map((p) => Type.Literal(p)))),
    /** Bytes of GPU memory `/system_stats` reports. */
    vramBytes: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export type ComfyOfferings = Static<typeof ComfyOfferingsSchema>;

function fileNameOf(entry: CatalogEntry): string {
  return entry.download.slice(entry.download.lastIndexOf('/') + 1);
}

const GIB = 1024 ** 3;

export const defaultComfyOfferings: ComfyOfferings = {
  checkpoints: [
    ...catalogModels.map((m) => ({ fileName: fileNameOf(m), family: 'sd15' as const })),
    { fileName: 'sd_xl_base_1.0.safetensors', family: 'sdxl', metadata: true },
    { fileName: 'sd_xl_refiner_1.0.safetensors', family: 'sdxl' },
  ],
  diffusionModels: [
    { fileName: 'flux1-dev.safetensors', family: 'flux' },
    { fileName: 'flux1-dev-kontext_fp8_scaled.safetensors', family: 'flux-kontext' },
    { fileName: 'flux2_dev_fp8mixed.safetensors', family: 'flux2' },
    { fileName: 'qwen_image_fp8_e4m3fn.safetensors', family: 'qwen-image' },
    { fileName: 'qwen_image_edit_2509_fp8_e4m3fn.safetensors', family: 'qwen-image-edit' },
    { fileName: 'z_image_turbo_bf16.safetensors', family: 'z-image-turbo' },
  ],
  textEncoders: ['clip_l.safetensors', 't5xxl_fp16.safetensors', 'mistral_3_small_flux2_fp8.safetensors', 'qwen_2.5_vl_7b_fp8_scaled.safetensors', 'qwen_3_4b.safetensors'],
  vaes: ['ae.safetensors', 'flux2-vae.safetensors', 'qwen_image_vae.safetensors'],
  loras: catalogLoras.map(fileNameOf),
  controlNets: ['control_v11p_sd15_canny.pth', 'control_v11p_sd15_openpose.pth'],
  upscaleModels: ['RealESRGAN_x4plus.pth', 'RealESRGAN_x4plus_anime_6B.pth'],
  customNodes: ['wd14-tagger', 'controlnet-aux'],
  vramBytes: 24 * GIB,
};

/** Defaults under the given overrides; throws when the result is not a usable offering. */
export function resolveComfyOfferings(overrides: Partial<ComfyOfferings> = {}): ComfyOfferings {
  const merged: ComfyOfferings = { ...defaultComfyOfferings, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  const problems = [...Value.Errors(ComfyOfferingsSchema, merged)].map((e) => `${e.path || '/'}: ${e.message}`);
  if (problems.length > 0) throw new Error(`ComfyUI sandbox offerings: invalid:\n  ${problems.join('\n  ')}`);
  return merged;
}

/** Reads a JSON file of ComfyUI offering overrides (the CLI's `--config` with `--flavor comfyui`). */
export async function loadComfyOfferings(path: string): Promise<Partial<ComfyOfferings>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const problems = [...Value.Errors(Type.Partial(ComfyOfferingsSchema), parsed)].map((e) => `${e.path || '/'}: ${e.message}`);
  if (problems.length > 0) throw new Error(`${path}: invalid ComfyUI offerings:\n  ${problems.join('\n  ')}`);
  return parsed as Partial<ComfyOfferings>;
}
