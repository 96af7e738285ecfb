/**
 * @module node/backends/comfyui/masked-area
 *
 * Inpainting "only the masked area" (`inpaint_area: 1`, A1111's "inpaint at
 * full resolution") for ComfyUI, whose core has no such node, as A1111 does
 * it: the node crops the masked area of the original at its own size (its
 * bounding box, 32 pixels of padding, widened to the task's aspect ratio as
 * A1111's `expand_crop_region` does), and the control images fitted to the
 * original the same way (as the ControlNet extension does); it scales the
 * crops to the task's size for the graph, then scales the result back and
 * pastes it over the original with the soft mask, once. The masked area is
 * worked on at the task's full resolution, so small areas (a face) get their
 * detail, and the answer is the original picture, at its own size.
 */
import sharp from 'sharp';
import type { Size } from './input-images.js';

/** A1111's `inpaint_full_res_padding` default. */
const PADDING_PX = 32;

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}


/**
 * The region of the mask (grey PNG at the original's size, white = regenerate) it covers, padded and widened to
 * the aspect of `size` (the task's) within the picture; null when it covers nothing.
 */
export async function maskRegion(mask: Buffer, size: Size): Promise<Region | null> {
  const { data, info } = await sharp(mask).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  const picture = { width: info.width, height: info.height };
  let x1 = info.width;
  let y1 = info.height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      if (data[y * info.width + x]! === 0) continue;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x);
      y2 = Math.max(y2, y);
    }
  }
  if (x2 < 0) return null;
  const padded = {
    x1: Math.max(0, x1 - PADDING_PX),
    y1: Math.max(0, y1 - PADDING_PX),
    x2: Math.min(picture.width, x2 + 1 + PADDING_PX),
    y2: Math.min(picture.height, y2 + 1 + PADDING_PX),
  };
  return widenToAspect(padded, size, picture);
}

/** Grows the shorter dimension of the crop so it has the task's aspect ratio, moved back inside the picture. */
function widenToAspect(crop: { x1: number; y1: number; x2: number; y2: number }, size: Size, picture: Size): Region {
  let { x1, y1, x2, y2 } = crop;
  const target = size.width / size.height;
  if ((x2 - x1) / (y2 - y1) > target) {
    const wanted = Math.min(picture.height, Math.round((x2 - x1) / target));
    [y1, y2] = grow(y1, y2, wanted, picture.height);
  } else {
    const wanted = Math.min(picture.width, Math.round((y2 - y1) * target));
    [x1, x2] = grow(x1, x2, wanted, picture.width);
  }
  return { left: x1, top: y1, width: x2 - x1, height: y2 - y1 };
}

function grow(from: number, to: number, wanted: number, limit: number): [number, number] {
  const extra = wanted - (to - from);
  let start = from - Math.floor(extra / 2);
  let end = to + Math.ceil(extra / 2);
  if (start < 0) [start, end] = [0, end - start];
  if (end > limit) [start, end] = [Math.max(0, start - (end - limit)), limit];
  return [start, end];
}

/** The crop of `image` (at the original's size) in `region`, scaled to `size`: what the graph works on. */
export function cropToArea(image: Buffer, region: Region, size: Size): Promise<Buffer> {
  return sharp(image).extract(region).resize({ ...size, fit: 'fill' }).png({ compressionLevel: 1 }).toBuffer();
}

/** The result of the cropped area scaled back into `region` of the init image, inside the mask only. */
export async function pasteBack(init: Buffer, mask: Buffer, result: Buffer, region: Region): Promise<Buffer> {
  const { width, height } = region;
  const area = await sharp(result).resize({ width, height, fit: 'fill' }).removeAlpha().raw().toBuffer();
  const weights = await sharp(mask).extract(region).extractChannel(0).raw().toBuffer();
  const { data: original, info } = await sharp(init).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const weight = weights[y * width + x]! / 255;
      if (weight === 0) continue;
      const to = ((region.top + y) * info.width + region.left + x) * 3;
      const from = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) original[to + c] = Math.round(original[to + c]! + (area[from + c]! - original[to + c]!) * weight);
    }
  }
  return sharp(original, { raw: { width: info.width, height: info.height, channels: 3 } }).png().toBuffer();
}
