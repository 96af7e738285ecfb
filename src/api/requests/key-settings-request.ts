/**
 * @module api/requests/key-settings-request
 *
 * The settings of an API key as the admin API and `dan keys create|set` take
 * them: a name and the limits of auth/api-key.ts. One parser for both, so the
 * CLI and the HTTP API accept the same values with the same messages.
 */
import { type KeySettings, WEIGHT_RANGE } from '../../auth/api-key.js';
import { invalidField } from '../../errors/dan-error.js';
import { describeValue } from './field-messages.js';
import { readInteger, readNumber, readString } from './field-readers.js';
import { type FieldGroup, parseGroup, valueOf } from './known-fields.js';
import { nameRule } from './rules.js';

export const keySettingsFields = ['name', 'maxTasks', 'requestsPerMinute', 'maxPixels', 'maxSteps', 'weight', 'models'] as const;

/** Ranges of the key settings; 0 means "no limit of the key's own" for the counts. */
export const keySettingRules = {
  name: { maxLength: 200 },
  maxTasks: { min: 0, max: 1_000_000 },
  requestsPerMinute: { min: 0, max: 1_000_000 },
  maxPixels: { min: 0, max: 64 * 1024 * 1024 },
  maxSteps: { min: 0, max: 10_000 },
  weight: WEIGHT_RANGE,
  models: { maxItems: 256 },
} as const;

/**
 * Reads key settings from a JSON object. `models: null` (or omitted at creation) lets the key use
 * any checkpoint; a list restricts it to those.
 * @example
 * parseKeySettings({ name: 'alice', requestsPerMinute: 120, models: ['sd_xl_base_1.0'] });
 */
export function parseKeySettings(body: unknown): KeySettings {
  const group = parseGroup(body, '', { accepted: keySettingsFields });
  const settings: KeySettings = {};
  if (valueOf(group, 'name') !== undefined) settings.name = readName(group);
  for (const key of ['maxTasks', 'requestsPerMinute', 'maxPixels', 'maxSteps'] as const) {
    if (valueOf(group, key) !== undefined) settings[key] = readInteger(group, key, keySettingRules[key]);
  }
  if (valueOf(group, 'weight') !== undefined) settings.weight = readNumber(group, 'weight', keySettingRules.weight);
  if (Object.hasOwn(group.values, 'models')) settings.models = parseModels(group.values['models']);
  return settings;
}

function parseModels(value: unknown): string[] | null {
  if (value === null) return null;
  if (!Array.isArray(value)) throw invalidField('models', `must be a list of checkpoint names or null (any), got ${describeValue(value)}`);
  if (value.length === 0) throw invalidField('models', 'must name at least one checkpoint (null allows any)');
  if (value.length > keySettingRules.models.maxItems) throw invalidField('models', `must name at most ${keySettingRules.models.maxItems} checkpoints, got ${value.length}`);
  return value.map((item: unknown, i) => {
    if (typeof item !== 'string' || item.trim() === '' || item.length > nameRule.maxLength) {
      throw invalidField(`models[${i}]`, `must be a checkpoint name or hash of 1 to ${nameRule.maxLength} characters, got ${describeValue(item)}`);
    }
    return item.trim();
  });
}

/** A node token's settings: its name (whose GPUs it admits). */
export function parseNodeTokenSettings(body: unknown): { name: string } {
  return { name: readName(parseGroup(body, '', { accepted: ['name'] })) };
}

/** Control characters: a name with them (an ANSI escape, NUL) would reach operators' terminals as commands. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // C0 and C1 controls, and the bidirectional overrides that make a name read as another in a terminal.
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) return true;
  }
  return false;
}

/** Whom a key or token is for: required here, not empty, printable. */
function readName(group: FieldGroup): string {
  const name = readString(group, 'name', keySettingRules.name).trim();
  if (name === '') throw invalidField('name', 'must not be empty');
  if (hasControlCharacter(name)) throw invalidField('name', 'must be printable text: no control characters (line breaks, tabs, escape codes)');
  return name;
}
