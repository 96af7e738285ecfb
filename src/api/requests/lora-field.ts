/**
 * @module api/requests/lora-field
 *
 * `loras`: `[[value, weight], …]`, the value a LoRA's sha256 or name. Only the
 * pair form of the DAN API reference is taken; each LoRA may appear once,
 * compared by identity, so a sha256 and a name of the same file count as one.
 */
import type { LoraUse } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import { describeValue } from './field-messages.js';
import { parseNumber } from './field-readers.js';
import { type FieldGroup, pathOf, valueOf } from './known-fields.js';
import { parseResource } from './name-fields.js';
import type { RequestContext } from '../../domain/request-context.js';
import { loraWeightRule } from './rules.js';

export function readLoras(group: FieldGroup, ctx: RequestContext): LoraUse[] {
  const path = pathOf(group, 'loras');
  const value = valueOf(group, 'loras');
  if (value === undefined) return [];
  const max = ctx.limits.maxLoras;
  if (!Array.isArray(value)) {
    throw invalidField(path, `must be an array of [LoRA, weight] pairs, got ${describeValue(value)}`);
  }
  if (value.length > max) throw invalidField(path, `may list at most ${max} LoRAs, got ${value.length}`);
  const uses: LoraUse[] = [];
  value.forEach((item: unknown, index) => {
    const use = parseLoraPair(item, `${path}[${index}]`, ctx);
    assertFirstUse(use, uses, `${path}[${index}][0]`, path);
    uses.push(use);
  });
  return uses;
}

function parseLoraPair(item: unknown, path: string, ctx: RequestContext): LoraUse {
  if (!Array.isArray(item) || item.length !== 2) {
    throw invalidField(path, `must be a [LoRA, weight] pair such as ["<sha256 or name>", 0.7], got ${describeValue(item)}`);
  }
  const lora = parseResource(item[0], `${path}[0]`, {
    noun: 'LoRA',
    resolve: (value) => ctx.resolveLora(value),
    names: ctx.loraNames,
  });
  const weight = parseNumber(item[1], `${path}[1]`, loraWeightRule);
  return { lora, weight };
}

function assertFirstUse(use: LoraUse, earlier: readonly LoraUse[], path: string, listPath: string): void {
  const index = earlier.findIndex((e) => e.lora.id === use.lora.id);
  if (index < 0) return;
  throw invalidField(path, `LoRA "${use.lora.name}" is already used by ${listPath}[${index}]; list each LoRA once`);
}
