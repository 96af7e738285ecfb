/**
 * @module sandbox/generation-schemas
 *
 * The txt2img / img2img request models of A1111 v1.10 (backends.md A.2, A.3):
 * every field optional and nullable like the generated pydantic models, nothing
 * else allowed. Numeric bounds that the real API lacks keep one request from
 * exhausting the test machine; they are deliberately generous.
 */
import { Type, type Static } from '@sinclair/typebox';
import { nullable } from './body-validation.js';

const Str = Type.String();
const Int = Type.Integer();
const Float = Type.Number();
const Bool = Type.Boolean();
const Dict = Type.Record(Type.String(), Type.Unknown());
const Unit = Type.Number({ minimum: 0, maximum: 1 });

/** The sandbox renders every pixel; keep sizes to what a test could want. */
export const MAX_SIDE_PX = 4096;
export const MAX_IMAGES_PER_REQUEST = 64;

/** `StableDiffusionProcessing.__init__` minus `API_NOT_ALLOWED`. */
const baseFields = {
  prompt: nullable(Str),
  negative_prompt: nullable(Str),
  styles: nullable(Type.Array(Str)),
  seed: nullable(Int),
  subseed: nullable(Int),
  subseed_strength: nullable(Float),
  seed_resize_from_h: nullable(Int),
  seed_resize_from_w: nullable(Int),
  sampler_name: nullable(Str),
  scheduler: nullable(Str),
  batch_size: nullable(Type.Integer({ minimum: 1, maximum: MAX_IMAGES_PER_REQUEST })),
  n_iter: nullable(Type.Integer({ minimum: 1, maximum: MAX_IMAGES_PER_REQUEST })),
  steps: nullable(Type.Integer({ minimum: 1, maximum: 1000 })),
  cfg_scale: nullable(Float),
  width: nullable(Type.Integer({ minimum: 8, maximum: MAX_SIDE_PX })),
  height: nullable(Type.Integer({ minimum: 8, maximum: MAX_SIDE_PX })),
  restore_faces: nullable(Bool),
  tiling: nullable(Bool),
  do_not_save_samples: nullable(Bool),
  do_not_save_grid: nullable(Bool),
  eta: nullable(Float),
  denoising_strength: nullable(Unit),
  s_min_uncond: nullable(Float),
  s_churn: nullable(Float),
  s_tmax: nullable(Float),
  s_tmin: nullable(Float),
  s_noise: nullable(Float),
  override_settings: nullable(Dict),
  override_settings_restore_afterwards: nullable(Bool),
  refiner_checkpoint: nullable(Str),
  refiner_switch_at: nullable(Float),
  disable_extra_networks: nullable(Bool),
  firstpass_image: nullable(Str),
  comments: nullable(Dict),
  force_task_id: nullable(Str),
  /** Forge's (forge-fields.ts refuses it from an A1111 flavour): Flux's distilled guidance. */
  distilled_cfg_scale: nullable(Float),
};

/** `additional_fields` of the API models. */
const apiFields = {
  sampler_index: nullable(Str),
  script_name: nullable(Str),
  script_args: nullable(Type.Array(Type.Unknown())),
  send_images: nullable(Bool),
  save_images: nullable(Bool),
  alwayson_scripts: nullable(Dict),
  infotext: nullable(Str),
};

const txt2imgFields = {
  enable_hr: nullable(Bool),
  firstphase_width: nullable(Int),
  firstphase_height: nullable(Int),
  hr_scale: nullable(Type.Number({ minimum: 1, maximum: 8 })),
  hr_upscaler: nullable(Str),
  hr_second_pass_steps: nullable(Type.Integer({ minimum: 0, maximum: 1000 })),
  hr_resize_x: nullable(Type.Integer({ minimum: 0, maximum: MAX_SIDE_PX })),
  hr_resize_y: nullable(Type.Integer({ minimum: 0, maximum: MAX_SIDE_PX })),
  hr_checkpoint_name: nullable(Str),
  hr_sampler_name: nullable(Str),
  hr_scheduler: nullable(Str),
  hr_prompt: nullable(Str),
  hr_negative_prompt: nullable(Str),
  /** Forge's (forge-fields.ts): the hires pass's CFG, distilled guidance and modules. */
  hr_cfg: nullable(Float),
  hr_distilled_cfg: nullable(Float),
  hr_additional_modules: nullable(Type.Array(Str)),
};

const img2imgFields = {
  init_images: nullable(Type.Array(Str)),
  resize_mode: nullable(Type.Integer({ minimum: 0, maximum: 3 })),
  image_cfg_scale: nullable(Float),
  mask: nullable(Str),
  mask_blur_x: nullable(Type.Integer({ minimum: 0, maximum: 64 })),
  mask_blur_y: nullable(Type.Integer({ minimum: 0, maximum: 64 })),
  mask_blur: nullable(Type.Integer({ minimum: 0, maximum: 64 })),
  mask_round: nullable(Bool),
  inpainting_fill: nullable(Type.Integer({ minimum: 0, maximum: 3 })),
  inpaint_full_res: nullable(Bool),
  inpaint_full_res_padding: nullable(Type.Integer({ minimum: 0 })),
  inpainting_mask_invert: nullable(Type.Integer({ minimum: 0, maximum: 1 })),
  initial_noise_multiplier: nullable(Float),
  latent_mask: nullable(Str),
  include_init_images: nullable(Bool),
};

export const Txt2ImgBody = Type.Object({ ...baseFields, ...apiFields, ...txt2imgFields }, { additionalProperties: false });
export type Txt2ImgBody = Static<typeof Txt2ImgBody>;

export const Img2ImgBody = Type.Object({ ...baseFields, ...apiFields, ...img2imgFields }, { additionalProperties: false });
export type Img2ImgBody = Static<typeof Img2ImgBody>;

/** What both kinds share; the img2img-only fields are read from `Img2ImgBody`. */
export type DiffusionBody = Txt2ImgBody | Img2ImgBody;

/** The defaults pydantic fills in, echoed back in the response's `parameters` (A.4). */
const baseDefaults: Readonly<Record<string, unknown>> = {
  prompt: '',
  negative_prompt: '',
  styles: null,
  seed: -1,
  subseed: -1,
  subseed_strength: 0,
  seed_resize_from_h: -1,
  seed_resize_from_w: -1,
  sampler_name: null,
  scheduler: null,
  batch_size: 1,
  n_iter: 1,
  steps: 50,
  cfg_scale: 7.0,
  width: 512,
  height: 512,
  restore_faces: null,
  tiling: null,
  do_not_save_samples: false,
  do_not_save_grid: false,
  eta: null,
  denoising_strength: null,
  override_settings: null,
  override_settings_restore_afterwards: true,
  refiner_checkpoint: null,
  refiner_switch_at: null,
  disable_extra_networks: false,
  firstpass_image: null,
  comments: null,
  sampler_index: 'Euler',
  script_name: null,
  script_args: [],
  send_images: true,
  save_images: false,
  alwayson_scripts: {},
  force_task_id: null,
  infotext: null,
};

export const txt2imgDefaults: Readonly<Record<string, unknown>> = {
  ...baseDefaults,
  enable_hr: false,
  hr_scale: 2.0,
  hr_upscaler: null,
  hr_second_pass_steps: 0,
  hr_resize_x: 0,
  hr_resize_y: 0,
  hr_checkpoint_name: null,
  hr_sampler_name: null,
  hr_scheduler: null,
  hr_prompt: '',
  hr_negative_prompt: '',
};

export const img2imgDefaults: Readonly<Record<string, unknown>> = {
  ...baseDefaults,
  init_images: null,
  resize_mode: 0,
  denoising_strength: 0.75,
  mask: null,
  mask_blur_x: 4,
  mask_blur_y: 4,
  mask_blur: null,
  mask_round: true,
  inpainting_fill: 0,
  inpaint_full_res: true,
  inpaint_full_res_padding: 0,
  inpainting_mask_invert: 0,
  include_init_images: false,
};
