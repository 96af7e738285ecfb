/**
 * @module util/base64-image
 *
 * An image held as its bytes, written out as base64 only when serialized.
 * A 512² PNG as a base64 string is a 430 KiB object in V8's large-object
 * space; one such string per result made the gateway run a major garbage
 * collection (~6 ms) every few tasks. As a Buffer the image lives outside the
 * V8 heap, and `toJsonBuffer` (util/json-buffer.ts) writes its base64 straight
 * into the output in chunks whose strings die young.
 */
export class Base64Image {
  constructor(readonly bytes: Buffer) {}

  /** Length of the base64 text (padded). */
  get base64Length(): number {
    return 4 * Math.ceil(this.bytes.length / 3);
  }

  /**
   * The base64 text, for `JSON.stringify` outside `toJsonBuffer`. Inside it
   * (while `splicing()` runs), the image returns itself, so the big string is
   * never built.
   */
  toJSON(): string | Base64Image {
    return splicingDepth > 0 ? this : this.bytes.toString('base64');
  }
}

let splicingDepth = 0;

/** Runs `serialize` with images kept as themselves through `JSON.stringify` (see `toJSON`). */
export function splicing<T>(serialize: () => T): T {
  splicingDepth += 1;
  try {
    return serialize();
  } finally {
    splicingDepth -= 1;
  }
}

/** Base64 of a whole number of 3-byte groups per chunk, so chunks join without padding; 48 KiB → 64 KiB strings, young-generation sized. */
const CHUNK_BYTES = 48 * 1024;

/** Writes the image's base64 into `out` at `offset`; returns the bytes written. */
export function writeBase64(image: Base64Image, out: Buffer, offset: number): number {
  const { bytes } = image;
  let written = 0;
  for (let from = 0; from < bytes.length; from += CHUNK_BYTES) {
    written += out.write(bytes.toString('base64', from, Math.min(from + CHUNK_BYTES, bytes.length)), offset + written, 'latin1');
  }
  return written;
}
