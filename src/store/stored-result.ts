/**
 * @module store/stored-result
 *
 * An image result as its payload file, or as the row's BLOB when small: the images' own bytes, not their
 * base64. Encoding ~320 KiB of base64 (and allocating it) for the file ran on
 * the event loop right after each answer, where the next request met it; as
 * bytes the file is also a quarter smaller, and it is written straight from
 * the buffers the node sent. Layout:
 *
 *   "DANR" | u32 big-endian header length H | H bytes of JSON {seeds, imageBytes} | image bytes…
 *
 * Read back, the images stay bytes (views into the file) until an answer is
 * written (util/json-buffer.ts).
 *
 * The store keeps whatever bytes it was given: checking that they are images
 * is the protocol's job (protocol/result-frame.ts), at the gateway's door.
 */
import type { RelayedResult } from '../domain/spec.js';
import { Base64Image } from '../util/base64-image.js';

type ImagesResult = Extract<RelayedResult, { kind: 'images' }>;

const MAGIC = Buffer.from('DANR', 'latin1');
const PREFIX_BYTES = 8;

const bytesOf = (image: string | Base64Image): Buffer => (image instanceof Base64Image ? image.bytes : Buffer.from(image, 'base64'));

/** The file's contents, as buffers to write in order (the images are not copied). */
export function storedResultParts(result: ImagesResult): Buffer[] {
  const images = result.images.map(bytesOf);
  const header = Buffer.from(JSON.stringify({ seeds: result.seeds, imageBytes: images.map((i) => i.length) }), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32BE(header.length, 4);
  return [prefix, header, ...images];
}

/** Reads a file written from `storedResultParts`; images come back as bytes (views into `file`). Throws on a damaged file. */
export function readStoredResult(file: Buffer): ImagesResult {
  if (file.length < PREFIX_BYTES || !file.subarray(0, 4).equals(MAGIC)) throw new Error('not a stored result file');
  const headerEnd = PREFIX_BYTES + file.readUInt32BE(4);
  const header = JSON.parse(file.toString('utf8', PREFIX_BYTES, headerEnd)) as { seeds: number[]; imageBytes: number[] };
  let offset = headerEnd;
  const images = header.imageBytes.map((length) => {
    const image = new Base64Image(file.subarray(offset, offset + length));
    offset += length;
    return image;
  });
  if (offset !== file.length) throw new Error(`stored result file holds ${file.length - headerEnd} image bytes, its header ${offset - headerEnd}`);
  return { kind: 'images', images, seeds: header.seeds };
}
