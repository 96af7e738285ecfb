/**
 * @module sandbox/controlnet-schema
 *
 * sd-webui-controlnet v1.1.455 request shapes (backends.md B.2, B.3, B.5): the
 * `ControlNetUnit` fields of `internal_controlnet/args.py` and the body of
 * `POST /controlnet/detect`. The real unit model ignores unknown keys and maps
 * legacy ones; the sandbox refuses both.
 */
import { Type, type Static } from '@sinclair/typebox';
import { nullable } from './body-validation.js';

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

/** `ResizeMode` values and the string aliases the enum's `_missing_` accepts, → canonical value. */
export const unitResizeModes: Readonly<Record<string, string>> = {
  'Just Resize': 'Just Resize',
  'Crop and Resize': 'Crop and Resize',
  'Resize and Fill': 'Resize and Fill',
  'Inner Fit (Scale to Fit)': 'Crop and Resize',
  'Scale to Fit (Inner Fit)': 'Crop and Resize',
  'Outer Fit (Shrink to Fit)': 'Resize and Fill',
  'Envelope (Outer Fit)': 'Resize and Fill',
};

const controlModes = ['Balanced', 'My prompt is more important', 'ControlNet is more important'] as const;
const hrOptions = ['Both', 'Low res only', 'High res only'] as const;

/** Legacy or removed keys → the field to use instead. */
export const legacyUnitFields: Readonly<Record<string, string>> = {
  input_image: 'legacy field; use "image"',
  lowvram: 'legacy field; use "low_vram"',
  guidance: 'legacy field; use "guidance_end"',
  guessmode: 'Guess Mode was removed in 1.1.136; use "control_mode": "ControlNet is more important"',
  guess_mode: 'Guess Mode was removed in 1.1.136; use "control_mode": "ControlNet is more important"',
  mask_image: 'Forge alias; use "mask"',
};

const Unit01 = Type.Number({ minimum: 0, maximum: 1 });

export const ControlNetUnitBody = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    module: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    weight: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    image: nullable(Type.Unknown()),
    mask: nullable(Type.Unknown()),
    resize_mode: Type.Optional(literals(Object.keys(unitResizeModes))),
    low_vram: Type.Optional(Type.Boolean()),
    processor_res: Type.Optional(Type.Integer()),
    threshold_a: Type.Optional(Type.Number()),
    threshold_b: Type.Optional(Type.Number()),
    guidance_start: Type.Optional(Unit01),
    guidance_end: Type.Optional(Unit01),
    pixel_perfect: Type.Optional(Type.Boolean()),
    control_mode: Type.Optional(literals(controlModes)),
    inpaint_crop_input_image: Type.Optional(Type.Boolean()),
    hr_option: Type.Optional(literals(hrOptions)),
    save_detected_map: Type.Optional(Type.Boolean()),
    advanced_weighting: nullable(Type.Array(Type.Number())),
    effective_region_mask: nullable(Type.String()),
    pulid_mode: Type.Optional(literals(['Fidelity', 'Extremely style'])),
    union_control_type: Type.Optional(Type.String()),
    ipadapter_input: nullable(Type.Array(Type.Unknown())),
    // UI-only and AnimateDiff fields still belong to the model.
    is_ui: Type.Optional(Type.Boolean()),
    input_mode: Type.Optional(Type.String()),
    batch_images: nullable(Type.Unknown()),
    output_dir: Type.Optional(Type.String()),
    loopback: Type.Optional(Type.Boolean()),
    batch_mask_dir: nullable(Type.String()),
    animatediff_batch: Type.Optional(Type.Boolean()),
    batch_modifiers: Type.Optional(Type.Array(Type.Unknown())),
    batch_image_files: Type.Optional(Type.Array(Type.Unknown())),
    batch_keyframe_idx: nullable(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type ControlNetUnitBody = Static<typeof ControlNetUnitBody>;

/** `alwayson_scripts.controlnet`: A1111 reads only `args`. */
export const ControlNetScriptBody = Type.Object({ args: Type.Array(Type.Unknown()) }, { additionalProperties: false });

export const DetectBody = Type.Object(
  {
    controlnet_module: Type.Optional(Type.String()),
    controlnet_input_images: Type.Optional(Type.Array(Type.String())),
    controlnet_processor_res: Type.Optional(Type.Integer()),
    controlnet_threshold_a: Type.Optional(Type.Number()),
    controlnet_threshold_b: Type.Optional(Type.Number()),
    controlnet_masks: Type.Optional(Type.Array(Type.String())),
    low_vram: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type DetectBody = Static<typeof DetectBody>;
