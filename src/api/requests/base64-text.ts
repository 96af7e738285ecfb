/**
 * @module api/requests/base64-text
 *
 * Cleaning the text of an image field before decoding. `Buffer.from(s, 'base64')`
 * never fails: it skips characters it does not know and stops at bad padding, so
 * a mangled upload would reach sharp as different bytes and fail with a confusing
 * message, or worse, be cut short. The text is therefore validated here first.
 */
import { DanError } from '../../errors/dan-error.js';
import { quote } from './field-messages.js';

/** The spec's limit on image data (`ImageData` in domain/spec.ts). */
export const maxImageBase64Chars = 64 * 1024 * 1024;

/** Media types a `data:` URL may declare. The bytes decide the real format. */
const acceptedMediaTypes = ['image/png', 'image/jpeg', 'image/jpg', 'image/webp'];
const dataUrlPattern = /^data:([^;,]*)((?:;[^;,]*)*),/i;
const nonBase64 = /[^A-Za-z0-9+/=]/;

export function invalidImage(field: string, problem: string): DanError {
  return new DanError('DAN_ERR_REQUEST_INVALID_IMAGE', `${field}: ${problem}`, { field });
}

/**
 * Standard, padded base64 from what a client sent: the `data:image/…;base64,`
 * prefix and whitespace (line breaks of `base64.encodebytes`) removed, missing
 * `=` padding added (some encoders omit it; Python's decoder on the node wants it).
 */
export function cleanBase64(field: string, text: string): string {
  let body = stripDataUrl(field, text);
  // One scan finds both stray characters and whitespace: a full-match regex is
  // several times slower on a 16 MB upload than `search` for the first outsider.
  let bad = body.search(nonBase64);
  if (bad >= 0 && /\s/.test(body.charAt(bad))) {
    body = body.replace(/\s+/g, '');
    bad = body.search(nonBase64);
  }
  if (body.length === 0) throw invalidImage(field, 'is empty; send the image as base64');
  if (body.length > maxImageBase64Chars) {
    throw invalidImage(field, `is ${body.length} base64 characters; at most ${maxImageBase64Chars} are accepted`);
  }
  if (bad >= 0) throw invalidImage(field, describeBadCharacter(body, bad));
  assertPaddingAtEnd(field, body);
  return fixPadding(field, body);
}

function stripDataUrl(field: string, text: string): string {
  if (!/^data:/i.test(text)) return text;
  const match = dataUrlPattern.exec(text.slice(0, 256));
  if (match === null) throw invalidImage(field, 'is a data URL without a comma; expected data:image/png;base64,…');
  const mediaType = (match[1] ?? '').toLowerCase();
  const parameters = (match[2] ?? '').toLowerCase().split(';');
  if (!acceptedMediaTypes.includes(mediaType)) {
    throw invalidImage(field, `is a data URL of type ${quote(mediaType)}; only image/png, image/jpeg and image/webp are accepted`);
  }
  if (!parameters.includes('base64')) {
    throw invalidImage(field, 'is a data URL that is not base64; expected data:image/png;base64,…');
  }
  return text.slice(match[0].length);
}

function describeBadCharacter(body: string, at: number): string {
  const char = body.charAt(at);
  const urlSafe = char === '-' || char === '_' ? ' (URL-safe base64 is not accepted: use + and /)' : '';
  return `is not valid base64: ${JSON.stringify(char)} at position ${at} is not a base64 character${urlSafe}`;
}

function assertPaddingAtEnd(field: string, body: string): void {
  const firstPad = body.indexOf('=');
  if (firstPad < 0) return;
  const padding = body.length - firstPad;
  if (padding <= 2 && body.endsWith('='.repeat(padding))) return;
  throw invalidImage(field, 'is not valid base64: "=" padding may only end the data, at most twice');
}

function fixPadding(field: string, body: string): string {
  const remainder = body.length % 4;
  if (remainder === 0) return body;
  if (body.endsWith('=') || remainder === 1) {
    throw invalidImage(field, `is not valid base64: wrong length or padding (${body.length} characters); the data may be cut short`);
  }
  return body + '='.repeat(4 - remainder);
}
