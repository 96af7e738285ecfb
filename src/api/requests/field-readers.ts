/**
 * @module api/requests/field-readers
 *
 * Reusable readers for the scalar fields of a request. Each checks the JSON
 * type strictly (no `"512"` → 512, no `0`/`1` for booleans), the range, and
 * applies the default when the field is omitted or null; a rule without a
 * default makes the field required. Messages name the field by its dotted path,
 * say what was received and what is allowed:
 * `width: must be an integer from 64 to 2048, got 5000`.
 */
import { invalidField } from '../../errors/dan-error.js';
import { describeRange, describeValue } from './field-messages.js';
import { type FieldGroup, pathOf, valueOf } from './known-fields.js';

export interface RangeRule {
  readonly min: number;
  readonly max: number;
  /** The range is (min, max] instead of [min, max]. */
  readonly minExclusive?: boolean;
}

export interface Defaulted<T> {
  /** The value used when the field is omitted or null; absent means the field is required. */
  readonly default?: T;
}

export interface TextRule {
  readonly maxLength: number;
}

/** A field's value, or its default; throws when it is required and missing. */
export function resolveValue<T>(group: FieldGroup, key: string, rule: Defaulted<T>): unknown {
  const value = valueOf(group, key);
  if (value !== undefined) return value;
  if (rule.default !== undefined) return rule.default;
  throw invalidField(pathOf(group, key), 'is required');
}

export function parseInteger(value: unknown, path: string, rule: RangeRule): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || !inRange(value, rule)) {
    throw invalidField(path, `must be an integer ${describeRange(rule)}, got ${describeValue(value)}`);
  }
  return value;
}

export function parseNumber(value: unknown, path: string, rule: RangeRule): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !inRange(value, rule)) {
    throw invalidField(path, `must be a number ${describeRange(rule)}, got ${describeValue(value)}`);
  }
  return value;
}

export function parseString(value: unknown, path: string, rule: TextRule): string {
  if (typeof value !== 'string') throw invalidField(path, `must be a string, got ${describeValue(value)}`);
  if (value.length > rule.maxLength) {
    throw invalidField(path, `must be at most ${rule.maxLength} characters, got ${value.length}`);
  }
  return value;
}

export function parseBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw invalidField(path, `must be true or false, got ${describeValue(value)}`);
  return value;
}

export function readInteger(group: FieldGroup, key: string, rule: RangeRule & Defaulted<number>): number {
  return parseInteger(resolveValue(group, key, rule), pathOf(group, key), rule);
}

export function readNumber(group: FieldGroup, key: string, rule: RangeRule & Defaulted<number>): number {
  return parseNumber(resolveValue(group, key, rule), pathOf(group, key), rule);
}

export function readString(group: FieldGroup, key: string, rule: TextRule & Defaulted<string>): string {
  return parseString(resolveValue(group, key, rule), pathOf(group, key), rule);
}

export interface CodeRule<T> extends Defaulted<number> {
  /** Each accepted code, the value it stands for, and words for messages and docs. */
  readonly codes: readonly { readonly code: number; readonly value: T; readonly label: string }[];
}

/**
 * A field that takes one of a few integer codes (`resize_mode: 0|1|2`) and the
 * value it stands for. Other integers are errors, not "the default".
 */
export function readCode<T>(group: FieldGroup, key: string, rule: CodeRule<T>): T {
  const value = resolveValue(group, key, rule);
  const found = rule.codes.find(({ code }) => code === value);
  if (found !== undefined) return found.value;
  const options = rule.codes.map(({ code, label }) => `${code} (${label})`);
  const last = options.pop();
  const allowed = options.length === 0 ? last : `${options.join(', ')} or ${last}`;
  throw invalidField(pathOf(group, key), `must be ${allowed}, got ${describeValue(value)}`);
}

function inRange(value: number, rule: RangeRule): boolean {
  const aboveMin = rule.minExclusive === true ? value > rule.min : value >= rule.min;
  return aboveMin && value <= rule.max;
}
