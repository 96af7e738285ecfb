/**
 * The images a ComfyUI node prepares for its graph: fitted to the task's size
 * by each resize mode (resize-and-fill drawing the edge pixels out, as A1111
 * does), the inpainting mask read as A1111 reads it, and EXIF orientation.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { fittedImage, regenerationMask, sourceImage, uprightImage } from '../../src/node/backends/comfyui/input-images.js';

/** 100×50: left half red, right half green. */
async function wide(): Promise<string> {
  const green = await sharp({ create: { width: 50, height: 50, channels: 3, background: { r: 0, g: 255, b: 0 } } }).png().toBuffer();
  return (await sharp({ create: { width: 100, height: 50, channels: 3, background: { r: 255, g: 0, b: 0 } } }).composite([{ input: green, left: 50, top: 0 }]).png().toBuffer()).toString('base64');
}

async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { size: [info.width, info.height], at: (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + Math.min(3, info.channels))] };
}

describe('fitting to the task size', () => {
  it('resize and fill: fitted inside, the bands above and below drawn out from the edge rows (no black)', async () => {
    const { size, at } = await pixels(await fittedImage(await wide(), { width: 64, height: 64 }, 'resize_and_fill', 'init image'));
    expect(size).toEqual([64, 64]);
    expect(at(2, 0)).toEqual([255, 0, 0]);
    expect(at(61, 63)).toEqual([0, 255, 0]);
  });

  it('crop and resize covers (the middle kept), just resize stretches', async () => {
    const cropped = await pixels(await fittedImage(await wide(), { width: 64, height: 64 }, 'crop_and_resize', 'init image'));
    expect([cropped.at(0, 32), cropped.at(63, 32)]).toEqual([[255, 0, 0], [0, 255, 0]]);
    expect((await pixels(await fittedImage(await wide(), { width: 32, height: 96 }, 'just_resize', 'init image'))).size).toEqual([32, 96]);
  });

  it('the mask is fitted the same way, and inverted for "regenerate the unmasked part"', async () => {
    const mask = (await sharp({ create: { width: 100, height: 50, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer()).toString('base64');
    const kept = await pixels(await regenerationMask({ mask, maskBlur: 0, regenerate: 'masked', area: 'whole' }, { width: 64, height: 64 }, 'resize_and_fill'));
    expect(kept.size).toEqual([64, 64]);
    expect(kept.at(0, 0)[0]).toBe(255);
    const inverted = await pixels(await regenerationMask({ mask, maskBlur: 0, regenerate: 'unmasked', area: 'whole' }, { width: 64, height: 64 }, 'just_resize'));
    expect(inverted.at(30, 30)[0]).toBe(0);
  });
});

describe('EXIF orientation', () => {
  it('turns an init image upright (fitted, or at its own size for the masked area only); sends an upscale source as it came, for LoadImage to turn', async () => {
    const rotated = await sharp({ create: { width: 80, height: 40, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const fitted = await fittedImage(rotated.toString('base64'), { width: 40, height: 80 }, 'crop_and_resize', 'init image');
    expect((await sharp(fitted).metadata()).orientation).toBeUndefined();
    const upright = await uprightImage(rotated.toString('base64'), 'init image');
    expect(upright.size).toEqual({ width: 40, height: 80 });
    expect(await sharp(upright.png).metadata()).toMatchObject({ width: 40, height: 80, format: 'png' });
    expect(sourceImage(rotated.toString('base64'), 'image').equals(rotated)).toBe(true);
    expect(() => sourceImage(Buffer.from('not an image').toString('base64'), 'image')).toThrow(/not a PNG, JPEG or WebP/);
  });
});
