/**
 * Good images made with sharp, and the surgery that damages them the ways
 * uploads get damaged: cut short, bytes flipped, chunks added. Noise, not a
 * flat colour, so the compressed pixel data spans many bytes to cut into.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

export type Format = 'png' | 'jpeg' | 'webp';

export async function noisyImage(format: Format, width = 64, height = 48, options: { progressive?: boolean; lossless?: boolean } = {}): Promise<Buffer> {
  const noise = { type: 'gaussian', mean: 128, sigma: 40 } as const;
  // background is required by the types and ignored when there is noise.
  const image = sharp({ create: { width, height, channels: 3, background: '#000', noise } });
  if (format === 'png') return image.png({ progressive: options.progressive ?? false }).toBuffer();
  if (format === 'jpeg') return image.jpeg({ progressive: options.progressive ?? false }).toBuffer();
  return image.webp({ lossless: options.lossless ?? false }).toBuffer();
}

/** A greyscale PNG (colour type 0), whose tRNS chunk holds one 16-bit grey level. */
export function greyPng(): Promise<Buffer> {
  return sharp(Buffer.alloc(64, 128), { raw: { width: 8, height: 8, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/** Two frames of `width`×`height`, as an animated WebP. */
export async function animatedWebp(width: number, height: number): Promise<Buffer> {
  const frame = (r: number) => sharp({ create: { width, height, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer();
  return sharp([await frame(10), await frame(200)], { join: { animated: true } }).webp().toBuffer();
}

export interface PngChunk {
  type: string;
  /** Where the chunk's length field starts. */
  offset: number;
  length: number;
  dataStart: number;
  /** Where its CRC starts. */
  crcStart: number;
}

export function pngChunks(png: Buffer): PngChunk[] {
  const chunks: PngChunk[] = [];
  for (let offset = 8; offset + 8 <= png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    chunks.push({ type, offset, length, dataStart: offset + 8, crcStart: offset + 8 + length });
    offset += 12 + length;
  }
  return chunks;
}

/** The first chunk of the type, or the last: sharp splits the pixel data into IDATs of 8 KiB. */
export function pngChunk(png: Buffer, type: string, which: 'first' | 'last' = 'first'): PngChunk {
  const all = pngChunks(png).filter((chunk) => chunk.type === type);
  const found = which === 'first' ? all[0] : all.at(-1);
  if (found === undefined) throw new Error(`no ${type} chunk`);
  return found;
}

/** `png` without any of its IDAT chunks (they follow each other). */
export function withoutPixelData(png: Buffer): Buffer {
  return Buffer.concat([png.subarray(0, pngChunk(png, 'IDAT').offset), png.subarray(pngChunk(png, 'IEND').offset)]);
}

/** A whole chunk with its CRC; `badCrc` flips the CRC's lowest bit. */
export function makeChunk(type: string, data: Buffer, badCrc = false): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(data.length);
  header.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(Buffer.concat([header.subarray(4), data])) ^ (badCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([header, data, crc]);
}

/** `png` with `chunks` inserted right before its first chunk of type `before`. */
export function insertChunks(png: Buffer, before: 'IDAT' | 'IEND', ...chunks: Buffer[]): Buffer {
  const at = pngChunk(png, before).offset;
  return Buffer.concat([png.subarray(0, at), ...chunks, png.subarray(at)]);
}

/** A copy with `change` applied to the chunk's data, and the CRC fixed unless `keepCrc`. */
export function editChunk(png: Buffer, type: string, change: (data: Buffer) => void, keepCrc = false): Buffer {
  const copy = Buffer.from(png);
  const chunk = pngChunk(copy, type);
  change(copy.subarray(chunk.dataStart, chunk.crcStart));
  if (!keepCrc) copy.writeUInt32BE(crc32(copy.subarray(chunk.offset + 4, chunk.crcStart)), chunk.crcStart);
  return copy;
}

/** A copy with one byte of the chunk's CRC flipped. */
export function breakCrc(png: Buffer, type: string): Buffer {
  const copy = Buffer.from(png);
  const chunk = pngChunk(copy, type);
  copy[chunk.crcStart] = (copy[chunk.crcStart] ?? 0) ^ 0xff;
  return copy;
}

/** zlib data that unpacks to `bytes` bytes: tiny, like a decompression bomb. */
export function packed(bytes: number): Buffer {
  return deflateSync(Buffer.alloc(bytes, 0x41));
}

/** A JPEG cut right after its start-of-scan header: no entropy-coded data at all. */
export function jpegWithoutScan(jpeg: Buffer): Buffer {
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  const headerLength = jpeg.readUInt16BE(sos + 2);
  return jpeg.subarray(0, sos + 2 + headerLength);
}
