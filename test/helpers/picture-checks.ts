/**
 * Requests a test makes of any network, whatever kind of node serves it: inpainting only the masked area of a
 * picture not of the task's size, and an upscale of a photo stored sideways (EXIF orientation), each checked
 * as the WebUI answers them (the picture at its own size; the photo upright).
 */
import sharp from 'sharp';
import { expect } from 'vitest';
import { halfMaskBase64, imageInfo, pngBase64, postJson } from './api-client.js';

export async function expectOnlyMaskedAndUpright(gateway: string, upscaler: string): Promise<void> {
  // A 200×150 picture, a 128² task: the left half is worked on at 128² and pasted back into the 200×150 original.
  const { status, body } = await postJson(`${gateway}/api/sd/img2img`, {
    init_image: await pngBase64(200, 150, { r: 255, g: 0, b: 0 }), prompt: 'blue sky', model: 'clarity', width: 128, height: 128, denoising_strength: 1,
    inpaint: { mask: await halfMaskBase64(200, 150), mask_blur: 0, mask_mode: 0, inpaint_area: 1 },
  });
  expect(status, JSON.stringify(body)).toBe(200);
  const { data, info } = await sharp(Buffer.from(body.data.images[0], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([200, 150]);
  const pixel = (x: number, y: number) => [...data.subarray((y * 200 + x) * 3, (y * 200 + x) * 3 + 3)];
  expect(pixel(190, 75)).toEqual([255, 0, 0]);
  expect(pixel(20, 75)).not.toEqual([255, 0, 0]);
  // Stored 120×60 with EXIF orientation 6: upright (as the WebUI reads it) 60×120, so twice that is 120×240.
  const photo = await sharp({ create: { width: 120, height: 60, channels: 3, background: { r: 90, g: 90, b: 200 } } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const up = await postJson(`${gateway}/api/sd/upscale`, { image: photo.toString('base64'), upscalingRate: 2, upscaler });
  expect(up.status, JSON.stringify(up.body)).toBe(200);
  expect(await imageInfo(up.body.data.images[0])).toMatchObject({ width: 120, height: 240 });
}

/**
 * How much redder than blue a picture is on average (red minus blue, 0–255): an edit of a red image keeps much
 * of its red (the sandbox blends a third of its own pattern in), a picture drawn without it does not.
 */
export async function rednessOf(png: Buffer): Promise<number> {
  const { data } = await sharp(png).removeAlpha().resize(64, 64, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  let redness = 0;
  for (let i = 0; i < data.length; i += 3) redness += data[i]! - data[i + 2]!;
  return redness / (data.length / 3);
}
