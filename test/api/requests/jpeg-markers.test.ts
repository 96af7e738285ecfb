/**
 * The libjpeg rules of api/requests/jpeg-markers.ts. Each refused case makes
 * Pillow 9.4 raise "broken data stream" while libvips decodes the image; each
 * accepted one loads in both (checked when the rules were written).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { findJpegProblem } from '../../../src/api/requests/jpeg-markers.js';
import { noisyImage } from './damaged-images.js';

let jpeg: Buffer = Buffer.alloc(0);
let progressive: Buffer = Buffer.alloc(0);
beforeAll(async () => {
  jpeg = await noisyImage('jpeg');
  progressive = await noisyImage('jpeg', 64, 48, { progressive: true });
});

/** `image` with `bytes` right before its EOI marker. */
const beforeEnd = (image: Buffer, bytes: number[]) => Buffer.concat([image.subarray(0, image.length - 2), Buffer.from(bytes), image.subarray(image.length - 2)]);

describe('findJpegProblem', () => {
  it('accepts a whole JPEG, and one whose scan is followed by what libjpeg skips', () => {
    expect(findJpegProblem(jpeg)).toBeNull();
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xfe, 0, 4, 0x41, 0x42]))).toBeNull(); // a comment
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xd3]))).toBeNull(); // a restart marker
    expect(findJpegProblem(beforeEnd(jpeg, [1, 2, 3]))).toBeNull(); // stray bytes: a libjpeg warning
    expect(findJpegProblem(jpeg.subarray(0, jpeg.length - 2))).toBeNull(); // no EOI: libjpeg supplies one
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xfe, 0x7f, 0xff]).subarray(0, jpeg.length + 2))).toBeNull(); // cut in a segment
  });

  it('refuses a marker JPEG does not define, after the scan or inside it', () => {
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0x02]))).toMatch('it is corrupt: marker 0xFF02 in or after its pixel data is not one JPEG defines');
    const scan = jpeg.indexOf(Buffer.from([0xff, 0xda])) + 300;
    const inside = Buffer.concat([jpeg.subarray(0, scan), Buffer.from([0xff, 0x11]), jpeg.subarray(scan)]);
    expect(findJpegProblem(inside)).toMatch('marker 0xFF11');
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xc8]))).toMatch('a second frame header (0xFFC8)');
  });

  it('refuses a second image, frame or scan in a single-scan JPEG', () => {
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xd8]))).toMatch('a second start-of-image marker');
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xc0, 0, 17, 8, 0, 48, 0, 64, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]))).toMatch('a second frame header (0xFFC0)');
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0]))).toMatch('a second scan');
  });

  it('checks tables after the scan as libjpeg reads them', () => {
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xc4, 0, 5, 0x17, 0, 0]))).toMatch('a broken DHT (Huffman table) segment');
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xdb, 0, 3, 0x17]))).toMatch('a broken DQT (quantization table) segment');
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xdd, 0, 5, 0, 1, 0]))).toMatch('a broken DRI (restart interval) segment');
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xdd, 0, 4, 0, 0]))).toBeNull();
    expect(findJpegProblem(beforeEnd(jpeg, [0xff, 0xdb, 0, 67, 0x01, ...Array.from({ length: 64 }, () => 1)]))).toBeNull();
  });

  it('leaves progressive JPEGs to libvips, which reads every scan before the first row', () => {
    expect(findJpegProblem(beforeEnd(progressive, [0xff, 0x02]))).toBeNull();
  });
});
