/**
 * The Pillow rules of api/requests/png-chunks.ts. Each case was run through
 * Pillow 9.4 (`Image.open(f).convert('RGB')`) when the rules were written: the
 * refused ones raise there, the accepted ones load.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { deflateSync } from 'node:zlib';
import { findPngProblem, maxCompressedChunks, maxMetadataChunks, maxTextBytes, maxTextChunkBytes } from '../../../src/api/requests/png-chunks.js';
import { breakCrc, greyPng, insertChunks, makeChunk, noisyImage, packed, pngChunk, withoutPixelData } from './damaged-images.js';

let png: Buffer = Buffer.alloc(0);
beforeAll(async () => {
  png = await noisyImage('png');
});

const text = (keyword: string, value: string) => makeChunk('tEXt', Buffer.from(`${keyword}\0${value}`, 'latin1'));
const zText = (unpackedBytes: number, method = 0) => makeChunk('zTXt', Buffer.concat([Buffer.from(`Comment\0`), Buffer.from([method]), packed(unpackedBytes)]));
const before = (...chunks: Buffer[]) => insertChunks(png, 'IDAT', ...chunks);
const after = (...chunks: Buffer[]) => insertChunks(png, 'IEND', ...chunks);

describe('findPngProblem: framing', () => {
  it('accepts a whole PNG, with or without text chunks', async () => {
    expect(await findPngProblem(png)).toBeNull();
    expect(await findPngProblem(before(text('parameters', 'a cat, Steps: 20')))).toBeNull();
  });

  it('checks CRCs before the pixel data, where Pillow reads them, and not after', async () => {
    expect(await findPngProblem(breakCrc(png, 'IHDR'))).toMatch('it is corrupt: the CRC of its IHDR chunk does not match its data');
    const badText = makeChunk('tEXt', Buffer.from('Comment\0hello'), true);
    expect(await findPngProblem(before(badText))).toMatch('CRC of its tEXt chunk');
    expect(await findPngProblem(after(badText))).toBeNull();
  });

  it('leaves the IDAT CRC to libpng (it refuses it; Pillow would not)', async () => {
    expect(await findPngProblem(breakCrc(png, 'IDAT'))).toBeNull();
  });

  it('refuses a chunk cut short, CRC included while the pixel data has not ended', async () => {
    const idat = pngChunk(png, 'IDAT');
    expect(await findPngProblem(png.subarray(0, idat.crcStart))).toMatch(/cut short \(truncated\): its IDAT chunk at offset \d+ needs \d+ bytes, \d+ were sent/);
    expect(await findPngProblem(png.subarray(0, idat.offset + 4))).toBe('it is cut short (truncated) before its pixel data');
  });

  it('after the pixel data, wants each chunk’s data but not its CRC, and takes a broken header as the end', async () => {
    const trailer = text('Comment', 'hello world');
    const withTrailer = after(trailer);
    const trailerAt = pngChunk(withTrailer, 'IEND').offset - trailer.length;
    expect(await findPngProblem(withTrailer.subarray(0, trailerAt + 15))).toMatch('its tEXt chunk');
    expect(await findPngProblem(withTrailer.subarray(0, trailerAt + trailer.length - 4))).toBeNull();
    expect(await findPngProblem(withTrailer.subarray(0, trailerAt + 5))).toBeNull();
    expect(await findPngProblem(after(Buffer.from('\0\0\0\x02a$cDxxCRC!', 'latin1')))).toBeNull();
  });

  it('refuses bytes that are not a chunk before the pixel data', async () => {
    expect(await findPngProblem(before(Buffer.from('\0\0\0\x02a$cDxxCRC!', 'latin1')))).toMatch(/it is corrupt: the bytes at offset \d+ are not a PNG chunk/);
  });

  it('refuses a PNG without pixel data', async () => {
    expect(await findPngProblem(withoutPixelData(png))).toMatch('it ends before its pixel data (no IDAT chunk)');
    const emptyIdat = insertChunks(withoutPixelData(png), 'IEND', makeChunk('IDAT', Buffer.alloc(0)));
    expect(await findPngProblem(emptyIdat)).toMatch('it has no pixel data');
  });
});

describe('findPngProblem: what Pillow’s chunk handlers read', () => {
  it.each([
    ['gAMA', 3, 4],
    ['sRGB', 0, 1],
    ['pHYs', 8, 9],
    ['acTL', 7, 8],
  ])('refuses a %s chunk of %i bytes, before or after the pixel data', async (type, length, needed) => {
    const short = makeChunk(type, Buffer.alloc(length));
    const message = `its ${type} chunk is too short (${needed} bytes of data needed, ${length} found)`;
    expect(await findPngProblem(before(short))).toMatch(message);
    expect(await findPngProblem(after(short))).toMatch(message);
    expect(await findPngProblem(before(makeChunk(type, Buffer.alloc(needed))))).toBeNull();
  });

  it('wants the tRNS chunk Pillow reads for the colour type', async () => {
    expect(await findPngProblem(before(makeChunk('tRNS', Buffer.alloc(1))))).toMatch('tRNS chunk is too short (6 bytes');
    expect(await findPngProblem(before(makeChunk('tRNS', Buffer.alloc(6))))).toBeNull();
    const grey = await greyPng();
    expect(await findPngProblem(insertChunks(grey, 'IDAT', makeChunk('tRNS', Buffer.alloc(1))))).toMatch('(2 bytes of data needed');
    expect(await findPngProblem(insertChunks(grey, 'IDAT', makeChunk('tRNS', Buffer.alloc(2))))).toBeNull();
  });

  it('wants cHRM in whole 4-byte values', async () => {
    expect(await findPngProblem(before(makeChunk('cHRM', Buffer.alloc(31))))).toMatch('cHRM');
    expect(await findPngProblem(before(makeChunk('cHRM', Buffer.alloc(32))))).toBeNull();
  });

  it('refuses an iCCP chunk Pillow cannot parse, not one whose profile is garbage', async () => {
    expect(await findPngProblem(before(makeChunk('iCCP', Buffer.alloc(0))))).toMatch('iCCP chunk is empty');
    expect(await findPngProblem(before(makeChunk('iCCP', Buffer.from('no terminator'))))).toMatch('no profile name');
    expect(await findPngProblem(before(makeChunk('iCCP', Buffer.from('icc\0\0not zlib'))))).toBeNull();
  });
});

describe('findPngProblem: compressed metadata', () => {
  it('refuses a zTXt chunk of an unknown compression method', async () => {
    expect(await findPngProblem(before(zText(10, 1)))).toMatch('its zTXt chunk uses compression method 1');
    expect(await findPngProblem(before(makeChunk('zTXt', Buffer.from('Comment\0\0not zlib'))))).toBeNull();
  });

  it('refuses compressed chunks that unpack past Pillow’s 1 MiB, wherever they are', async () => {
    const over = maxTextChunkBytes + 1;
    expect(await findPngProblem(before(zText(maxTextChunkBytes - 1024)))).toBeNull();
    expect(await findPngProblem(before(zText(over)))).toMatch('its zTXt chunk unpacks to more than 1 MiB');
    expect(await findPngProblem(after(zText(over)))).toMatch('its zTXt chunk unpacks to more than 1 MiB');
    const iText = makeChunk('iTXt', Buffer.concat([Buffer.from('Comment\0\x01\x00en\0\0'), packed(over)]));
    expect(await findPngProblem(before(iText))).toMatch('its iTXt chunk unpacks to more than 1 MiB');
    const profile = makeChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0'), packed(over)]));
    expect(await findPngProblem(before(profile))).toMatch('its iCCP chunk unpacks to more than 1 MiB');
  });

  it('unpacks at most 64 compressed chunks, so at most 64 MiB, however the metadata is split', async () => {
    const chunks = Array.from({ length: maxCompressedChunks + 1 }, () => zText(16));
    expect(await findPngProblem(before(...chunks))).toBe('it has more than 64 compressed metadata chunks');
    expect(await findPngProblem(before(...chunks.slice(1)))).toBeNull();
  });

  it('counts streams zlib refuses after inflating them: 200 of 1 MiB each are refused at the 65th', async () => {
    // A stream of zeros with a wrong Adler-32: zlib inflates all of it, then fails. Pillow keeps an empty text.
    const stream = Buffer.from(deflateSync(Buffer.alloc(maxTextChunkBytes - 1), { level: 9 }));
    stream[stream.length - 1] = (stream[stream.length - 1] ?? 0) ^ 0xff;
    const bomb = makeChunk('zTXt', Buffer.concat([Buffer.from('Comment\0'), Buffer.from([0]), stream]));
    expect(await findPngProblem(before(bomb))).toBeNull();
    expect(await findPngProblem(before(...Array.from({ length: 200 }, () => bomb)))).toBe('it has more than 64 compressed metadata chunks');
  });

  it('walks at most 1,000 metadata chunks: a million empty ones are refused, not walked', async () => {
    const empty = makeChunk('abcd', Buffer.alloc(0));
    expect(await findPngProblem(before(...Array.from({ length: maxMetadataChunks - 10 }, () => empty)))).toBeNull();
    const flood = before(Buffer.concat(Array.from({ length: 1_000_000 }, () => empty)));
    expect(await findPngProblem(flood)).toBe('it has more than 1000 metadata chunks');
  });

  it('counts plain and compressed text together against Pillow’s 64 MiB', async () => {
    const plain = text('Comment', 'x'.repeat(maxTextBytes / 2 + 1024));
    const compressed = Array.from({ length: maxTextBytes / 2 / maxTextChunkBytes }, () => zText(maxTextChunkBytes));
    expect(await findPngProblem(before(plain, ...compressed))).toMatch('its text chunks hold more than 64 MiB of text');
  });
});
