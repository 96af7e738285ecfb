/**
 * @module domain/image-format
 *
 * Telling image formats by their first bytes: the gateway takes PNG, JPEG and
 * WebP from clients and from nodes, and names the common formats it refuses.
 */

export type ImageFormat = 'png' | 'jpeg' | 'webp';

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((byte, i) => bytes[i] === byte);
}

/** PNG, JPEG or WebP by magic bytes; null for anything else. */
export function sniffImageFormat(bytes: Buffer): ImageFormat | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

/** Common formats sent by mistake, named so a message can say what was received. */
export function nameOtherFormat(bytes: Buffer): string | null {
  const head = bytes.toString('latin1', 0, 12);
  if (head.startsWith('GIF8')) return 'GIF';
  if (head.startsWith('BM')) return 'BMP';
  if (head.startsWith('II*\0') || head.startsWith('MM\0*')) return 'TIFF';
  if (head.slice(4, 8) === 'ftyp') return 'HEIF/AVIF';
  if (/^\s*</.test(head)) return 'SVG/XML (text)';
  return null;
}
