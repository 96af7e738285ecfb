/**
 * @module api/requests/diffusion-fields
 *
 * The fields txt2img and img2img share, read in the order of the API reference.
 * Width and height are rounded down to a multiple of 8 after the range check,
 * as the WebUI itself does (and the original deployment did with `&= ~7`):
 * 600×800 stays 600×800, 1023 becomes 1016.
 */
import type { ResourceRef, Txt2ImgSpec } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import { formatChoices } from './field-messages.js';
import { readInteger, readString } from './field-readers.js';
import { type FieldGroup, pathOf, valueOf } from './known-fields.js';
import { readLoras } from './lora-field.js';
import { assertNoNetworkTags, joinLoras, takePromptLoras } from './prompt-loras.js';
import { NameMatches, type NameRule, parseResource, readName } from './name-fields.js';
import type { RequestContext } from '../../domain/request-context.js';
import { automaticScheduler, promptRule, samplerDefault, seedRule, sideMultiple, sideRule } from './rules.js';
import { checkLoraFamilies, checkNegativePrompt, modelChoice, type ModelChoice, readCfgScale, readGuidance, readSteps } from './family-rules.js';

/** Common txt2img/img2img fields; ControlNet comes separately because its images decode later. */
export type DiffusionFields = Omit<Txt2ImgSpec, 'kind' | 'hires' | 'controlNet'>;

export const diffusionFieldNames = [
  'prompt',
  'negative_prompt',
  'loras',
  'seed',
  'sampler_name',
  'scheduler',
  'steps',
  'cfg_scale',
  'guidance',
  'width',
  'height',
  'model',
  'control_net',
] as const;

export function readDiffusionFields(group: FieldGroup, ctx: RequestContext): DiffusionFields {
  const { limits } = ctx;
  // The model first: its family sets defaults and decides which fields make sense (family-rules.ts).
  const choice = modelChoice(readModel(group, ctx), ctx);
  // LoRA tags typed in the prompt are checked as the `loras` field is, and joined to it (prompt-loras.ts).
  const promptPath = pathOf(group, 'prompt');
  const tagged = takePromptLoras(readString(group, 'prompt', promptRule), promptPath, ctx);
  const negativePrompt = readString(group, 'negative_prompt', promptRule);
  assertNoNetworkTags(negativePrompt, pathOf(group, 'negative_prompt'));
  checkNegativePrompt(group, negativePrompt, choice);
  const side = { ...sideRule(limits), ...(choice.traits ? { default: choice.traits.nativeSide } : {}) };
  const listed = readLoras(group, ctx);
  const loras = joinLoras(listed, tagged.loras, promptPath, ctx);
  checkLoraFamilies(group, loras, listed.length, choice, ctx);
  const guidance = readGuidance(group, choice);
  return {
    prompt: tagged.prompt,
    negativePrompt,
    seed: readInteger(group, 'seed', seedRule),
    sampler: readSampler(group, ctx, choice),
    steps: readSteps(group, choice, limits),
    cfgScale: readCfgScale(group, choice),
    ...(guidance === undefined ? {} : { guidance }),
    width: roundSide(readInteger(group, 'width', side), choice.traits?.sideMultiple),
    height: roundSide(readInteger(group, 'height', side), choice.traits?.sideMultiple),
    model: choice.model,
    loras,
  };
}

/**
 * The sampler, and the schedule when `scheduler` names one, as DAN's one sampler name
 * ("DPM++ 2M" + "Karras" → "DPM++ 2M Karras", the legacy combined form nodes resolve).
 * The client's spelling is kept: nodes match it case-insensitively (domain/samplers.ts).
 */
function readSampler(group: FieldGroup, ctx: RequestContext, choice: ModelChoice): string {
  const rule = samplerRule(ctx);
  const sampler = readName(group, 'sampler_name', { ...rule, default: choice.traits?.defaultSampler ?? rule.default }).given;
  if (valueOf(group, 'scheduler') === undefined) return sampler;
  const scheduler = readName(group, 'scheduler', { noun: 'scheduler', choices: ctx.schedulers, match: NameMatches.caseInsensitive }).listed;
  if (scheduler === automaticScheduler) return sampler;
  // A combined name already names its schedule ("DPM++ 2M Karras"): the same one again is that name; another is
  // a contradiction, refused rather than one of them silently dropped.
  const named = ctx.schedulers.find((s) => s !== automaticScheduler && sampler.toLowerCase().endsWith(` ${s.toLowerCase()}`));
  if (named === undefined) return `${sampler} ${scheduler}`;
  if (named.toLowerCase() === scheduler.toLowerCase()) return sampler;
  throw invalidField(pathOf(group, 'scheduler'), `is "${scheduler}", but sampler_name "${sampler}" names its schedule (${named}) already; send the sampler alone ("${sampler.slice(0, -named.length - 1)}") with the scheduler, or the combined name alone`);
}

function samplerRule(ctx: RequestContext): NameRule {
  return { noun: 'sampler', choices: ctx.samplers, match: NameMatches.caseInsensitive, default: samplerDefault };
}

function readModel(group: FieldGroup, ctx: RequestContext): ResourceRef {
  const path = pathOf(group, 'model');
  const value = valueOf(group, 'model');
  if (value === undefined) throw invalidField(path, `is required; allowed: ${formatChoices(ctx.modelNames)}`);
  return parseResource(value, path, { noun: 'model', resolve: (v) => ctx.resolveModel(v), names: ctx.modelNames });
}

/** Rounded down to a multiple of 8 (or the family's: Flux.2's 16); the minimum side (64) is one, so the range still holds. */
export function roundSide(side: number, multiple = sideMultiple): number {
  return side - (side % multiple);
}
