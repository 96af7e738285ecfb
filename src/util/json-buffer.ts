/**
 * @module util/json-buffer
 *
 * JSON as bytes, for documents that carry base64 images. `JSON.stringify`
 * copies each 300 KiB image into one big string, which then has to be
 * measured and encoded to UTF-8 on its way to a socket or a file: three passes
 * over the image on the event loop. Here images are left out of the stringify
 * (a placeholder stands in) and written straight into the output buffer: long
 * strings that need no escaping as Latin-1, one copy each; images held as
 * bytes (util/base64-image.ts) as base64, with no big string at all.
 */
import { randomUUID } from 'node:crypto';
import { Base64Image, splicing, writeBase64 } from './base64-image.js';

/** Strings at least this long that need no escaping go in as raw bytes. */
const MIN_SPLICE_CHARS = 1024;
/**
 * Anything but base64's alphabet. Splicing only needs a string JSON leaves as
 * it is (printable ASCII, no `"` or `\`); base64's alphabet is a simple subset
 * that a negated class checks in one quick scan.
 */
const NOT_BASE64_ALPHABET = /[^A-Za-z0-9+/=]/;
const QUOTE = 0x22;

type Splice = string | Base64Image;

/**
 * `JSON.stringify(value)` as UTF-8 bytes, with images copied or encoded straight into the output.
 * `alloc` provides the output buffer when images are spliced (see util/buffer-pool.ts).
 */
export function toJsonBuffer(value: unknown, alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size)): Buffer {
  const body = toJsonBody(value, alloc);
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

/**
 * `toJsonBuffer`, but a document without images stays the string `JSON.stringify` made: an HTTP
 * answer takes either, and most answers (a status, a refusal) are small and have none.
 */
export function toJsonBody(value: unknown, alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size)): string | Buffer {
  // Most answers (a status, a refusal) hold nothing to splice: a walk over their few fields tells so, and
  // JSON.stringify without a replacer runs several times faster than with one.
  if (!holdsSplice(value, 0)) return JSON.stringify(value);
  const spliced: Splice[] = [];
  // A fresh nonce per document that has images, so no string in it can pass for a placeholder; made at
  // the first image (a random UUID per small answer was a measurable part of its cost).
  let nonce = '';
  const text = splicing(() =>
    JSON.stringify(value, (_key, v: unknown) => {
      const splice = v instanceof Base64Image || (typeof v === 'string' && v.length >= MIN_SPLICE_CHARS && !NOT_BASE64_ALPHABET.test(v));
      if (!splice) return v;
      if (nonce === '') nonce = randomUUID().slice(0, 8);
      spliced.push(v);
      return `\u0000${nonce}:${spliced.length - 1}\u0000`;
    }),
  );
  if (spliced.length === 0) return text;

  // Between the placeholders: the stringified text; in their place: `"` + the image's base64 + `"`.
  const pieces: { text: string; splice: Splice | null }[] = [];
  let last = 0;
  for (const match of text.matchAll(new RegExp(`"\\\\u0000${nonce}:(\\d+)\\\\u0000"`, 'g'))) {
    pieces.push({ text: text.slice(last, match.index), splice: spliced[Number(match[1])]! });
    last = match.index + match[0].length;
  }
  pieces.push({ text: text.slice(last), splice: null });

  let size = 0;
  for (const piece of pieces) size += Buffer.byteLength(piece.text, 'utf8') + (piece.splice === null ? 0 : base64Length(piece.splice) + 2);
  const out = alloc(size);
  let offset = 0;
  for (const piece of pieces) {
    offset += out.write(piece.text, offset, 'utf8');
    if (piece.splice === null) continue;
    out[offset++] = QUOTE;
    offset += typeof piece.splice === 'string' ? out.write(piece.splice, offset, 'latin1') : writeBase64(piece.splice, out, offset);
    out[offset++] = QUOTE;
  }
  return out;
}

/** Nesting past which the walk stops and lets the replacer look (a deep document is not an answer's shape). */
const MAX_WALK_DEPTH = 8;

/** Whether `value` holds something `toJsonBody` splices: an image, or a string long enough to be one. */
function holdsSplice(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.length >= MIN_SPLICE_CHARS;
  if (value === null || typeof value !== 'object') return false;
  if (value instanceof Base64Image || depth > MAX_WALK_DEPTH) return true;
  if (Array.isArray(value)) return value.some((item) => holdsSplice(item, depth + 1));
  for (const key in value) {
    if (holdsSplice((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

function base64Length(splice: Splice): number {
  return typeof splice === 'string' ? splice.length : splice.base64Length;
}
