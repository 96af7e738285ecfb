/**
 * Numbers as the user types them, and the check that none of a request's is
 * unreadable: an empty or garbled field would be sent as NaN, which JSON makes
 * null, which the API takes as "use the default": the user's 7,5 would
 * silently become CFG 7.
 */

/** A number as typed: a comma as the decimal point (`7,5`), else JavaScript's number syntax; NaN when empty or no number. */
export function readTypedNumber(text: string): number {
  let typed = text.trim();
  if (!typed.includes('.') && typed.split(',').length === 2) typed = typed.replace(',', '.');
  // Number() would read '' as 0 and take '0x10' and 'Infinity': only decimal numbers are numbers here.
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(typed) ? Number(typed) : Number.NaN;
}

/** What the form says of a number field it cannot read. */
export const NOT_A_NUMBER = 'Not a number: type one (such as 20 or 7.5).';

/** The request field (`steps`, `upscale.scale`, `loras[0][1]`) of the first number in `value` that is not finite, or null. */
export function firstUnreadNumber(value: unknown, path = ''): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : path;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = firstUnreadNumber(item, `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = firstUnreadNumber(item, path ? `${path}.${key}` : key);
      if (found !== null) return found;
    }
  }
  return null;
}
