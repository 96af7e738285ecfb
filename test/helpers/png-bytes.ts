/**
 * PNG files built byte by byte, for tests and benchmarks that need exact ones:
 * of a given size with real (black) pixels, or a header that declares a size
 * its few bytes of pixel data do not hold (a decompression bomb), or one with a
 * broken header CRC.
 */
import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/**
 * An RGB PNG whose header says `width`×`height`. `pixels: 'full'` writes every (black) row, a real image;
 * `'few'` a few bytes only, what a decompression bomb's file holds. `breakCrc` spoils the header's CRC.
 */
export function pngBytes(width: number, height: number, options: { pixels?: 'full' | 'few'; breakCrc?: boolean } = {}): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const ihdr = chunk('IHDR', header);
  if (options.breakCrc) ihdr[ihdr.length - 1]! ^= 0xff;
  const raw = options.pixels === 'few' ? Buffer.alloc(64) : Buffer.alloc(height * (1 + width * 3));
  return Buffer.concat([SIGNATURE, ihdr, chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
