/**
 * How a picture is turned upright, read as Pillow's `exif_transpose` reads it (what A1111 and ComfyUI use):
 * EXIF's orientation, else XMP's; and each of the eight turned as sharp turns an EXIF one.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { orientationOf, uprighted, uprightOf } from '../../src/util/image-orientation.js';

const xmp = (orientation: string) => `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" ${orientation}/></rdf:RDF></x:xmpmeta>`;

describe('orientationOf', () => {
  it('reads EXIF first, else XMP (an attribute or an element), else as stored', () => {
    expect(orientationOf({ orientation: 6 })).toBe(6);
    expect(orientationOf({ xmp: Buffer.from(xmp('tiff:Orientation="8"')) })).toBe(8);
    expect(orientationOf({ xmp: Buffer.from('<tiff:Orientation>3</tiff:Orientation>') })).toBe(3);
    expect(orientationOf({ orientation: 2, xmp: Buffer.from(xmp('tiff:Orientation="8"')) })).toBe(2);
    expect(orientationOf({})).toBe(1);
    expect(orientationOf({ xmp: Buffer.from(xmp('tiff:Orientation="9"')) })).toBe(1);
  });
});

describe('uprighted', () => {
  it('turns each of the eight orientations as sharp turns an EXIF one', async () => {
    const raw = Buffer.from(Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 23) % 256));
    const png = await sharp(raw, { raw: { width: 4, height: 3, channels: 3 } }).png().toBuffer();
    for (let orientation = 1; orientation <= 8; orientation++) {
      const withExif = await sharp(png).withMetadata({ orientation }).png().toBuffer();
      const bySharp = await sharp(withExif).rotate().raw().toBuffer();
      expect((await uprighted(sharp(png), orientation).raw().toBuffer()).equals(bySharp), `orientation ${orientation}`).toBe(true);
    }
  });

  it("turns a JPEG whose orientation is in its XMP alone (sharp's own rotate leaves it as stored)", async () => {
    const jpeg = await sharp({ create: { width: 60, height: 40, channels: 3, background: '#888' } }).jpeg().withXmp(xmp('tiff:Orientation="6"')).toBuffer();
    expect(await sharp(await sharp(jpeg).rotate().toBuffer()).metadata()).toMatchObject({ width: 60, height: 40 });
    expect((await (await uprightOf(sharp(jpeg))).toBuffer({ resolveWithObject: true })).info).toMatchObject({ width: 40, height: 60 });
  });
});
