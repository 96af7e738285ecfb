/**
 * @module api/requests/name-fields
 *
 * Fields naming something from a list: a sampler, an upscaler, a ControlNet
 * model, an interrogator, a model or LoRA. The lists come from the request
 * context (the catalog plus what connected nodes offer right now), and the
 * error message lists what may be sent instead.
 */
import { toNameKey } from '../../domain/catalog.js';
import type { ResourceRef } from '../../domain/spec.js';
import { type DanError, invalidField } from '../../errors/dan-error.js';
import { formatChoices, quote } from './field-messages.js';
import { type Defaulted, parseString, resolveValue } from './field-readers.js';
import { type FieldGroup, pathOf } from './known-fields.js';
import { nameRule } from './rules.js';

/** How a sent name meets a list entry. */
export const NameMatches = {
  /** Case-insensitive (samplers: `euler a` is `Euler a`). */
  caseInsensitive: (name: string) => name.toLowerCase(),
  /** `toNameKey`: case, spaces, `_` and `-` ignored (upscalers: `ESRGAN 4x` is `ESRGAN_4x`). */
  nameKey: toNameKey,
} as const;

export interface NameRule extends Defaulted<string> {
  /** What the list holds, for messages: `sampler`, `upscaler`. */
  readonly noun: string;
  readonly choices: readonly string[];
  readonly match: (name: string) => string;
}

export interface NameChoice {
  /** The name as the client sent it. */
  given: string;
  /** The list's spelling of it. */
  listed: string;
}

export function readName(group: FieldGroup, key: string, rule: NameRule): NameChoice {
  const path = pathOf(group, key);
  const given = parseString(resolveValue(group, key, rule), path, nameRule);
  const listed = findName(given, rule.choices, rule.match);
  if (listed === undefined) throw notInList(path, given, rule.noun, rule.choices);
  return { given, listed };
}

export function findName(
  given: string,
  choices: readonly string[],
  match: (name: string) => string,
): string | undefined {
  const key = match(given);
  return choices.find((choice) => match(choice) === key);
}

export function notInList(path: string, given: string, noun: string, choices: readonly string[]): DanError {
  return invalidField(path, `${quote(given)} is not a supported ${noun}; allowed: ${formatChoices(choices)}`);
}

export interface ResourceRule {
  readonly noun: string;
  readonly resolve: (value: string) => ResourceRef | null;
  /** The values a client may send, for the message. */
  readonly names: readonly string[];
}

/** A model or LoRA value (sha256 or name) resolved to its identity. */
export function parseResource(value: unknown, path: string, rule: ResourceRule): ResourceRef {
  const given = parseString(value, path, nameRule);
  const ref = given === '' ? null : rule.resolve(given);
  if (ref === null) throw notInList(path, given, rule.noun, rule.names);
  return ref;
}
