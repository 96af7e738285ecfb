/**
 * @module node/backends/comfyui/input-images
 *
 * The task's images made ready for ComfyUI's `LoadImage`, on the node: init and
 * control images fitted to the task's size the way its resize mode asks (A1111
 * does this itself; ComfyUI's core has no node for it), and the inpainting
 * mask turned into a grey picture where white is "regenerate" (DAN's mask
 * read as A1111 reads it: its alpha when it has transparency, else its
 * brightness; inverted for "regenerate the unmasked part"; blurred by
 * `maskBlur`). Each is uploaded under a name made from its bytes, so the same
 * picture is stored once and ComfyUI's cache knows it.
 */
import { createHash } from 'node:crypto';
import sharp, { type FitEnum, type Sharp } from 'sharp';
import { sniffImageFormat } from '../../../domain/image-format.js';
import type { InpaintSpec, ResizeMode } from '../../../domain/spec.js';
import { DanError } from '../../../errors/dan-error.js';
import { uprightOf } from '../../../util/image-orientation.js';

const FITS: Record<Exclude<ResizeMode, 'resize_and_fill'>, keyof FitEnum> = { just_resize: 'fill', crop_and_resize: 'cover' };
const BLACK = { r: 0, g: 0, b: 0, alpha: 1 };
/** Refuses decompression bombs before sharp allocates them. */
const MAX_INPUT_PIXELS = 8192 * 8192;

export interface Size {
  width: number;
  height: number;
}

function decode(base64: string, what: string): Sharp {
  const bytes = Buffer.from(base64, 'base64');
  if (sniffImageFormat(bytes) === null) throw new DanError('DAN_ERR_NODE_INTERNAL', `The task's ${what} is not a PNG, JPEG or WebP image`);
  return sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS });
}

/**
 * A PNG of `image` fitted to `size` by `mode`. "Resize and fill" fits the image inside and fills the bands beside
 * it with its edge pixels drawn out, as A1111 does, not with black.
 */
async function fit(image: Sharp, size: Size, mode: ResizeMode): Promise<Buffer> {
  if (mode !== 'resize_and_fill') return image.resize({ ...size, fit: FITS[mode], background: BLACK }).png({ compressionLevel: 1 }).toBuffer();
  const { data, info } = await image.resize({ ...size, fit: 'inside' }).png({ compressionLevel: 1 }).toBuffer({ resolveWithObject: true });
  const left = Math.floor((size.width - info.width) / 2);
  const top = Math.floor((size.height - info.height) / 2);
  if (info.width === size.width && info.height === size.height) return data;
  return sharp(data)
    .extend({ left, right: size.width - info.width - left, top, bottom: size.height - info.height - top, extendWith: 'copy' })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** A PNG of the image fitted to `size` by `mode`, alpha dropped, turned upright as its EXIF orientation says (as A1111 does). */
export async function fittedImage(base64: string, size: Size, mode: ResizeMode, what: string): Promise<Buffer> {
  return fit((await uprightOf(decode(base64, what))).toColourspace('srgb').removeAlpha(), size, mode);
}

/** A grey PNG of `size`: 255 where the task regenerates, 0 where it keeps the original. */
export async function regenerationMask(inpaint: InpaintSpec, size: Size, mode: ResizeMode): Promise<Buffer> {
  const { data, info } = await (await uprightOf(decode(inpaint.mask, 'mask'))).toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const pixels = info.width * info.height;
  let transparent = false;
  for (let i = 0; i < pixels && !transparent; i++) transparent = data[i * 4 + 3]! < 255;
  const mask = Buffer.alloc(pixels);
  for (let i = 0; i < pixels; i++) {
    const at = i * 4;
    const value = transparent ? data[at + 3]! : Math.round(data[at]! * 0.299 + data[at + 1]! * 0.587 + data[at + 2]! * 0.114);
    mask[i] = inpaint.regenerate === 'masked' ? value : 255 - value;
  }
  const fitted = await fit(sharp(mask, { raw: { width: info.width, height: info.height, channels: 1 } }), size, mode);
  const image = inpaint.maskBlur > 0 ? sharp(fitted).blur(Math.max(0.3, inpaint.maskBlur)) : sharp(fitted);
  return image.toColourspace('b-w').png({ compressionLevel: 1 }).toBuffer();
}

/**
 * The image an upscale or interrogation reads: its bytes as sent. ComfyUI's LoadImage turns it upright as its
 * EXIF orientation says, as A1111 does, and the gateway reads its size upright too.
 */
export function sourceImage(base64: string, what: string): Buffer {
  const bytes = Buffer.from(base64, 'base64');
  if (sniffImageFormat(bytes) === null) throw new DanError('DAN_ERR_NODE_INTERNAL', `The task's ${what} is not a PNG, JPEG or WebP image`);
  return bytes;
}

/** A PNG of the image upright at its own size, alpha dropped (the original a masked area is pasted back into). */
export async function uprightImage(base64: string, what: string): Promise<{ png: Buffer; size: Size }> {
  const { data, info } = await (await uprightOf(decode(base64, what))).toColourspace('srgb').removeAlpha().png({ compressionLevel: 1 }).toBuffer({ resolveWithObject: true });
  return { png: data, size: { width: info.width, height: info.height } };
}

/** The name an input is stored under: its content's hash, so the same bytes are one file. */
export function uploadNameOf(bytes: Buffer): string {
  const extension = sniffImageFormat(bytes) === 'jpeg' ? 'jpg' : (sniffImageFormat(bytes) ?? 'png');
  return `dan-${createHash('sha256').update(bytes).digest('hex').slice(0, 24)}.${extension}`;
}
