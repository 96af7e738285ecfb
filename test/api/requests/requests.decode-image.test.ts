import { crc32 } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImageField } from '../../../src/api/requests/index.js';
import {
  type Format,
  animatedWebp,
  breakCrc,
  editChunk,
  insertChunks,
  jpegWithoutScan,
  makeChunk,
  noisyImage,
  pngChunk,
  withoutPixelData,
} from './damaged-images.js';
import { expectRejected } from './expect-error.js';
import { imageBase64, imageBytes } from './image-fixtures.js';

const images: Record<'png' | 'jpeg' | 'webp', string> = { png: '', jpeg: '', webp: '' };
beforeAll(async () => {
  images.png = await imageBase64('png', 20, 10);
  images.jpeg = await imageBase64('jpeg', 20, 10);
  images.webp = await imageBase64('webp', 20, 10);
});

const decode = (value: unknown, maxSide = 4096) => decodeImageField('init_image', value, maxSide);
const rejectedImage = (value: unknown, message: (string | RegExp)[], maxSide = 4096) =>
  expectRejected(() => decode(value, maxSide), { id: 'DAN_ERR_REQUEST_INVALID_IMAGE', field: 'init_image', message });

describe('decodeImageField: accepted images', () => {
  it.each(['png', 'jpeg', 'webp'] as const)('reads a %s with its size and format', async (format) => {
    expect(await decode(images[format])).toEqual({ base64: images[format], width: 20, height: 10, format });
  });

  it.each([
    ['png', 'image/png'],
    ['jpeg', 'image/jpeg'],
    ['jpeg', 'image/jpg'],
    ['webp', 'image/webp'],
  ] as const)('strips a data:%s prefix (%s)', async (format, mediaType) => {
    const decoded = await decode(`data:${mediaType};base64,${images[format]}`);
    expect(decoded).toMatchObject({ base64: images[format], format });
  });

  it('accepts a data URL prefix in any case', async () => {
    expect((await decode(`DATA:IMAGE/PNG;BASE64,${images.png}`)).base64).toBe(images.png);
  });

  it('removes whitespace and line breaks (base64.encodebytes style)', async () => {
    const wrapped = `  ${images.png.replace(/(.{76})/g, '$1\n')}\r\n\t`;
    expect(wrapped).toContain('\n');
    expect((await decode(wrapped)).base64).toBe(images.png);
  });

  it('adds missing = padding', async () => {
    // Bytes after IEND are ignored by PNG readers; one extra byte makes the length need padding.
    const bytes = await imageBytes('png', 20, 10);
    const padded = (bytes.length % 3 === 0 ? Buffer.concat([bytes, Buffer.from([0])]) : bytes).toString('base64');
    expect(padded.endsWith('=')).toBe(true);
    const unpadded = padded.replace(/=+$/, '');
    expect((await decode(unpadded)).base64).toBe(padded);
  });

  it('accepts each side up to maxSide', async () => {
    await expect(decode(images.png, 20)).resolves.toMatchObject({ width: 20 });
  });
});

describe('decodeImageField: rejected values', () => {
  it('requires a string', async () => {
    await expectRejected(() => decode(42), { field: 'init_image', message: ['must be a base64 string', 'got 42'] });
    await expectRejected(() => decode({ data: images.png }), { field: 'init_image', message: ['got an object'] });
  });

  it('rejects empty data, also after the prefix or whitespace', async () => {
    await rejectedImage('', ['is empty']);
    await rejectedImage('data:image/png;base64,', ['is empty']);
    await rejectedImage(' \n ', ['is empty']);
  });

  it('rejects characters that are not base64, saying where', async () => {
    await rejectedImage('iVBOR*w0KGgo=', ['"*" at position 5 is not a base64 character']);
    await rejectedImage('iVBOR-w0_Ggo', ['URL-safe base64 is not accepted']);
    await rejectedImage('not base64!', ['is not valid base64']);
  });

  it('rejects bad padding and cut-short data', async () => {
    await rejectedImage('iVBORw0KGgo=A', ['is not valid base64']);
    await rejectedImage('iVBORw0KG=', ['wrong length or padding']);
    await rejectedImage('iVBORw0KG', ['wrong length or padding']);
    await rejectedImage('iVBO===', ['is not valid base64']);
  });

  it('rejects a data URL of another media type or without base64', async () => {
    await rejectedImage(`data:image/gif;base64,${images.png}`, ['data URL of type "image/gif"']);
    await rejectedImage(`data:text/plain;base64,${images.png}`, ['"text/plain"']);
    await rejectedImage(`data:image/png,${images.png}`, ['not base64']);
    await rejectedImage('data:image/png;base64', ['without a comma']);
  });

  it('rejects valid base64 of bytes that are not an image', async () => {
    await rejectedImage(Buffer.from('hello, this is plain text').toString('base64'), ['is not a PNG, JPEG or WebP image']);
    await rejectedImage(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]).toString('base64'), ['is not a PNG, JPEG or WebP image']);
  });

  it('names formats it does not take', async () => {
    await rejectedImage(await imageBase64('gif'), ['is a GIF image; send a PNG, JPEG or WebP image']);
    await rejectedImage(await imageBase64('tiff'), ['is a TIFF image']);
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>';
    await rejectedImage(Buffer.from(svg).toString('base64'), ['SVG']);
  });

  it.each(['png', 'jpeg', 'webp'] as const)('rejects a %s cut short inside its header', async (format) => {
    const bytes = await imageBytes(format);
    for (const length of [4, 12, 20]) {
      await rejectedImage(bytes.subarray(0, length).toString('base64'), [/is not (a readable|a PNG)/]);
    }
  });

  it('rejects a PNG signature followed by garbage', async () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);
    await rejectedImage(bytes.toString('base64'), ['is not a readable PNG image']);
  });

  it('rejects an image with a side over maxSide, naming its size', async () => {
    const wide = await imageBase64('png', 4097, 8);
    await rejectedImage(wide, ['is 4097×8 pixels; each side may be at most 4096']);
    await rejectedImage(images.jpeg, ['20×10'], 19);
    await rejectedImage(await imageBase64('webp', 8, 30), ['8×30'], 29);
  });

  it('reads the size of an image larger than sharp’s default pixel limit without decoding it', async () => {
    // 20000×20000 = 400 Mpx, over sharp's default limitInputPixels; only the header is read.
    const huge = withPngSize(await imageBytes('png'), 20000, 20000);
    await rejectedImage(huge.toString('base64'), ['is 20000×20000 pixels']);
  });
});

/** A PNG whose IHDR claims another size (CRC fixed), to test limits without making the pixels. */
function withPngSize(png: Buffer, width: number, height: number): Buffer {
  const copy = Buffer.from(png);
  // Signature (8), then the IHDR chunk: length (4), type (4), width (4), height (4), … CRC after 13 data bytes.
  copy.writeUInt32BE(width, 16);
  copy.writeUInt32BE(height, 20);
  copy.writeUInt32BE(crc32(copy.subarray(12, 29)), 29);
  return copy;
}

describe('decodeImageField: every pixel is decoded', () => {
  const damaged: Record<Format, Buffer> = { png: Buffer.alloc(0), jpeg: Buffer.alloc(0), webp: Buffer.alloc(0) };
  beforeAll(async () => {
    damaged.png = await noisyImage('png');
    damaged.jpeg = await noisyImage('jpeg');
    damaged.webp = await noisyImage('webp');
  });
  const rejectedBytes = (bytes: Buffer, message: (string | RegExp)[], maxSide = 4096) => rejectedImage(bytes.toString('base64'), message, maxSide);

  it.each(['png', 'jpeg', 'webp'] as const)('accepts a whole %s, forwarding its own bytes', async (format) => {
    const base64 = damaged[format].toString('base64');
    expect(await decode(base64)).toEqual({ base64, width: 64, height: 48, format });
  });

  it('accepts an interlaced PNG, a progressive JPEG and a lossless WebP', async () => {
    await expect(decode((await noisyImage('png', 64, 48, { progressive: true })).toString('base64'))).resolves.toMatchObject({ width: 64 });
    await expect(decode((await noisyImage('jpeg', 64, 48, { progressive: true })).toString('base64'))).resolves.toMatchObject({ width: 64 });
    await expect(decode((await noisyImage('webp', 64, 48, { lossless: true })).toString('base64'))).resolves.toMatchObject({ width: 64 });
  });

  it('refuses a PNG cut inside its pixel data, naming the chunk', async () => {
    const idat = pngChunk(damaged.png, 'IDAT');
    const half = damaged.png.subarray(0, idat.dataStart + (idat.length >> 1));
    await rejectedBytes(half, ['is not a readable PNG image: it is cut short (truncated)', 'IDAT chunk']);
    // Only the end of the zlib stream (its Adler-32) missing: every row is there, the file is still cut.
    await rejectedBytes(damaged.png.subarray(0, pngChunk(damaged.png, 'IDAT', 'last').crcStart - 2), ['cut short (truncated)']);
  });

  it('refuses a PNG whose IHDR checksum is broken', async () => {
    await rejectedBytes(breakCrc(damaged.png, 'IHDR'), ['is not a readable PNG image: it is corrupt', 'CRC of its IHDR chunk']);
  });

  it('refuses a PNG whose compressed pixel data is garbage (CRC intact)', async () => {
    const garbage = editChunk(damaged.png, 'IDAT', (data) => data.fill(0x5a, data.length >> 2, data.length >> 1));
    await rejectedBytes(garbage, ['is not a readable PNG image: it is corrupt: its pixel data does not decode']);
  });

  it('refuses a PNG whose pixel data fails its CRC (stricter than Pillow, which skips IDAT CRCs)', async () => {
    await rejectedBytes(breakCrc(damaged.png, 'IDAT'), ['it is corrupt: its pixel data does not decode']);
  });

  it.each([false, true])('refuses a JPEG cut in the middle of its scan (progressive: %s)', async (progressive) => {
    const jpeg = await noisyImage('jpeg', 64, 48, { progressive });
    await rejectedBytes(jpeg.subarray(0, jpeg.length >> 1), ['is not a readable JPEG image: it is cut short (truncated)', 'premature end']);
    // Not just the final EOI marker: when the scan data ends on a whole block, libjpeg and Pillow decode it.
    await rejectedBytes(jpeg.subarray(0, jpeg.length - 40), ['cut short (truncated)']);
  });

  it('refuses a JPEG with a marker after its scan that libvips skips and the WebUI’s libjpeg refuses', async () => {
    const end = damaged.jpeg.length - 2;
    const withMarker = Buffer.concat([damaged.jpeg.subarray(0, end), Buffer.from([0xff, 0x02]), damaged.jpeg.subarray(end)]);
    await rejectedBytes(withMarker, ['is not a readable JPEG image: it is corrupt: marker 0xFF02']);
  });

  it('accepts a JPEG whose scan data is damaged but decodes, as Pillow does', async () => {
    // libjpeg calls this a warning ("bad Huffman code") and draws garbage; the WebUI takes it too. No byte
    // after an 0xFF is touched: that would make a marker, which libjpeg refuses after the scan.
    const jpeg = Buffer.from(damaged.jpeg);
    for (let i = jpeg.length - 600; i < jpeg.length - 100; i += 3) if (jpeg[i - 1] !== 0xff && jpeg[i] !== 0xff) jpeg[i] = 0x11;
    await expect(decode(jpeg.toString('base64'))).resolves.toMatchObject({ format: 'jpeg', width: 64 });
  });

  it.each([false, true])('refuses a WebP with garbage after its header (lossless: %s)', async (lossless) => {
    // Right after the 30 bytes of RIFF, chunk and frame headers. (Zeros would not do: a lossy bitstream of
    // zeros decodes, in Pillow too.)
    const webp = Buffer.from(await noisyImage('webp', 64, 48, { lossless }));
    webp.fill(0x5a, 30);
    await rejectedBytes(webp, ['is not a readable WebP image: it is corrupt: its pixel data does not decode']);
  });

  it('refuses images that end right after their header', async () => {
    await rejectedBytes(damaged.png.subarray(0, pngChunk(damaged.png, 'IDAT').offset), ['is not a readable PNG image: it is cut short (truncated) before its pixel data']);
    const emptyIdat = insertChunks(withoutPixelData(damaged.png), 'IEND', makeChunk('IDAT', Buffer.alloc(0)));
    await rejectedBytes(emptyIdat, ['it is cut short (truncated): it has no pixel data']);
    await rejectedBytes(jpegWithoutScan(damaged.jpeg), ['is not a readable JPEG image: it is cut short (truncated)']);
    await rejectedBytes(damaged.webp.subarray(0, 30), ['is not a readable WebP image: it is corrupt or cut short']);
  });

  it('reads an animated WebP as its first frame, the one the WebUI uses, and checks that frame’s size', async () => {
    const animated = await animatedWebp(40, 24);
    await expect(decode(animated.toString('base64'))).resolves.toMatchObject({ format: 'webp', width: 40, height: 24 });
    await rejectedBytes(animated, ['is 40×24 pixels; each side may be at most 32'], 32);
  });

  it('checks the size before decoding the pixels: an image over the limit is refused by size even if it is also cut', async () => {
    const wide = await noisyImage('jpeg', 300, 8);
    await rejectedBytes(wide.subarray(0, wide.length >> 1), ['is 300×8 pixels; each side may be at most 256'], 256);
  });
});
