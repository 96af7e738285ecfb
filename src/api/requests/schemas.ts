/**
 * @module api/requests/schemas
 *
 * JSON schemas of the request bodies, for the OpenAPI document. They are
 * documentation: parsing does not use them (the parsers give better messages
 * and apply rules a schema cannot state, such as `guidance_start ≤ guidance_end`
 * or resolving models). Ranges come from rules.ts and the default limits, so the
 * two cannot drift; a test checks that both take the same field names.
 */
import { type Static, type TObject, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import {
  catalogHiresUpscalers,
  catalogInterrogators,
  catalogSamplers,
  catalogSchedulers,
  catalogUpscalers,
} from '../../domain/catalog.js';
import type { CodeRule, RangeRule } from './field-readers.js';
import { defaultLimits } from '../../domain/request-context.js';
import * as rules from './rules.js';

type Documented = { description: string };

/** An optional field; null is taken as omitted. */
function optional<T extends TSchema>(schema: T) {
  return Type.Optional(Type.Union([schema, Type.Null()]));
}

function rangeOptions(rule: RangeRule & { default?: number }, description: string) {
  const low = rule.minExclusive === true ? { exclusiveMinimum: rule.min } : { minimum: rule.min };
  return { ...low, maximum: rule.max, ...(rule.default === undefined ? {} : { default: rule.default }), description };
}

const integer = (rule: RangeRule & { default?: number }, description: string) =>
  Type.Integer(rangeOptions(rule, description));
const number = (rule: RangeRule & { default?: number }, description: string) =>
  Type.Number(rangeOptions(rule, description));

function code<T>(rule: CodeRule<T>, description: string) {
  const meanings = rule.codes.map((c) => `${c.code} = ${c.label}`).join(', ');
  return Type.Union(
    rule.codes.map((c) => Type.Literal(c.code)),
    { default: rule.default, description: `${description} (${meanings})` },
  );
}

const image = ({ description }: Documented) =>
  Type.String({
    contentEncoding: 'base64',
    description: `${description}. Base64 of a PNG, JPEG or WebP, optionally as a data:image/…;base64, URL`,
  });

/**
 * A two-item array of `first` and `second`, in JSON Schema 2020-12's form (`prefixItems`, as OpenAPI 3.1
 * uses): TypeBox's Tuple writes draft 7's `items: [...]`, which 2020-12 validators refuse.
 */
function pair<A extends TSchema, B extends TSchema>(first: A, second: B) {
  return Type.Unsafe<[Static<A>, Static<B>]>({ type: 'array', prefixItems: [first, second], items: false, minItems: 2, maxItems: 2 });
}

function body<T extends TProperties>(properties: T): TObject<T> {
  return Type.Object(properties, { additionalProperties: false });
}

const side = (name: string) =>
  integer(rules.sideRule(defaultLimits), `${name} in pixels, rounded down to a multiple of ${rules.sideMultiple}; default the model family's native size (SDXL and Flux: 1024)`);

/** A string naming something from a list the network may extend, with the catalog's names as examples. */
function name(description: string, examples: readonly string[], defaultName?: string) {
  return Type.String({ description, examples: [...examples], ...(defaultName === undefined ? {} : { default: defaultName }) });
}

const text = (description: string) => Type.String({ maxLength: rules.promptRule.maxLength, default: '', description });

const diffusionProperties = {
  prompt: optional(text('What the image should show')),
  negative_prompt: optional(text('What it should not show; must be empty for Flux models')),
  loras: optional(
    Type.Array(pair(Type.String({ description: 'LoRA sha256 or name' }), number(rules.loraWeightRule, 'Weight')), {
      maxItems: defaultLimits.maxLoras,
      description: '[LoRA, weight] pairs; each LoRA at most once',
    }),
  ),
  seed: optional(integer(rules.seedRule, '-1 for a random seed')),
  sampler_name: optional(name('Sampler, compared case-insensitively; Flux, Qwen-Image and Z-Image-Turbo models default to Euler', catalogSamplers, rules.samplerDefault)),
  scheduler: optional(name('Schedule of the sampler (Karras, Simple, …); Automatic or omitted: the sampler\'s own', catalogSchedulers, rules.automaticScheduler)),
  steps: optional(integer(rules.stepsRule(defaultLimits), 'Sampling steps (default 20; Z-Image-Turbo 8)')),
  cfg_scale: optional(number(rules.cfgScaleRule, 'Classifier-free guidance scale (default 7; Qwen-Image 2.5); Flux and Z-Image-Turbo models take only 1')),
  guidance: optional(number(rules.guidanceRule, 'Flux models only: distilled guidance (what FluxGuidance sets)')),
  width: optional(side('Width')),
  height: optional(side('Height')),
  model: Type.String({ minLength: 1, maxLength: rules.nameRule.maxLength, description: 'Model sha256 or name' }),
};

function threshold(key: keyof typeof rules.thresholdDefaults, description: string) {
  const rule = { ...rules.thresholdRule, default: rules.thresholdDefaults[key] };
  return optional(number(rule, `${description}; ignored by preprocessors without thresholds`));
}

const guessMode = (description: string) => optional(Type.Boolean({ default: rules.guessModeDefault, description }));

const controlNetUnit = body({
  image: image({ description: 'Control image' }),
  preprocess: name('Preprocessor (`openopse` is taken as `openpose`)', ['canny', 'openpose']),
  model: name('ControlNet model', ['sd15_canny', 'sd15_openpose']),
  preprocess_param1: threshold('preprocess_param1', 'Canny low threshold'),
  preprocess_param2: threshold('preprocess_param2', 'Canny high threshold'),
  weight: optional(number(rules.controlWeightRule, 'ControlNet weight')),
  resize_mode: optional(code(rules.resizeModeRule, 'How the control image is fitted')),
  guidance_start: optional(number(rules.guidanceStartRule, 'Fraction of steps where the unit starts')),
  guidance_end: optional(number(rules.guidanceEndRule, 'Fraction of steps where the unit ends; ≥ guidance_start')),
  guessmode: guessMode('Guess mode (also spelled guess_mode)'),
  guess_mode: guessMode('Same as guessmode; if both are sent they must agree'),
});

const controlNet = optional(
  Type.Array(controlNetUnit, { maxItems: defaultLimits.maxControlNetUnits, description: 'ControlNet units, all applied' }),
);

const refiner = optional(
  body({
    model: Type.String({ minLength: 1, maxLength: rules.nameRule.maxLength, description: 'The refiner checkpoint: sha256 or name' }),
    switch_at: optional(number(rules.refinerSwitchRule, 'Fraction of the steps after which the refiner takes over')),
  }),
);

const hires = body({
  denoising_strength: optional(number(rules.hiresDenoisingRule, 'Denoising of the hires pass')),
  scale: number(rules.hiresScaleRule, 'Upscale factor of the hires pass'),
  upscaler: optional(name('Hires upscaler', catalogHiresUpscalers, rules.hiresUpscalerDefault)),
});

const inpaint = body({
  mask: image({ description: 'Mask; white pixels are "masked"' }),
  mask_blur: optional(integer(rules.maskBlurRule, 'Mask blur radius')),
  mask_mode: optional(code(rules.maskModeRule, 'Which pixels are regenerated')),
  inpaint_area: optional(code(rules.inpaintAreaRule, 'Area worked on')),
});

const maxPixels = `the result may have at most ${defaultLimits.maxUpscalePixels} pixels`;

export const requestSchemas = {
  txt2img: body({ ...diffusionProperties, control_net: controlNet, upscale: optional(hires), refiner }),
  img2img: body({
    init_image: image({ description: 'The image to start from' }),
    resize_mode: optional(code(rules.resizeModeRule, 'How the init image is fitted to width×height')),
    denoising_strength: optional(number(rules.img2imgDenoisingRule, 'How much the image may change')),
    ...diffusionProperties,
    control_net: controlNet,
    inpaint: optional(inpaint),
  }),
  interrogate: body({
    image: image({ description: 'The image to describe' }),
    model: optional(name('Interrogator', catalogInterrogators, rules.interrogatorDefault)),
  }),
  upscale: body({
    image: image({ description: 'The image to upscale' }),
    upscalingRate: number(rules.upscalingRateRule, `Upscale factor; ${maxPixels}`),
    upscaler: name('Upscaler', catalogUpscalers),
    upscaler2: optional(name('Second upscaler blended in; "None" or omitted for none', [rules.noUpscalerName, ...catalogUpscalers])),
    upscaler2_factor: optional(number(rules.upscaler2FactorRule, 'Visibility of the second upscaler; ignored without one')),
  }),
  taskId: body({
    taskId: Type.String({
      minLength: 1,
      maxLength: rules.taskIdRule.maxLength,
      pattern: rules.taskIdRule.pattern.source,
      description: 'Id returned by an async endpoint',
    }),
  }),
} satisfies Record<'txt2img' | 'img2img' | 'interrogate' | 'upscale' | 'taskId', TSchema>;
