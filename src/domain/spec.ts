/**
 * @module domain/spec
 *
 * The backend-neutral description of one unit of work: what to make, not how a
 * WebUI wants to be asked for it. The API layer turns a DAN request into a
 * `GenerationSpec` (validated, defaults applied, resources named by identity);
 * a node's backend driver turns it into its backend's wire format.
 *
 * Glossary (see docs/glossary.md):
 * - task: one accepted request, stored durably, with a status and a result.
 * - attempt: one try of a task on one node; a task may take several.
 * - node: a GPU machine's agent, connected to the gateway over WebSocket.
 * - backend: the WebUI (A1111 / Forge / SD.Next) a node drives.
 * - capability: something a node declares it can do (a model, a LoRA, a sampler, …).
 * - slot: room for one running task on a node (A1111 runs one job at a time).
 * - resource: a model, LoRA or ControlNet model, named by a stable identity.
 */

import { Type, type Static } from '@sinclair/typebox';
import type { Base64Image } from '../util/base64-image.js';

export const TaskKinds = ['txt2img', 'img2img', 'interrogate', 'upscale'] as const;
export type TaskKind = (typeof TaskKinds)[number];

/** Base64 image data without a `data:` prefix; checked (format, size) at the gateway's door. */
const ImageData = Type.String({ minLength: 1, maxLength: 64 * 1024 * 1024 });
const Text = Type.String({ maxLength: 16_384 });
const ShortName = Type.String({ minLength: 1, maxLength: 512 });
const Unit = Type.Number({ minimum: 0, maximum: 1 });

/** A model, LoRA or ControlNet model, named by identity (catalog sha256, or a node-local id). */
export const ResourceRef = Type.Object(
  {
    /** Stable identity: the catalog sha256 when known, else the file's sha256 or `local:<lower-case name>`. */
    id: ShortName,
    /** Human name (catalog name, or the node's file stem). */
    name: ShortName,
  },
  { additionalProperties: false },
);
export type ResourceRef = Static<typeof ResourceRef>;

export const LoraUse = Type.Object(
  {
    lora: ResourceRef,
    /** Multiplier written into the `<lora:NAME:W>` tag. */
    weight: Type.Number(),
  },
  { additionalProperties: false },
);
export type LoraUse = Static<typeof LoraUse>;

export const ResizeModes = ['just_resize', 'crop_and_resize', 'resize_and_fill'] as const;
export const ResizeMode = Type.Union(ResizeModes.map((m) => Type.Literal(m)));
export type ResizeMode = (typeof ResizeModes)[number];

export const ControlNetUnitSpec = Type.Object(
  {
    image: ImageData,
    /** Preprocessor (ControlNet "module"), canonical DAN name: `canny` or `openpose`. */
    module: ShortName,
    /** ControlNet model, canonical DAN name (`sd15_canny`, `sd15_openpose`). */
    model: ShortName,
    /** Preprocessor thresholds (canny low/high); null when the module takes none. */
    thresholdA: Type.Union([Type.Number(), Type.Null()]),
    thresholdB: Type.Union([Type.Number(), Type.Null()]),
    weight: Type.Number({ minimum: 0, maximum: 2 }),
    resizeMode: ResizeMode,
    guidanceStart: Unit,
    guidanceEnd: Unit,
    /** The spec's "guess mode": the control map matters more than the prompt. */
    guessMode: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ControlNetUnitSpec = Static<typeof ControlNetUnitSpec>;

/** SDXL's refiner: the last part of the steps run by a second checkpoint made to finish SDXL images. */
export const RefinerSpec = Type.Object(
  {
    model: ResourceRef,
    /** The fraction of the steps after which the refiner takes over (A1111's `refiner_switch_at`). */
    switchAt: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }),
  },
  { additionalProperties: false },
);
export type RefinerSpec = Static<typeof RefinerSpec>;

export const HiresSpec = Type.Object(
  {
    scale: Type.Number({ minimum: 1, maximum: 4 }),
    /** Upscaler name as the client gave it (matched to node names by key). */
    upscaler: ShortName,
    denoisingStrength: Unit,
  },
  { additionalProperties: false },
);
export type HiresSpec = Static<typeof HiresSpec>;

/**
 * The largest values a spec may carry, whatever the gateway's limits: a node
 * refuses an assignment beyond them (the gateway's configured limits must stay
 * within them: domain/request-context.ts).
 */
export const SpecBounds = Object.freeze({ steps: 1000, side: 16384, loras: 64, controlNetUnits: 16 });

const diffusionCommon = {
  prompt: Text,
  negativePrompt: Text,
  /** -1 means "pick a random seed" (the backend reports the one it used). */
  seed: Type.Integer({ minimum: -1, maximum: Number.MAX_SAFE_INTEGER }),
  sampler: ShortName,
  steps: Type.Integer({ minimum: 1, maximum: SpecBounds.steps }),
  cfgScale: Type.Number({ minimum: 0, maximum: 100 }),
  /** Flux's distilled guidance (its `FluxGuidance`); absent: the family's default. Only Flux models use it. */
  guidance: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  width: Type.Integer({ minimum: 8, maximum: SpecBounds.side }),
  height: Type.Integer({ minimum: 8, maximum: SpecBounds.side }),
  model: ResourceRef,
  loras: Type.Array(LoraUse, { maxItems: SpecBounds.loras }),
  controlNet: Type.Array(ControlNetUnitSpec, { maxItems: SpecBounds.controlNetUnits }),
};

export const Txt2ImgSpec = Type.Object(
  {
    kind: Type.Literal('txt2img'),
    ...diffusionCommon,
    hires: Type.Union([HiresSpec, Type.Null()]),
    /** SDXL only: a refiner checkpoint finishing the image. */
    refiner: Type.Optional(RefinerSpec),
  },
  { additionalProperties: false },
);
export type Txt2ImgSpec = Static<typeof Txt2ImgSpec>;

export const InpaintSpec = Type.Object(
  {
    /** Base64 mask; white (or, with alpha, opaque) pixels are "masked". */
    mask: ImageData,
    maskBlur: Type.Integer({ minimum: 0, maximum: 64 }),
    /** Which part is regenerated: the masked (white) pixels, or the rest. */
    regenerate: Type.Union([Type.Literal('masked'), Type.Literal('unmasked')]),
    /** Work on the whole picture, or only on the masked area at full resolution. */
    area: Type.Union([Type.Literal('whole'), Type.Literal('masked_only')]),
  },
  { additionalProperties: false },
);
export type InpaintSpec = Static<typeof InpaintSpec>;

export const Img2ImgSpec = Type.Object(
  {
    kind: Type.Literal('img2img'),
    ...diffusionCommon,
    initImage: ImageData,
    /**
     * The init image's size upright, known at the door (absent in tasks stored before it was kept): inpainting
     * the masked area only answers a picture of this size, the original with the area pasted back.
     */
    initWidth: Type.Optional(Type.Integer({ minimum: 1 })),
    initHeight: Type.Optional(Type.Integer({ minimum: 1 })),
    resizeMode: ResizeMode,
    denoisingStrength: Unit,
    inpaint: Type.Union([InpaintSpec, Type.Null()]),
  },
  { additionalProperties: false },
);
export type Img2ImgSpec = Static<typeof Img2ImgSpec>;

export const InterrogateSpec = Type.Object(
  {
    kind: Type.Literal('interrogate'),
    image: ImageData,
    /** `clip` or `deepdanbooru`. */
    interrogator: ShortName,
  },
  { additionalProperties: false },
);
export type InterrogateSpec = Static<typeof InterrogateSpec>;

export const UpscaleSpec = Type.Object(
  {
    kind: Type.Literal('upscale'),
    image: ImageData,
    /** Upscaling factor (> 1). */
    scale: Type.Number({ exclusiveMinimum: 1, maximum: 16 }),
    upscaler: ShortName,
    /** Optional second upscaler blended in with `upscaler2Visibility`. */
    upscaler2: Type.Union([ShortName, Type.Null()]),
    upscaler2Visibility: Unit,
    /** Source image size, known at the door; used for pixel limits and cost. */
    sourceWidth: Type.Integer({ minimum: 1 }),
    sourceHeight: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type UpscaleSpec = Static<typeof UpscaleSpec>;

export const GenerationSpec = Type.Union([Txt2ImgSpec, Img2ImgSpec, InterrogateSpec, UpscaleSpec]);
export type DiffusionSpec = Txt2ImgSpec | Img2ImgSpec;
export type GenerationSpec = Static<typeof GenerationSpec>;

/** What a successful task produced. */
export const TaskResult = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('images'),
      images: Type.Array(ImageData, { minItems: 1, maxItems: 64 }),
      seeds: Type.Array(Type.Integer(), { maxItems: 64 }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('caption'), caption: Type.String({ maxLength: 65_536 }) }, { additionalProperties: false }),
]);
export type TaskResult = Static<typeof TaskResult>;

/**
 * A result as the gateway relays and stores it: images from a node's result
 * frame are held as bytes (util/base64-image.ts) and become base64 only on the
 * way out. Serialized with `toJsonBuffer`, it is a `TaskResult`.
 */
export type RelayedResult =
  | Exclude<TaskResult, { kind: 'images' }>
  | { kind: 'images'; images: (string | Base64Image)[]; seeds: number[] };

export function isDiffusion(spec: GenerationSpec): spec is DiffusionSpec {
  return spec.kind === 'txt2img' || spec.kind === 'img2img';
}

/** The size of the image the task makes: the hires target when hires is on, the upscaled size; null for an interrogation. */
export function outputSizeOf(spec: GenerationSpec): { width: number; height: number } | null {
  switch (spec.kind) {
    case 'txt2img': {
      const scale = spec.hires?.scale ?? 1;
      return { width: Math.floor(spec.width * scale), height: Math.floor(spec.height * scale) };
    }
    case 'img2img':
      return maskedAreaOnly(spec) && spec.initWidth !== undefined && spec.initHeight !== undefined
        ? { width: spec.initWidth, height: spec.initHeight }
        : { width: spec.width, height: spec.height };
    case 'upscale':
      return { width: Math.floor(spec.sourceWidth * spec.scale), height: Math.floor(spec.sourceHeight * spec.scale) };
    case 'interrogate':
      return null;
  }
}

/**
 * A spec as nodes are sent it: without what only the gateway reads (the init image's size), which a node of an
 * earlier release would refuse as a field its spec does not have (a protocol error, and the task failing on it).
 */
export function specForNodes(spec: GenerationSpec): GenerationSpec {
  if (spec.kind !== 'img2img' || (spec.initWidth === undefined && spec.initHeight === undefined)) return spec;
  const { initWidth: _width, initHeight: _height, ...forNodes } = spec;
  return forNodes;
}

/**
 * Inpainting of the masked area only (A1111's "only masked"): the area is worked on at the task's size and
 * pasted back into the original picture, which keeps its own size.
 */
export function maskedAreaOnly(spec: Img2ImgSpec): boolean {
  return spec.inpaint?.area === 'masked_only';
}

/** Largest image (in pixels) the task makes on its node: the hires target when hires is on. */
export function peakPixelsOf(spec: GenerationSpec): number {
  // Inpainting the masked area only pastes into a picture it does not diffuse: the GPU works at the task's size.
  const size = spec.kind === 'img2img' ? { width: spec.width, height: spec.height } : outputSizeOf(spec);
  return size === null ? 0 : size.width * size.height;
}
