import { beforeAll, describe, expect, it } from 'vitest';
import { parseUpscaleRequest } from '../../../src/api/requests/index.js';
import { makeContext } from './context-stub.js';
import { expectRejected } from './expect-error.js';
import { imageBase64 } from './image-fixtures.js';

const ctx = makeContext();
let png = '';
beforeAll(async () => {
  png = await imageBase64('png', 100, 50);
});
const parse = (extra: Record<string, unknown>, context = ctx) =>
  parseUpscaleRequest({ image: png, upscalingRate: 2, upscaler: 'Lanczos', ...extra }, context);

describe('parseUpscaleRequest', () => {
  it('defaults to no second upscaler and fills the source size', async () => {
    expect(await parse({})).toEqual({
      kind: 'upscale',
      image: png,
      scale: 2,
      upscaler: 'Lanczos',
      upscaler2: null,
      upscaler2Visibility: 0,
      sourceWidth: 100,
      sourceHeight: 50,
    });
  });

  it('reads the source size upright, as the WebUI turns a photo by its EXIF orientation', async () => {
    const sharp = (await import('sharp')).default;
    const portrait = (await sharp({ create: { width: 100, height: 50, channels: 3, background: '#888' } }).jpeg().withMetadata({ orientation: 8 }).toBuffer()).toString('base64');
    expect(await parse({ image: portrait })).toMatchObject({ sourceWidth: 50, sourceHeight: 100 });
    // Turned by its XMP alone, which Pillow (the WebUI's) reads too.
    const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>';
    const byXmp = (await sharp({ create: { width: 100, height: 50, channels: 3, background: '#888' } }).jpeg().withXmp(xmp).toBuffer()).toString('base64');
    expect(await parse({ image: byXmp })).toMatchObject({ sourceWidth: 50, sourceHeight: 100 });
    const mirrored = (await sharp({ create: { width: 100, height: 50, channels: 3, background: '#888' } }).jpeg().withMetadata({ orientation: 2 }).toBuffer()).toString('base64');
    expect(await parse({ image: mirrored })).toMatchObject({ sourceWidth: 100, sourceHeight: 50 });
  });

  it('takes upscalingRate in (1, 8]', async () => {
    expect((await parse({ upscalingRate: 8 })).scale).toBe(8);
    expect((await parse({ upscalingRate: 1.001 })).scale).toBe(1.001);
    for (const bad of [1, 8.01, 0]) {
      await expectRejected(() => parse({ upscalingRate: bad }), {
        field: 'upscalingRate',
        message: [`greater than 1 and at most 8, got ${bad}`],
      });
    }
    await expectRejected(() => parse({ upscalingRate: undefined }), { field: 'upscalingRate', message: ['is required'] });
    await expectRejected(() => parse({ upscalingRate: '2' }), { field: 'upscalingRate', message: ['(a string)'] });
  });

  it('requires a known upscaler, matched by name key with the client spelling kept', async () => {
    expect((await parse({ upscaler: 'swinir_4x' })).upscaler).toBe('swinir_4x');
    await expectRejected(() => parse({ upscaler: undefined }), { field: 'upscaler', message: ['is required'] });
    await expectRejected(() => parse({ upscaler: 'Neareast' }), { field: 'upscaler', message: ['"Neareast" is not a supported upscaler', 'Nearest'] });
  });

  it('does not take None as the first upscaler', async () => {
    const error = await expectRejected(() => parse({ upscaler: 'None' }), { field: 'upscaler' });
    expect(error.message).not.toMatch(/allowed: None/);
  });

  it('blends a second upscaler with upscaler2_factor in [0, 1]', async () => {
    expect(await parse({ upscaler2: 'R-ESRGAN 4x+', upscaler2_factor: 1 })).toMatchObject({ upscaler2: 'R-ESRGAN 4x+', upscaler2Visibility: 1 });
    expect(await parse({ upscaler2: 'Nearest', upscaler2_factor: 0 })).toMatchObject({ upscaler2: 'Nearest', upscaler2Visibility: 0 });
    expect((await parse({ upscaler2: 'Nearest' })).upscaler2Visibility).toBe(0);
    await expectRejected(() => parse({ upscaler2: 'Nearest', upscaler2_factor: 1.5 }), { field: 'upscaler2_factor', message: ['from 0 to 1'] });
    await expectRejected(() => parse({ upscaler2_factor: -0.1 }), { field: 'upscaler2_factor' });
    await expectRejected(() => parse({ upscaler2: 'Bicubic' }), { field: 'upscaler2', message: ['allowed: None, Lanczos'] });
  });

  it('treats upscaler2 "None" (any case) as no second upscaler and ignores the factor', async () => {
    expect(await parse({ upscaler2: 'none', upscaler2_factor: 0.7 })).toMatchObject({ upscaler2: null, upscaler2Visibility: 0 });
  });

  it('limits the pixels of the result, floor(w·rate) × floor(h·rate)', async () => {
    // 100×50 at rate 2 is 200×100 = 20000 pixels.
    expect((await parse({}, makeContext({ maxUpscalePixels: 20000 }))).scale).toBe(2);
    await expectRejected(() => parse({}, makeContext({ maxUpscalePixels: 19999 })), {
      field: 'upscalingRate',
      message: ['200×100 = 20000 pixels', 'at most 19999', 'rate of at most 1.99'],
    });
  });

  it('checks the other fields before decoding the image', async () => {
    await expectRejected(() => parse({ image: 'bm90IGFuIGltYWdl', upscaler2: 'Bicubic' }), { field: 'upscaler2' });
  });

  it('rejects an input image larger than maxInputSide', async () => {
    await expectRejected(() => parse({}, makeContext({ maxInputSide: 99 })), {
      id: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'image',
      message: ['100×50'],
    });
  });
});
