/**
 * @module api/requests/image-field
 *
 * Image fields: base64 text in, a checked PNG/JPEG/WebP out. The format is
 * sniffed from the magic bytes before sharp sees the data, so other formats
 * (SVG, TIFF, …) are never handed to their parsers at the gateway. The size is
 * read from the header and checked before any pixel is decoded; then the image
 * is decoded in full (image-pixels.ts; for PNG also the chunk rules of the
 * WebUI's Pillow, png-chunks.ts, and for JPEG what libjpeg reads after the
 * scan, jpeg-markers.ts), so that an image the WebUI cannot read is
 * refused here instead of failing on every node it is sent to, where each
 * failure counts against the node. The client's bytes are what the task keeps
 * (never a re-encoding): the WebUI gets exactly what was checked.
 */
import sharp from 'sharp';
import { type ImageFormat, nameOtherFormat, sniffImageFormat } from '../../domain/image-format.js';
import { invalidField } from '../../errors/dan-error.js';
import { cleanBase64, invalidImage } from './base64-text.js';
import { describeValue } from './field-messages.js';
import { findPixelProblem, firstLine } from './image-pixels.js';
import { findJpegProblem } from './jpeg-markers.js';
import { type FieldGroup, pathOf, valueOf } from './known-fields.js';
import { findPngProblem } from './png-chunks.js';
import { orientationOf, turnsQuarter } from '../../util/image-orientation.js';

export type { ImageFormat };

export interface DecodedImage {
  /** Clean, padded base64: no `data:` prefix, no whitespace. */
  base64: string;
  /** The size upright, as its EXIF (or XMP) orientation turns it: how the WebUI (and ComfyUI's LoadImage) read it. */
  width: number;
  height: number;
  format: ImageFormat;
}

/** An image field that passed the cheap checks (present, a string) and waits to be decoded. */
export interface PendingImage {
  field: string;
  text: string;
}

const formatNames: Record<ImageFormat, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP' };

/** A required image field, checked for type only: decoding comes after the cheap checks. */
export function readImage(group: FieldGroup, key: string): PendingImage {
  const field = pathOf(group, key);
  const value = valueOf(group, key);
  if (value === undefined) throw invalidField(field, 'is required (a base64 PNG, JPEG or WebP image)');
  return { field, text: parseImageText(field, value) };
}

export function decodePendingImage(image: PendingImage, maxSide: number): Promise<DecodedImage> {
  return decodeImageField(image.field, image.text, maxSide);
}

/**
 * Checks an image field and returns its clean base64 with the image's size.
 *
 * @example
 * const { width, height } = await decodeImageField('init_image', body.init_image, 4096);
 */
export async function decodeImageField(field: string, value: unknown, maxSide: number): Promise<DecodedImage> {
  const base64 = cleanBase64(field, parseImageText(field, value));
  const bytes = Buffer.from(base64, 'base64');
  const format = sniffFormat(field, bytes);
  // PNG chunk framing first: it names a cut or a bad CRC where libvips says only "corrupt header".
  if (format === 'png') assertReadable(field, format, await findPngProblem(bytes));
  const { orientation, ...stored } = await readSize(field, bytes, format);
  assertSides(field, stored, maxSide);
  assertReadable(field, format, await findPixelProblem(bytes, stored));
  // Once the scan decoded: what libjpeg reads after it, and libvips does not.
  if (format === 'jpeg') assertReadable(field, format, findJpegProblem(bytes));
  // Orientations 5–8 turn the picture a quarter: a phone's portrait photo is stored landscape.
  const upright = turnsQuarter(orientation) ? { width: stored.height, height: stored.width } : stored;
  return { base64, ...upright, format };
}

function parseImageText(field: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw invalidField(field, `must be a base64 string of a PNG, JPEG or WebP image, got ${describeValue(value)}`);
  }
  return value;
}

function sniffFormat(field: string, bytes: Buffer): ImageFormat {
  const format = sniffImageFormat(bytes);
  if (format) return format;
  const other = nameOtherFormat(bytes);
  const what = other === null ? 'is not a PNG, JPEG or WebP image' : `is a ${other} image`;
  throw invalidImage(field, `${what}; send a PNG, JPEG or WebP image`);
}

/** The size as stored (before any EXIF orientation), and the orientation (1: as stored). */
async function readSize(field: string, bytes: Buffer, format: ImageFormat): Promise<{ width: number; height: number; orientation: number }> {
  try {
    // No pixel limit here: the side check gives the better message, and only the header is read.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (meta.format === format && meta.width > 0 && meta.height > 0) return { width: meta.width, height: meta.height, orientation: orientationOf(meta) };
  } catch (error) {
    assertReadable(field, format, `it is corrupt or cut short: ${firstLine(error)}`);
  }
  throw invalidImage(field, `is not a readable ${formatNames[format]} image`);
}

function assertSides(field: string, { width, height }: { width: number; height: number }, maxSide: number): void {
  if (width > maxSide || height > maxSide) {
    throw invalidImage(field, `is ${width}×${height} pixels; each side may be at most ${maxSide}`);
  }
}

/** `problem` is a phrase such as "it is cut short (truncated): …", or null for none. */
function assertReadable(field: string, format: ImageFormat, problem: string | null): void {
  if (problem !== null) throw invalidImage(field, `is not a readable ${formatNames[format]} image: ${problem}`);
}
