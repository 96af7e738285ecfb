import { beforeAll, describe, expect, it } from 'vitest';
import { parseImg2ImgRequest } from '../../../src/api/requests/index.js';
import { makeContext, sha } from './context-stub.js';
import { expectRejected } from './expect-error.js';
import { imageBase64 } from './image-fixtures.js';

const ctx = makeContext();
let png = '';
let jpeg = '';
beforeAll(async () => {
  png = await imageBase64('png', 40, 30);
  jpeg = await imageBase64('jpeg', 40, 30);
});
const parse = (extra: Record<string, unknown>, context = ctx) =>
  parseImg2ImgRequest({ model: sha.chilloutMix, init_image: png, ...extra }, context);

describe('parseImg2ImgRequest', () => {
  it('applies the img2img defaults', async () => {
    const spec = await parse({});
    expect(spec).toMatchObject({
      kind: 'img2img',
      initImage: png,
      resizeMode: 'just_resize',
      denoisingStrength: 0.75,
      inpaint: null,
      controlNet: [],
      width: 512,
      height: 512,
      sampler: 'Euler a',
      steps: 20,
      cfgScale: 7,
      seed: -1,
    });
  });

  it('requires init_image', async () => {
    await expectRejected(() => parseImg2ImgRequest({ model: sha.chilloutMix }, ctx), { field: 'init_image', message: ['is required'] });
    await expectRejected(() => parse({ init_image: 12 }), { field: 'init_image', message: ['must be a base64 string'] });
  });

  it('takes denoising_strength in [0, 1]', async () => {
    expect((await parse({ denoising_strength: 0 })).denoisingStrength).toBe(0);
    expect((await parse({ denoising_strength: 1 })).denoisingStrength).toBe(1);
    await expectRejected(() => parse({ denoising_strength: 1.01 }), { field: 'denoising_strength', message: ['from 0 to 1, got 1.01'] });
    await expectRejected(() => parse({ denoising_strength: -0.01 }), { field: 'denoising_strength' });
  });

  it('maps resize_mode and rejects other codes', async () => {
    expect((await parse({ resize_mode: 1 })).resizeMode).toBe('crop_and_resize');
    expect((await parse({ resize_mode: 2 })).resizeMode).toBe('resize_and_fill');
    await expectRejected(() => parse({ resize_mode: 3 }), { field: 'resize_mode', message: ['got 3'] });
  });

  it('rejects upscale with a message saying it is for txt2img', async () => {
    await expectRejected(() => parse({ upscale: { scale: 2 } }), {
      id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD',
      field: 'upscale',
      message: ['only taken by txt2img'],
    });
  });

  it('checks cheap fields before decoding images', async () => {
    // A bad image and a bad steps value: the cheap steps error is the one reported.
    await expectRejected(() => parse({ init_image: 'bm90IGFuIGltYWdl', steps: 0 }), { field: 'steps' });
    await expectRejected(() => parse({ init_image: 'bm90IGFuIGltYWdl', inpaint: { mask: png, mask_blur: 65 } }), {
      field: 'inpaint.mask_blur',
    });
  });

  it('keeps the init image\'s size, upright as its EXIF orientation turns it (as the WebUI reads it)', async () => {
    expect(await parse({})).toMatchObject({ initWidth: 40, initHeight: 30 });
    const sharp = (await import('sharp')).default;
    const portrait = (await sharp({ create: { width: 40, height: 30, channels: 3, background: '#888' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer()).toString('base64');
    expect(await parse({ init_image: portrait })).toMatchObject({ initWidth: 30, initHeight: 40 });
  });

  it('stores the init image as clean base64 and checks it against maxInputSide', async () => {
    expect((await parse({ init_image: `data:image/jpeg;base64,${jpeg}` })).initImage).toBe(jpeg);
    await expectRejected(() => parse({}, makeContext({ maxInputSide: 39 })), {
      id: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'init_image',
      message: ['is 40×30 pixels; each side may be at most 39'],
    });
  });
});

describe('parseImg2ImgRequest: inpaint', () => {
  it('applies the inpaint defaults: regenerate the masked (white) pixels, whole picture', async () => {
    const spec = await parse({ inpaint: { mask: jpeg } });
    expect(spec.inpaint).toEqual({ mask: jpeg, maskBlur: 0, regenerate: 'masked', area: 'whole' });
  });

  it('maps mask_mode 1 to unmasked and inpaint_area 1 to masked_only', async () => {
    const spec = await parse({ inpaint: { mask: png, mask_mode: 1, inpaint_area: 1, mask_blur: 64 } });
    expect(spec.inpaint).toMatchObject({ regenerate: 'unmasked', area: 'masked_only', maskBlur: 64 });
  });

  it('rejects out-of-range inpaint codes and blur', async () => {
    await expectRejected(() => parse({ inpaint: { mask: png, mask_mode: 2 } }), {
      field: 'inpaint.mask_mode',
      message: ['must be 0 (regenerate the masked (white) pixels) or 1 (regenerate the unmasked (black) pixels), got 2'],
    });
    await expectRejected(() => parse({ inpaint: { mask: png, inpaint_area: -1 } }), { field: 'inpaint.inpaint_area' });
    await expectRejected(() => parse({ inpaint: { mask: png, mask_blur: 65 } }), { field: 'inpaint.mask_blur', message: ['from 0 to 64'] });
    await expectRejected(() => parse({ inpaint: { mask: png, mask_blur: 1.5 } }), { field: 'inpaint.mask_blur', message: ['integer'] });
    await expectRejected(() => parse({ inpaint: { mask: png, mask_blur: -1 } }), { field: 'inpaint.mask_blur' });
  });

  it('requires the mask and rejects unknown inpaint fields', async () => {
    await expectRejected(() => parse({ inpaint: {} }), { field: 'inpaint.mask', message: ['is required'] });
    await expectRejected(() => parse({ inpaint: { mask: png, mask_invert: 1 } }), {
      id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD',
      field: 'inpaint.mask_invert',
    });
    await expectRejected(() => parse({ inpaint: { mask: 'not base64!' } }), { id: 'DAN_ERR_REQUEST_INVALID_IMAGE', field: 'inpaint.mask' });
  });
});
