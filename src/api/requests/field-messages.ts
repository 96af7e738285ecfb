/**
 * @module api/requests/field-messages
 *
 * How error messages show what a client sent and what it may send instead.
 * Values are echoed back shortened, so a 5 MB string in the wrong field does
 * not become a 5 MB error message.
 */

const maxEchoChars = 60;
const maxListedChoices = 24;

/**
 * A short, JSON-like rendering of a received value. Strings say they are strings,
 * so `got "512" (a string)` explains a type error the quotes alone might hide.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `${quote(value)} (a string)`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return 'an object';
}

export function quote(text: string): string {
  const shown = text.length > maxEchoChars ? `${text.slice(0, maxEchoChars)}…` : text;
  return JSON.stringify(shown);
}

/** `a, b, c` with at most `maxListedChoices` items, then how many more. */
export function formatChoices(choices: readonly string[]): string {
  if (choices.length === 0) return '(none available right now)';
  const shown = choices.slice(0, maxListedChoices).join(', ');
  const more = choices.length - maxListedChoices;
  return more > 0 ? `${shown}, … (${more} more)` : shown;
}

/** `from 1 to 150`, `greater than 1 and at most 2`. */
export function describeRange(rule: { min: number; max: number; minExclusive?: boolean }): string {
  return rule.minExclusive === true
    ? `greater than ${rule.min} and at most ${rule.max}`
    : `from ${rule.min} to ${rule.max}`;
}
