/**
 * @module api/requests/family-rules
 *
 * What a request may ask of each model family (domain/families.ts). A family
 * gives the defaults a request leaves out (SDXL and Flux make 1024² images;
 * Flux samples with Euler; Qwen-Image's cfg_scale is 2.5, Z-Image-Turbo's
 * steps 8) and refuses, with a message, the fields it does not use rather
 * than ignore them: Flux and Z-Image-Turbo take no negative prompt and run at
 * cfg_scale 1, Flux's strength being `guidance`; `guidance` means nothing to
 * the others; a LoRA or ControlNet model made for another family does not fit
 * the model. A model whose family no one knows gets no family rules.
 */
import { familyTraits, type FamilyTraits, type ModelFamily, UNGUIDED_CFG_SCALE } from '../../domain/families.js';
import { controlNetFamilyOf } from '../../domain/catalog.js';
import type { RequestContext, RequestLimits } from '../../domain/request-context.js';
import type { LoraUse, RefinerSpec, ResourceRef } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import { describeValue, formatChoices } from './field-messages.js';
import { readInteger, readNumber } from './field-readers.js';
import { type FieldGroup, parseGroup, pathOf, valueOf } from './known-fields.js';
import { parseResource } from './name-fields.js';
import { cfgScaleRule, guidanceRule, refinerSwitchRule, stepsRule } from './rules.js';

export interface ModelChoice {
  model: ResourceRef;
  family: ModelFamily | null;
  traits: FamilyTraits | null;
}

export function modelChoice(model: ResourceRef, ctx: RequestContext): ModelChoice {
  const told = ctx.familyOf('model', model);
  // One this gateway does not know (a newer gateway sharing its database published it) is no family here.
  const traits = told ? (familyTraits[told] ?? null) : null;
  return { model, family: traits ? told : null, traits };
}

function labelOf(choice: ModelChoice): string {
  return choice.traits ? `${choice.model.name} is ${choice.traits.article} ${choice.traits.label} model` : `the family of ${choice.model.name} is not known`;
}

/** `guidance`: a distilled family's, defaulted; refused for other families. Absent from the spec for them. */
export function readGuidance(group: FieldGroup, choice: ModelChoice): number | undefined {
  const traits = choice.traits;
  if (traits?.guidance === 'distilled') return readNumber(group, 'guidance', { ...guidanceRule, default: traits.defaultGuidance ?? guidanceRule.default });
  if (valueOf(group, 'guidance') !== undefined) {
    const uses = traits ? `${labelOf(choice)}, which ${traits.guidance === 'cfg' ? 'uses cfg_scale' : 'takes no guidance'}` : `only Flux.1 and Flux.2 models use it, and ${labelOf(choice)}`;
    throw invalidField(pathOf(group, 'guidance'), `is Flux's distilled guidance; ${uses}`);
  }
  return undefined;
}

/**
 * `cfg_scale`: the family's default when left out; for a family without classifier-free guidance 1, and
 * refused when set to anything else.
 */
export function readCfgScale(group: FieldGroup, choice: ModelChoice): number {
  const traits = choice.traits;
  if (traits === null || traits.guidance === 'cfg') return readNumber(group, 'cfg_scale', { ...cfgScaleRule, default: traits?.defaultCfgScale ?? cfgScaleRule.default });
  const value = valueOf(group, 'cfg_scale');
  if (value !== undefined && value !== UNGUIDED_CFG_SCALE) {
    const strength = traits.guidance === 'distilled' ? `; set its strength with guidance (default ${traits.defaultGuidance ?? guidanceRule.default})` : '';
    throw invalidField(pathOf(group, 'cfg_scale'), `must be ${UNGUIDED_CFG_SCALE} or left out: ${labelOf(choice)}, which runs at cfg_scale ${UNGUIDED_CFG_SCALE}${strength}, got ${describeValue(value)}`);
  }
  return UNGUIDED_CFG_SCALE;
}

/** `steps`: the family's default when it has one (a turbo model's few), else the API's. */
export function readSteps(group: FieldGroup, choice: ModelChoice, limits: RequestLimits): number {
  const rule = stepsRule(limits);
  return readInteger(group, 'steps', { ...rule, default: Math.min(choice.traits?.defaultSteps ?? rule.default, rule.max) });
}

/** An edit model redraws an image it is given: txt2img, which gives none, is refused for it. */
export function checkNotEditModel(group: FieldGroup, choice: ModelChoice): void {
  if (choice.traits?.edits) {
    throw invalidField(pathOf(group, 'model'), `${labelOf(choice)}, which edits an image it is given: send it to img2img, the image as init_image and the edit as prompt`);
  }
}

/**
 * What an edit model's img2img keeps of its usual fields: the whole image is redrawn from the one given, so
 * `denoising_strength` is 1 (another value is refused) and no mask is taken.
 */
export function checkEditFields(group: FieldGroup, choice: ModelChoice): void {
  if (!choice.traits?.edits) return;
  const strength = valueOf(group, 'denoising_strength');
  if (strength !== undefined && strength !== 1) {
    throw invalidField(pathOf(group, 'denoising_strength'), `must be 1 or left out: ${labelOf(choice)}, which redraws the whole image from the one given, as the prompt asks, got ${describeValue(strength)}`);
  }
  if (valueOf(group, 'inpaint') !== undefined) {
    throw invalidField(pathOf(group, 'inpaint'), `is not taken by ${choice.model.name}: ${labelOf(choice).replace(`${choice.model.name} is`, 'it is')}, which edits the whole image as the prompt says (no mask)`);
  }
}

export function checkNegativePrompt(group: FieldGroup, negativePrompt: string, choice: ModelChoice): void {
  if (choice.traits && choice.traits.guidance !== 'cfg' && negativePrompt.trim() !== '') {
    throw invalidField(pathOf(group, 'negative_prompt'), `must be empty: ${labelOf(choice)}, which takes no negative prompt`);
  }
}

export const refinerFields = ['model', 'switch_at'] as const;

/**
 * `refiner: {model, switch_at}`: SDXL's refiner checkpoint, taking over after `switch_at` of the steps. For SDXL
 * models (and models of unknown family, which may be SDXL); refused for the others, which have none.
 */
export function readRefiner(group: FieldGroup, choice: ModelChoice, ctx: RequestContext): RefinerSpec | undefined {
  const value = valueOf(group, 'refiner');
  if (value === undefined) return undefined;
  const path = pathOf(group, 'refiner');
  if (choice.family !== null && choice.family !== 'sdxl') throw invalidField(path, `is for SDXL models; ${labelOf(choice)}`);
  const refiner = parseGroup(value, path, { accepted: refinerFields });
  const modelValue = valueOf(refiner, 'model');
  if (modelValue === undefined) throw invalidField(pathOf(refiner, 'model'), `is required; allowed: ${formatChoices(ctx.modelNames)}`);
  const model = parseResource(modelValue, pathOf(refiner, 'model'), { noun: 'model', resolve: (v) => ctx.resolveModel(v), names: ctx.modelNames });
  const family = ctx.familyOf('model', model);
  if (family !== null && family !== 'sdxl') {
    throw invalidField(pathOf(refiner, 'model'), `must be an SDXL refiner; ${model.name} is ${familyTraits[family].article} ${familyTraits[family].label} model`);
  }
  // A1111 runs its refiner in the hires pass, ComfyUI's graph in the first: the two would differ.
  if (valueOf(group, 'upscale') !== undefined) throw invalidField(path, 'cannot be combined with upscale (hires fix) yet; send one or the other');
  return { model, switchAt: readNumber(refiner, 'switch_at', refinerSwitchRule) };
}

/**
 * Each LoRA of a known family must be of the model's. `fromField`: how many of `loras` the `loras` field
 * listed; the rest were typed in the prompt, and a refusal of one of those names the prompt.
 */
export function checkLoraFamilies(group: FieldGroup, loras: readonly LoraUse[], fromField: number, choice: ModelChoice, ctx: RequestContext): void {
  if (choice.family === null) return;
  loras.forEach(({ lora }, index) => {
    const family = ctx.familyOf('lora', lora);
    if (family === null || family === choice.family || choice.traits?.loraFamilies.includes(family)) return;
    const why = `${lora.name} is a LoRA for ${familyTraits[family].label} models; ${labelOf(choice)}`;
    if (index < fromField) throw invalidField(`${pathOf(group, 'loras')}[${index}]`, why);
    throw invalidField(pathOf(group, 'prompt'), `<lora:${lora.name}…> in the prompt: ${why}`);
  });
}

/** ControlNet units only for a family DAN runs them with (checked before the units are read: none would fit). */
export function checkFamilyTakesControlNet(group: FieldGroup, choice: ModelChoice): void {
  if (choice.traits && !choice.traits.controlNet) {
    throw invalidField(pathOf(group, 'control_net'), `cannot be used: ${labelOf(choice)}, for which the network runs no ControlNet yet; send the request without control_net`);
  }
}

/** Each ControlNet model whose family is known (the catalog's, or its name's) must fit the model. */
export function checkControlNetFamily(group: FieldGroup, units: readonly { model: string }[], choice: ModelChoice): void {
  if (choice.family === null) return;
  units.forEach(({ model }, index) => {
    const family = controlNetFamilyOf(model);
    if (family !== null && family !== choice.family) {
      throw invalidField(`${pathOf(group, 'control_net')}[${index}].model`, `${model} is a ControlNet model for ${familyTraits[family].label} models; ${labelOf(choice)}`);
    }
  });
}
