/**
 * @module domain/capabilities
 *
 * What a node declares it can do (`NodeCapabilities`, sent in its hello and on
 * refresh), in its backend's own names. The schema doubles as the type and is
 * checked on every inbound frame by the protocol module.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ModelFamilyField } from './families.js';

/** What drives a node's GPU: an AUTOMATIC1111-compatible WebUI (A1111, Forge, SD.Next), or ComfyUI. */
export const BackendKinds = ['a1111', 'comfyui'] as const;
export type BackendKind = (typeof BackendKinds)[number];
export const BackendKindField = Type.Union(BackendKinds.map((kind) => Type.Literal(kind)));

const Name = Type.String({ minLength: 1, maxLength: 512 });
const Sha256 = Type.Union([Type.String({ pattern: '^[0-9a-fA-F]{64}$' }), Type.Null()]);
const List = <T extends ReturnType<typeof Type.String>>(item: T) => Type.Array(item, { maxItems: 4096 });

export const ModelCapability = Type.Object(
  {
    /** What the backend accepts as `sd_model_checkpoint` (A1111 `title`). */
    title: Name,
    /** A1111 `model_name`: the file name without extension. */
    name: Name,
    /** The file's base name with extension, e.g. `clarity.safetensors`. */
    fileName: Name,
    /** Full-file sha256 when the backend knows it (A1111 only after hashing), else null. */
    sha256: Sha256,
    /** The model's family when the node knows it (the GPU owner's `--model-family`, or the file's header or metadata); absent: unknown. */
    family: Type.Optional(ModelFamilyField),
  },
  { additionalProperties: false },
);
export type ModelCapability = Static<typeof ModelCapability>;

export const LoraCapability = Type.Object(
  {
    /** The name a `<lora:NAME:W>` tag uses on this backend. */
    name: Name,
    alias: Type.Union([Name, Type.Null()]),
    fileName: Name,
    sha256: Sha256,
    /**
     * Protocol 5: the family of models the LoRA was trained for, when its file's metadata says
     * (`ss_base_model_version`, `modelspec.architecture`); absent: unknown. Sent only once the gateway's
     * welcome says it speaks 5 (a gateway of 4 refuses a field it does not know).
     */
    family: Type.Optional(ModelFamilyField),
  },
  { additionalProperties: false },
);
export type LoraCapability = Static<typeof LoraCapability>;

export const ControlNetCapability = Type.Object(
  {
    /** Model titles as the extension lists them, e.g. `control_v11p_sd15_canny [d14c016b]`. */
    models: List(Name),
    /** Preprocessor ("module") names, e.g. `canny`, `openpose`. */
    modules: List(Name),
    /** Units one request may carry (`control_net_unit_count`). */
    maxUnits: Type.Integer({ minimum: 0, maximum: 32 }),
  },
  { additionalProperties: false },
);
export type ControlNetCapability = Static<typeof ControlNetCapability>;

export const NodeCapabilities = Type.Object(
  {
    backend: Type.Object(
      {
        kind: BackendKindField,
        version: Type.Union([Type.String({ maxLength: 128 }), Type.Null()]),
        /**
         * Forge only (an A1111-compatible WebUI that lists them, `/sdapi/v1/sd-modules`): the VAE and
         * text-encoder files it can load beside a checkpoint (`forge_additional_modules`), by file name.
         * Absent: not Forge.
         */
        modules: Type.Optional(List(Name)),
      },
      { additionalProperties: false },
    ),
    models: Type.Array(ModelCapability, { maxItems: 4096 }),
    loras: Type.Array(LoraCapability, { maxItems: 16384 }),
    samplers: List(Name),
    /** Scheduler labels and names (A1111 ≥ 1.9: `Karras`, `karras`, …); empty on older builds. */
    schedulers: List(Name),
    /** Standalone upscalers (A1111 `/upscalers` names). Also usable for hires fix. */
    upscalers: List(Name),
    /** Latent upscale modes, usable for hires fix only. */
    latentUpscaleModes: List(Name),
    controlNet: Type.Union([ControlNetCapability, Type.Null()]),
    interrogators: List(Name),
    /** Largest image (width × height) this GPU may be asked to make. */
    maxPixels: Type.Integer({ minimum: 4096, maximum: 1 << 28 }),
  },
  { additionalProperties: false },
);
export type NodeCapabilities = Static<typeof NodeCapabilities>;
