/**
 * @module api/requests/known-fields
 *
 * Request objects and their field names. Every object of a request (the body,
 * `upscale`, `inpaint`, each ControlNet unit) is checked against the fields its
 * endpoint takes, so a typo such as `sampler` for `sampler_name` is an error
 * instead of a silently applied default.
 */
import { DanError, invalidField } from '../../errors/dan-error.js';
import { describeValue, quote } from './field-messages.js';

export type JsonRecord = Readonly<Record<string, unknown>>;

/** One object of the request and the dotted path its fields are named under ('' for the body). */
export interface FieldGroup {
  readonly values: JsonRecord;
  readonly path: string;
}

export interface GroupRule {
  /** Field names the object takes, in the order the docs list them. */
  readonly accepted: readonly string[];
  /** Extra explanation for fields that belong elsewhere (`upscale` sent to img2img). */
  readonly misplaced?: Readonly<Record<string, string>>;
}

/** `control_net[0].weight` from `control_net[0]` and `weight`. */
export function pathOf(group: FieldGroup, key: string): string {
  return group.path === '' ? key : `${group.path}.${key}`;
}

/** A field's value; null counts as omitted. Own properties only, so `constructor` is never inherited. */
export function valueOf(group: FieldGroup, key: string): unknown {
  if (!Object.hasOwn(group.values, key)) return undefined;
  const value = group.values[key];
  return value === null ? undefined : value;
}

export function isJsonRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON object with no fields but the accepted ones. */
export function parseGroup(value: unknown, path: string, rule: GroupRule): FieldGroup {
  if (!isJsonRecord(value)) {
    const name = path === '' ? 'body' : path;
    throw invalidField(name, `must be a JSON object, got ${describeValue(value)}`);
  }
  const group = { values: value, path };
  assertKnownFields(group, rule);
  return group;
}

/** Unknown names listed in one message; the rest are counted. */
const maxListedUnknown = 8;

function assertKnownFields(group: FieldGroup, rule: GroupRule): void {
  const unknown = Object.keys(group.values).filter((key) => !rule.accepted.includes(key));
  const [first, ...others] = unknown;
  if (first === undefined) return;
  const field = pathOf(group, shorten(first));
  const listed = others.slice(0, maxListedUnknown).map((key) => `${quote(pathOf(group, key))}${hintFor(key, rule)}`);
  if (others.length > maxListedUnknown) listed.push(`… (${others.length - maxListedUnknown} more)`);
  const also = listed.length === 0 ? '' : `; also unknown: ${listed.join(', ')}`;
  const message = `${field}: unknown field${hintFor(first, rule)}${also}; accepted fields: ${rule.accepted.join(', ')}`;
  throw new DanError('DAN_ERR_REQUEST_UNKNOWN_FIELD', message, { field });
}

/** ` (did you mean "sampler_name"?)`, the misplaced-field note, or nothing. */
function hintFor(key: string, rule: GroupRule): string {
  const misplaced = rule.misplaced !== undefined && Object.hasOwn(rule.misplaced, key) ? rule.misplaced[key] : undefined;
  if (misplaced !== undefined) return ` (${misplaced})`;
  const guess = key.length > 64 ? null : suggestField(key, rule.accepted);
  return guess === null ? '' : ` (did you mean "${guess}"?)`;
}

function shorten(key: string): string {
  return key.length > 64 ? `${key.slice(0, 64)}…` : key;
}

/**
 * The accepted field a typo most likely meant: one within two edits
 * (`negativ_prompt`), else the closest one that contains it or is contained
 * in it (`sampler` → `sampler_name`).
 */
export function suggestField(key: string, accepted: readonly string[]): string | null {
  const lower = key.toLowerCase();
  const byDistance = closest(accepted, (name) => editDistance(lower, name), 2);
  if (byDistance !== null || lower.length < 3) return byDistance;
  const containing = accepted.filter((name) => name.includes(lower) || lower.includes(name));
  return closest(containing, (name) => Math.abs(name.length - lower.length), Infinity);
}

function closest(names: readonly string[], distanceOf: (name: string) => number, limit: number): string | null {
  let best: string | null = null;
  let bestDistance = limit;
  for (const name of names) {
    const distance = distanceOf(name);
    if (distance < bestDistance || (best === null && distance <= limit)) [best, bestDistance] = [name, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
