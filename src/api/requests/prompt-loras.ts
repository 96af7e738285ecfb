/**
 * @module api/requests/prompt-loras
 *
 * LoRA tags typed into a prompt, the WebUI's `<lora:NAME>` or `<lora:NAME:WEIGHT>`. A WebUI runs what
 * the prompt names, so a tag that went through as text would skip every check of the `loras` field (a
 * probe ran 100 tags of weight 100). Tags are read into `loras` under the same checks: a LoRA the
 * network has, a weight within the range, each LoRA once, at most `maxLoras` in all, and taken out of
 * the text; nodes write them back for their backend, as they do for the field. Other extra-network
 * tags (`<hypernet:…>`, `<lyco:…>`) and any tag in the negative prompt are refused: they would run
 * unchecked.
 */
import type { LoraUse } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import type { RequestContext } from '../../domain/request-context.js';
import { describeRange, formatChoices, quote } from './field-messages.js';
import { loraWeightRule } from './rules.js';

/**
 * A1111's extra-network syntax, read with the WebUI's own pattern (`re_extra_net`): `<kind:args>`, the args
 * anything up to the next `>`, a `<` included. Read any other way, the WebUI would find tags the gateway did not.
 */
const EXTRA_NETWORK_TAG = /<(\w+):([^>]+)>/g;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The prompt without its LoRA tags, and the LoRAs they name, in order. */
export function takePromptLoras(prompt: string, path: string, ctx: RequestContext): { prompt: string; loras: LoraUse[] } {
  const loras: LoraUse[] = [];
  for (const match of prompt.matchAll(EXTRA_NETWORK_TAG)) {
    const tag = match[0];
    assertNotNested(tag, match[2] ?? '', path);
    if (match[1] !== 'lora') throw invalidField(path, `${tag}: only LoRA tags are taken in a prompt (<lora:NAME:WEIGHT>), or LoRAs in the \`loras\` field`);
    loras.push(loraOfTag(tag, match[2] ?? '', path, ctx));
  }
  if (loras.length === 0) return { prompt, loras };
  // Each tag leaves a space, never nothing: the text on its two sides must not join into a tag of its own.
  const text = prompt.replace(EXTRA_NETWORK_TAG, ' ').replace(/ {2,}/g, ' ').trim();
  assertNoNetworkTags(text, path);
  return { prompt: text, loras };
}

/** A tag with a `<` inside is a tag hidden in a tag: the WebUI and the gateway would not agree on what it names. */
function assertNotNested(tag: string, args: string, path: string): void {
  if (args.includes('<')) throw invalidField(path, `${tag}: a tag may not hold a "<" (one tag inside another); write each <lora:NAME:WEIGHT> on its own`);
}

/** The `loras` field's LoRAs, then the prompt's: each LoRA once, at most `maxLoras` in all. */
export function joinLoras(fromField: readonly LoraUse[], fromPrompt: readonly LoraUse[], path: string, ctx: RequestContext): LoraUse[] {
  const all = [...fromField];
  for (const use of fromPrompt) {
    if (all.some((earlier) => earlier.lora.id === use.lora.id)) throw invalidField(path, `LoRA "${use.lora.name}" is named twice (in the prompt, or in the prompt and the \`loras\` field); name each LoRA once`);
    all.push(use);
  }
  const max = ctx.limits.maxLoras;
  if (all.length > max) throw invalidField(path, `may use at most ${max} LoRAs, with the \`loras\` field; got ${all.length}`);
  return all;
}

/** Refuses extra-network tags where no backend would check them (the negative prompt). */
export function assertNoNetworkTags(text: string, path: string): void {
  const [match] = text.matchAll(EXTRA_NETWORK_TAG);
  if (match) throw invalidField(path, `${match[0]}: extra-network tags are not taken here; list LoRAs in the \`loras\` field`);
}

function loraOfTag(tag: string, args: string, path: string, ctx: RequestContext): LoraUse {
  const [name = '', weightText, ...rest] = args.split(':');
  if (rest.length > 0) throw invalidField(path, `${tag}: the form is <lora:NAME> or <lora:NAME:WEIGHT>`);
  const lora = name === '' ? null : ctx.resolveLora(name);
  if (lora === null) throw invalidField(path, `${tag}: ${quote(name)} is not a supported LoRA; allowed: ${formatChoices(ctx.loraNames)}`);
  const weight = weightText === undefined ? 1 : Number(weightText);
  if ((weightText !== undefined && !NUMBER.test(weightText)) || weight < loraWeightRule.min || weight > loraWeightRule.max) {
    throw invalidField(path, `${tag}: the weight must be a number ${describeRange(loraWeightRule)}, got "${weightText}"`);
  }
  return { lora, weight };
}
