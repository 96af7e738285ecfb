/**
 * @module api/requests/image-field
 *
 * Image fields: base64 text in, a checked PNG/JPEG/WebP out. Only the header is
 * read (sharp `metadata()`), so checking a multi-megabyte upload costs well
 * under a millisecond of decoding; pixels are decoded on the node. The format is
 * sniffed from the magic bytes before sharp sees the data, so other formats
 * (SVG, TIFF, …) are never handed to their parsers at the gateway.
 */
import sharp from 'sharp';
import { type ImageFormat, nameOtherFormat, sniffImageFormat } from '../../domain/image-format.js';
import { invalidField } from '../../errors/dan-error.js';
import { cleanBase64, invalidImage } from './base64-text.js';
import { describeValue } from './field-messages.js';
import { type FieldGroup, pathOf, valueOf } from './known-fields.js';

export type { ImageFormat };

export interface DecodedImage {
  /** Clean, padded base64: no `data:` prefix, no whitespace. */
  base64: string;
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
  const { width, height } = await readSize(field, bytes, format);
  if (width > maxSide || height > maxSide) {
    throw invalidImage(field, `is ${width}×${height} pixels; each side may be at most ${maxSide}`);
  }
  return { base64, width, height, format };
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

async function readSize(field: string, bytes: Buffer, format: ImageFormat): Promise<{ width: number; height: number }> {
  const name = formatNames[format];
  try {
    // No pixel limit here: the side check below gives the better message.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (meta.format === format && meta.width > 0 && meta.height > 0) return { width: meta.width, height: meta.height };
  } catch (error) {
    throw invalidImage(field, `is not a readable ${name} image (corrupt or cut short): ${firstLine(error)}`);
  }
  throw invalidImage(field, `is not a readable ${name} image`);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0] ?? message;
}
