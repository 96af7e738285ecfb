/**
 * @module util/json-buffer
 *
 * JSON as bytes, for documents that carry base64 images. `JSON.stringify`
 * copies each 300 KiB image into one big string, which then has to be
 * measured and encoded to UTF-8 on its way to a socket or a file: three passes
 * over the image on the event loop. Here long base64 strings are left out of
 * the stringify (a placeholder stands in) and spliced back as Latin-1 bytes,
 * a straight copy (base64 is ASCII and needs no JSON escaping).
 */
import { randomUUID } from 'node:crypto';

/** Strings at least this long that are pure base64 go in as raw bytes. */
const MIN_SPLICE_CHARS = 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `JSON.stringify(value)` as UTF-8 bytes, with long base64 strings copied, not re-encoded. */
export function toJsonBuffer(value: unknown): Buffer {
  const spliced: string[] = [];
  // A fresh nonce per call, so no string in the document can pass for a placeholder.
  const nonce = randomUUID().slice(0, 8);
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string' && v.length >= MIN_SPLICE_CHARS && BASE64.test(v)) {
      spliced.push(v);
      return `\u0000${nonce}:${spliced.length - 1}\u0000`;
    }
    return v;
  });
  if (spliced.length === 0) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let last = 0;
  for (const match of text.matchAll(new RegExp(`"\\\\u0000${nonce}:(\\d+)\\\\u0000"`, 'g'))) {
    parts.push(Buffer.from(text.slice(last, match.index), 'utf8'));
    parts.push(Buffer.from(`"${spliced[Number(match[1])]}"`, 'latin1'));
    last = match.index + match[0].length;
  }
  parts.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(parts);
}
