import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { postJson, rawRgb, sizeOf, solidPng, splitPng, type PostJson } from './sandbox-helpers.js';

const SIDE = 64;
const GREY = 128;

/** Share of pixels in columns [from, to) whose RGB differs from the init image's grey. */
function changedShare(image: { data: Buffer; width: number; height: number }, from: number, to: number): number {
  let changed = 0;
  let total = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = from; x < to; x++) {
      const at = (y * image.width + x) * 3;
      total++;
      if (image.data[at] !== GREY || image.data[at + 1] !== GREY || image.data[at + 2] !== GREY) changed++;
    }
  }
  return changed / total;
}

describe('sandbox img2img', () => {
  let sandbox: Sandbox;
  let init: string;
  let img2img: PostJson<Record<string, unknown>>;
  beforeAll(async () => {
    sandbox = await startSandbox({ speed: Infinity });
    init = await solidPng(SIDE, SIDE, [GREY, GREY, GREY]);
    img2img = (body) =>
      postJson(`${sandbox.url}/sdapi/v1/img2img`, { width: SIDE, height: SIDE, steps: 4, seed: 1, init_images: [init], ...body });
  });
  afterAll(() => sandbox.close());

  it('answers 404 without init images and 500 for images that do not decode', async () => {
    expect((await img2img({ init_images: null })).body).toMatchObject({ error: 'HTTPException', detail: 'Init image not found' });
    expect((await img2img({ init_images: undefined })).status).toBe(404);
    const gif = (await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).gif().toBuffer()).toString('base64');
    // Not base64; a real GIF (not an accepted format); a truncated PNG.
    for (const bad of ['not base64!', gif, 'iVBORw0KGgo=']) {
      expect(await img2img({ init_images: [bad] })).toMatchObject({ status: 500, body: { detail: 'Invalid encoded image' } });
    }
    expect((await img2img({ mask: 'nope' })).status).toBe(500);
    expect((await img2img({ enable_hr: true })).status).toBe(422);
  });

  it('accepts a data: URL and derives the output from the init image by denoising_strength', async () => {
    const light = await img2img({ init_images: [`data:image/png;base64,${init}`], denoising_strength: 0.05 });
    const heavy = await img2img({ denoising_strength: 1 });
    expect(light.status).toBe(200);
    const distance = async (b64: string) => {
      const { data } = await rawRgb(b64);
      return data.reduce((sum, v) => sum + Math.abs(v - GREY), 0) / data.length;
    };
    expect(await distance(light.body.images[0])).toBeLessThan((await distance(heavy.body.images[0])) / 5);
    expect(JSON.parse(light.body.info).infotexts[0]).toContain('Denoising strength: 0.05');
    expect(light.body.parameters.init_images).toBeNull();
  });

  it('resizes the init image to width×height', async () => {
    const res = await img2img({ width: 128, height: 96, resize_mode: 1 });
    expect(await sizeOf(res.body.images[0])).toMatchObject({ width: 128, height: 96 });
  });

  it('changes only the white pixels of the mask when inpainting_mask_invert is 0', async () => {
    const mask = await splitPng(SIDE, SIDE, [255, 255, 255], [0, 0, 0]);
    const res = await img2img({ mask, mask_blur: 0, denoising_strength: 1, inpainting_mask_invert: 0 });
    const out = await rawRgb(res.body.images[0]);
    expect(changedShare(out, 0, SIDE / 2 - 2)).toBeGreaterThan(0.9);
    expect(changedShare(out, SIDE / 2 + 2, SIDE)).toBe(0);
  });

  it('changes only the black pixels when inpainting_mask_invert is 1', async () => {
    const mask = await splitPng(SIDE, SIDE, [255, 255, 255], [0, 0, 0]);
    const res = await img2img({ mask, mask_blur: 0, denoising_strength: 1, inpainting_mask_invert: 1 });
    const out = await rawRgb(res.body.images[0]);
    expect(changedShare(out, 0, SIDE / 2 - 2)).toBe(0);
    expect(changedShare(out, SIDE / 2 + 2, SIDE)).toBeGreaterThan(0.9);
  });

  it('reads a mask that is not fully opaque from its alpha channel', async () => {
    // Black RGB everywhere: by luminance nothing would change; by alpha the left half does.
    const mask = await splitPng(SIDE, SIDE, [0, 0, 0, 255], [0, 0, 0, 0]);
    const res = await img2img({ mask, mask_blur: 0, denoising_strength: 1 });
    const out = await rawRgb(res.body.images[0]);
    expect(changedShare(out, 0, SIDE / 2 - 2)).toBeGreaterThan(0.9);
    expect(changedShare(out, SIDE / 2 + 2, SIDE)).toBe(0);
  });

  it('inpaints only the masked area (the API\'s default): the init image at its own size, changed inside the mask', async () => {
    // A 96×48 init and a 64² task: the result is the original's 96×48 with its left half worked on.
    const wide = await solidPng(96, 48, [GREY, GREY, GREY]);
    const mask = await splitPng(96, 48, [255, 255, 255], [0, 0, 0]);
    const res = await img2img({ init_images: [wide], mask, mask_blur: 0, denoising_strength: 1 });
    const out = await rawRgb(res.body.images[0]);
    expect([out.width, out.height]).toEqual([96, 48]);
    expect(changedShare(out, 0, 46)).toBeGreaterThan(0.9);
    expect(changedShare(out, 50, 96)).toBe(0);
    // The whole picture instead: the task's size.
    expect(await sizeOf((await img2img({ init_images: [wide], mask, inpaint_full_res: false })).body.images[0])).toMatchObject({ width: 64, height: 64 });
    // A mask that covers nothing: A1111 drops it and works on the whole picture, at the task's size.
    const none = await solidPng(96, 48, [0, 0, 0]);
    const plain = await rawRgb((await img2img({ init_images: [wide], mask: none, denoising_strength: 1 })).body.images[0]);
    expect([plain.width, plain.height]).toEqual([64, 64]);
    expect(changedShare(plain, 0, 64)).toBeGreaterThan(0.9);
  });

  it('turns an init image upright as its EXIF orientation says', async () => {
    // Stored 96×48 with orientation 6 (turn a quarter clockwise): upright it is 48×96.
    const rotated = (await sharp({ create: { width: 96, height: 48, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).jpeg().withMetadata({ orientation: 6 }).toBuffer()).toString('base64');
    const mask = await solidPng(48, 96, [255, 255, 255]);
    const res = await img2img({ init_images: [rotated], mask, denoising_strength: 0.5 });
    expect(await sizeOf(res.body.images[0])).toMatchObject({ width: 48, height: 96 });
  });

  it('refuses more init images than batch_size and txt2img-only fields', async () => {
    const res = await img2img({ init_images: [init, init] });
    expect(res.body).toMatchObject({ error: 'RuntimeError', errors: expect.stringContaining('bad number of images') });
    expect((await img2img({ hr_scale: 2 })).body.detail[0].type).toBe('value_error.extra');
    expect((await img2img({ inpainting_mask_invert: 2 })).body.detail[0].type).toBe('value_error.number.not_le');
  });
});
