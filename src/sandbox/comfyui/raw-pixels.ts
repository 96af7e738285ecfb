/**
 * @module sandbox/comfyui/raw-pixels
 *
 * Small operations on raw RGB (3 bytes a pixel) and mask (1 byte a pixel)
 * buffers, the sandbox's stand-in for ComfyUI's image and mask tensors.
 */
import sharp, { type KernelEnum } from 'sharp';
import { encodePng } from '../pixels.js';
import { uprightOf } from '../../util/image-orientation.js';

export interface RawSize {
  width: number;
  height: number;
}

/** `channels`-byte pixels of `size` resized to `to`. */
export async function resizeRaw(data: Buffer, size: RawSize, to: RawSize, channels: 1 | 3, kernel: keyof KernelEnum = 'lanczos3'): Promise<Buffer> {
  if (size.width === to.width && size.height === to.height) return data;
  const resized = sharp(data, { raw: { ...size, channels } }).resize({ ...to, fit: 'fill', kernel });
  return channels === 1 ? resized.extractChannel(0).raw().toBuffer() : resized.raw().toBuffer();
}

/** The top-left `to` of an image (ComfyUI's VAE encoders cut the size down to a multiple of 8). */
export function cropRaw(data: Buffer, size: RawSize, to: RawSize, channels: 1 | 3): Buffer {
  if (size.width === to.width && size.height === to.height) return data;
  const out = Buffer.alloc(to.width * to.height * channels);
  const row = to.width * channels;
  for (let y = 0; y < to.height; y++) data.copy(out, y * row, y * size.width * channels, y * size.width * channels + row);
  return out;
}

export function filled(size: RawSize, channels: 1 | 3, value: number): Buffer {
  return Buffer.alloc(size.width * size.height * channels, value);
}

/** Decoded pixels of a PNG/JPEG/WebP turned upright by its EXIF or XMP orientation (LoadImage's `exif_transpose`): RGB, and the alpha channel when it has one. */
export async function decodeImageFile(data: Buffer): Promise<{ size: RawSize; rgb: Buffer; alpha: Buffer | null }> {
  const image = (await uprightOf(sharp(data))).toColourspace('srgb');
  const meta = await image.metadata();
  const { data: rgba, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const pixels = info.width * info.height;
  const rgb = Buffer.alloc(pixels * 3);
  const alpha = Buffer.alloc(pixels);
  for (let i = 0; i < pixels; i++) {
    rgb[i * 3] = rgba[i * 4]!;
    rgb[i * 3 + 1] = rgba[i * 4 + 1]!;
    rgb[i * 3 + 2] = rgba[i * 4 + 2]!;
    alpha[i] = rgba[i * 4 + 3]!;
  }
  return { size: { width: info.width, height: info.height }, rgb, alpha: meta.hasAlpha ? alpha : null };
}

export function toPng(rgb: Buffer, size: RawSize): Promise<Buffer> {
  return encodePng(rgb, size, null);
}

/** A small JPEG preview, as ComfyUI sends with its default preview settings (at most 512 px a side; 256 here). */
export async function previewJpeg(rgb: Buffer, size: RawSize): Promise<Buffer> {
  const scale = Math.min(1, 256 / Math.max(size.width, size.height));
  const to = { width: Math.max(1, Math.round(size.width * scale)), height: Math.max(1, Math.round(size.height * scale)) };
  return sharp(rgb, { raw: { ...size, channels: 3 } }).resize(to).jpeg({ quality: 75 }).toBuffer();
}
