/**
 * @module sandbox/pixels
 *
 * Pixel work on decoded images with sharp: fitting an init image or a mask to
 * the requested size the way A1111's `resize_image` modes do, building the
 * binary inpainting mask (`create_binary_mask`), blending and compositing, and
 * encoding PNGs with an infotext chunk.
 */
import sharp, { type FitEnum } from 'sharp';
import type { DecodedImage } from './image-decoding.js';
import { insertPngText } from './png-text.js';

/** img2img `resize_mode` → sharp fit: 0 just resize, 1 crop and resize, 2 resize and fill, 3 latent just resize. */
const FITS: readonly (keyof FitEnum)[] = ['fill', 'cover', 'contain', 'fill'];
const BLACK = { r: 0, g: 0, b: 0, alpha: 1 };

function fitOf(resizeMode: number): keyof FitEnum {
  return FITS[resizeMode] ?? 'fill';
}

export interface Size {
  width: number;
  height: number;
}

/** A PNG of raw RGB pixels, with A1111's `parameters` text chunk when given. */
export async function encodePng(rgb: Buffer, size: Size, parameters: string | null): Promise<Buffer> {
  const png = await sharp(rgb, { raw: { ...size, channels: 3 } })
    .png({ compressionLevel: 3 })
    .toBuffer();
  return parameters === null ? png : insertPngText(png, 'parameters', parameters);
}

/** Raw RGB of `image` fitted to `size`; alpha is dropped, as PIL's `convert("RGB")` does. */
export async function toRgb(image: DecodedImage, size: Size, resizeMode: number): Promise<Buffer> {
  return sharp(image.data)
    .toColourspace('srgb')
    .removeAlpha()
    .resize({ ...size, fit: fitOf(resizeMode), background: BLACK })
    .raw()
    .toBuffer();
}

export interface MaskOptions {
  resizeMode: number;
  /** `inpainting_mask_invert`: 1 regenerates the black pixels instead of the white ones. */
  invert: boolean;
  /** `mask_round`: threshold at 128 before resizing. */
  round: boolean;
  blurPx: number;
}

/**
 * One byte per pixel, 255 = regenerate. Like A1111's `create_binary_mask`, an
 * RGBA mask whose alpha is not fully opaque is read from its alpha channel;
 * otherwise from its luminance.
 */
export async function toMask(image: DecodedImage, size: Size, options: MaskOptions): Promise<Buffer> {
  const { data, info } = await sharp(image.data).toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const pixels = info.width * info.height;
  let useAlpha = false;
  for (let i = 0; i < pixels && !useAlpha; i++) useAlpha = data[i * 4 + 3]! < 255;
  const mask = Buffer.alloc(pixels);
  for (let i = 0; i < pixels; i++) {
    const at = i * 4;
    let value = useAlpha ? data[at + 3]! : Math.floor((data[at]! * 299 + data[at + 1]! * 587 + data[at + 2]! * 114) / 1000);
    if (options.round) value = value > 128 ? 255 : 0;
    mask[i] = options.invert ? 255 - value : value;
  }
  let pipeline = sharp(mask, { raw: { width: info.width, height: info.height, channels: 1 } }).resize({
    ...size,
    fit: fitOf(options.resizeMode),
    background: BLACK,
  });
  if (options.blurPx > 0) pipeline = pipeline.blur(Math.max(0.3, options.blurPx));
  return pipeline.extractChannel(0).raw().toBuffer();
}

/** `a` moved towards `b` by `t` (0..1), per byte. */
export function blend(a: Buffer, b: Buffer, t: number): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.round(a[i]! + (b[i]! - a[i]!) * t);
  return out;
}

/** `generated` where the mask is 255, `original` where it is 0, mixed in between (A1111's overlay). */
export function composite(original: Buffer, generated: Buffer, mask: Buffer): Buffer {
  const out = Buffer.alloc(original.length);
  for (let i = 0; i < original.length; i++) {
    const weight = mask[Math.floor(i / 3)]! / 255;
    out[i] = Math.round(original[i]! + (generated[i]! - original[i]!) * weight);
  }
  return out;
}

/** A ControlNet "detected map": the control image fitted to `size`, grey unless the module is `none`. */
export async function detectedMap(image: DecodedImage, size: Size | null, module: string): Promise<Buffer> {
  let pipeline = sharp(image.data).toColourspace('srgb').removeAlpha();
  if (size) pipeline = pipeline.resize({ ...size, fit: 'cover' });
  if (module !== 'none') pipeline = pipeline.greyscale();
  return pipeline.png().toBuffer();
}

export type ResizeKernel = 'nearest' | 'lanczos3';

/** Scales to `scaled` with `kernel`, then centres it on a black `canvas` when given (extras' `upscaling_crop`). */
export async function resizeImage(
  image: DecodedImage,
  scaled: Size,
  options: { kernel: ResizeKernel; canvas: Size | null },
): Promise<Buffer> {
  const resized = sharp(image.data).toColourspace('srgb').removeAlpha().resize({ ...scaled, fit: 'fill', kernel: options.kernel });
  const canvas = options.canvas;
  if (!canvas) return resized.png().toBuffer();
  // PIL's paste at (cw//2 - iw//2, ch//2 - ih//2): whatever falls outside the canvas is cut.
  const span = (inner: number, outer: number) => {
    const from = Math.max(0, Math.floor(inner / 2) - Math.floor(outer / 2));
    const to = Math.max(0, Math.floor(outer / 2) - Math.floor(inner / 2));
    return { from, to, length: Math.min(inner - from, outer - to) };
  };
  const x = span(scaled.width, canvas.width);
  const y = span(scaled.height, canvas.height);
  const piece = await resized.extract({ left: x.from, top: y.from, width: x.length, height: y.length }).png().toBuffer();
  return sharp({ create: { ...canvas, channels: 3, background: BLACK } })
    .composite([{ input: piece, left: x.to, top: y.to }])
    .png()
    .toBuffer();
}

/** The most common colour of the image (sharp's histogram estimate) and its size. */
export async function dominantColour(image: DecodedImage): Promise<{ r: number; g: number; b: number }> {
  const stats = await sharp(image.data).toColourspace('srgb').stats();
  return stats.dominant;
}
