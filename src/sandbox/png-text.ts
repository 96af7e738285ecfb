/**
 * @module sandbox/png-text
 *
 * PNG text chunks, the way A1111 stores its infotext: a `parameters` chunk, as
 * tEXt when the text is Latin-1 and as uncompressed iTXt otherwise (what PIL's
 * `PngInfo.add_text` does). A chunk is length (4 bytes BE), type, data, and a
 * CRC-32 over type + data.
 */
import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const IHDR_CHUNK_BYTES = 8 + 13 + 4;

function chunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/** No UTF-16 unit above U+00FF (a character beyond the BMP is two surrogates, both above it). */
function isLatin1(text: string): boolean {
  return !/[\u0100-\uffff]/.test(text);
}

function textChunk(keyword: string, text: string): Buffer {
  if (isLatin1(text)) return chunk('tEXt', Buffer.from(`${keyword}\0${text}`, 'latin1'));
  // keyword\0, compression flag 0, method 0, empty language tag\0, empty translated keyword\0, UTF-8 text
  const header = Buffer.from(`${keyword}\0\0\0\0\0`, 'latin1');
  return chunk('iTXt', Buffer.concat([header, Buffer.from(text, 'utf8')]));
}

/** A copy of `png` with a text chunk right after IHDR (where PIL writes it). */
export function insertPngText(png: Buffer, keyword: string, text: string): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('insertPngText: not a PNG');
  const at = SIGNATURE.length + IHDR_CHUNK_BYTES;
  return Buffer.concat([png.subarray(0, at), textChunk(keyword, text), png.subarray(at)]);
}

/** Every tEXt / uncompressed iTXt chunk of `png`, keyword → text; CRCs are checked. */
export function readPngText(png: Buffer): Record<string, string> {
  const texts: Record<string, string> = {};
  let offset = SIGNATURE.length;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = png.readUInt32BE(offset + 8 + length);
    if (crc !== crc32(png.subarray(offset + 4, offset + 8 + length))) throw new Error(`readPngText: bad CRC in ${type}`);
    if (type === 'tEXt' || type === 'iTXt') Object.assign(texts, parseTextData(type, data));
    offset += 12 + length;
  }
  return texts;
}

function parseTextData(type: string, data: Buffer): Record<string, string> {
  const nul = data.indexOf(0);
  const keyword = data.toString('latin1', 0, nul);
  if (type === 'tEXt') return { [keyword]: data.toString('latin1', nul + 1) };
  if (data[nul + 1] !== 0) return {}; // compressed iTXt: never written by us
  const language = data.indexOf(0, nul + 3);
  const translated = data.indexOf(0, language + 1);
  return { [keyword]: data.toString('utf8', translated + 1) };
}
