/**
 * @module sandbox/image-decoding
 *
 * A1111's `decode_base64_to_image`: an optional `data:image/...;base64,` prefix,
 * then base64 of an image file, turned upright as its EXIF orientation says;
 * anything that is not a PNG, JPEG or WebP is a 500 "Invalid encoded image" (A.9). Stricter than Python's lenient b64decode:
 * characters outside the base64 alphabet are refused rather than skipped.
 */
import sharp from 'sharp';
import { httpException, invalidEncodedImage } from './http-errors.js';
import { orientationOf, uprighted } from '../util/image-orientation.js';

const ImageFormats = ['png', 'jpeg', 'webp'] as const;
export type ImageFormat = (typeof ImageFormats)[number];

export interface DecodedImage {
  data: Buffer;
  format: ImageFormat;
  width: number;
  height: number;
}

const DATA_URL = /^data:image\/[\w.+-]+;base64,/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Refuses decompression bombs before sharp allocates them. */
const MAX_INPUT_PIXELS = 8192 * 8192;

export async function decodeBase64Image(encoded: string): Promise<DecodedImage> {
  if (/^https?:\/\//.test(encoded)) throw httpException(500, 'Requests not allowed');
  const text = encoded.replace(DATA_URL, '');
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64.test(text)) throw invalidEncodedImage();
  const data = Buffer.from(text, 'base64');
  try {
    const meta = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    const format = ImageFormats.find((f) => f === meta.format);
    if (!format || !meta.width || !meta.height) throw invalidEncodedImage();
    const orientation = orientationOf(meta);
    if (orientation === 1) return { data, format, width: meta.width, height: meta.height };
    // `images.read` turns a picture upright as its EXIF (or XMP) orientation says (ImageOps.exif_transpose).
    const upright = await uprighted(sharp(data, { limitInputPixels: MAX_INPUT_PIXELS }), orientation).png().toBuffer({ resolveWithObject: true });
    return { data: upright.data, format, width: upright.info.width, height: upright.info.height };
  } catch {
    throw invalidEncodedImage();
  }
}

/** Decodes when present; `undefined` passes through for optional images. */
export async function decodeOptionalImage(encoded: string | null | undefined): Promise<DecodedImage | undefined> {
  return encoded === null || encoded === undefined ? undefined : decodeBase64Image(encoded);
}
