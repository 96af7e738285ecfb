import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { postJson, rawRgb, sizeOf, solidPng, splitPng } from './sandbox-helpers.js';

describe('sandbox interrogate and extras', () => {
  let sandbox: Sandbox;
  let red: string;
  beforeAll(async () => {
    sandbox = await startSandbox({ speed: Infinity });
    red = await solidPng(64, 48, [230, 20, 20]);
  });
  afterAll(() => sandbox.close());

  it('captions from the image: CLIP a sentence, DeepDanbooru comma-separated tags', async () => {
    const clip = await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image: red });
    expect(clip.status).toBe(200);
    expect(clip.body.caption).toContain('64x48');
    expect(clip.body.caption).toContain('red');
    const blue = await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image: await solidPng(64, 48, [10, 20, 230]) });
    expect(blue.body.caption).not.toBe(clip.body.caption);
    const tags = await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image: red, model: 'deepdanbooru' });
    expect(tags.body.caption.split(', ')).toContain('red_theme');
  });

  it('answers 404 for an unknown model or a missing image, 500 for a bad one', async () => {
    expect((await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image: red, model: 'blip' })).body.detail).toBe('Model not found');
    expect((await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { model: 'clip' })).body.detail).toBe('Image not found');
    expect((await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image: 'AAAA' })).status).toBe(500);
    expect((await postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image: red, mode: 'fast' })).status).toBe(422);
  });

  it('upscales by a factor to multiples of 8, nearest keeping hard edges', async () => {
    const split = await splitPng(16, 16, [255, 255, 255], [0, 0, 0]);
    const res = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: split, upscaling_resize: 2, upscaler_1: 'Nearest' });
    expect(res.status).toBe(200);
    expect(res.body.html_info).toContain('Nearest');
    const out = await rawRgb(res.body.image);
    expect([out.width, out.height]).toEqual([32, 32]);
    const values = new Set(out.data);
    expect([...values].sort((a, b) => a - b)).toEqual([0, 255]);
    const lanczos = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: split, upscaling_resize: 2, upscaler_1: 'Lanczos' });
    expect(new Set((await rawRgb(lanczos.body.image)).data).size).toBeGreaterThan(2);
    const odd = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: red, upscaling_resize: 1.5, upscaler_1: 'ESRGAN_4x' });
    expect(await sizeOf(odd.body.image)).toMatchObject({ width: 96, height: 72 });
  });

  it('upscales to a size, cropped to exactly that size', async () => {
    const res = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, {
      image: red,
      resize_mode: 1,
      upscaling_resize_w: 100,
      upscaling_resize_h: 100,
      upscaler_1: 'R-ESRGAN 4x+',
    });
    expect(await sizeOf(res.body.image)).toMatchObject({ width: 100, height: 100 });
  });

  it('refuses unknown upscalers, out-of-range values and a missing image', async () => {
    const unknown = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: red, upscaler_1: 'ESRGAN 4x' });
    expect(unknown.body).toMatchObject({ error: 'AssertionError', errors: 'could not find upscaler named ESRGAN 4x' });
    expect((await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: red, upscaler_2: 'foo' })).status).toBe(500);
    const mode = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: red, resize_mode: 2 });
    expect(mode.body.detail[0]).toMatchObject({ loc: ['body', 'resize_mode'], type: 'value_error.const' });
    const visibility = await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { image: red, gfpgan_visibility: 1.5 });
    expect(visibility.body.detail[0].type).toBe('value_error.number.not_le');
    expect((await postJson(`${sandbox.url}/sdapi/v1/extra-single-image`, { upscaling_resize: 2 })).body.detail).toBe('Invalid encoded image');
  });
});
