/**
 * @module gateway/result-check
 *
 * What a node's result must be before it goes to a client: nodes are other
 * people's machines. The result frame's own checks (protocol/result-frame.ts)
 * make sure it is well formed; this one that it answers its task:
 *
 * - a caption for an interrogation, images for every other kind;
 * - each image a PNG, JPEG or WebP (the frame checks their first bytes), and a
 *   PNG's header whole: its IHDR chunk, its CRC right and its size not zero
 *   (the first bytes of a PNG followed by junk passed the frame's check). PNG
 *   is what WebUIs send.
 *
 * - one image (no task asks for more; a ControlNet's detected map is the
 *   node's to drop), and for txt2img and img2img its seed;
 * - a PNG's size that of the task's result, within 8 pixels a side (the
 *   WebUI rounds hires and upscale targets): not a 1×1 image for a 512² task.
 *
 * Synchronous, before the result settles its attempt: a node that answers
 * and disconnects at once has still answered. Not checked: the size of JPEG
 * and WebP images (WebUIs answer PNG), and the pixels themselves.
 */
import { crc32 } from 'node:zlib';
import { sniffImageFormat } from '../domain/image-format.js';
import { type GenerationSpec, isDiffusion, maskedAreaOnly, outputSizeOf, type RelayedResult } from '../domain/spec.js';
import { Base64Image } from '../util/base64-image.js';

/** PNG signature (8), IHDR length and type (8), its 13 bytes of data, its CRC (4). */
const PNG_HEADER_BYTES = 8 + 8 + 13 + 4;

/** Why `result` is no answer to a task of `spec`, or null when it is one. */
export function resultProblem(spec: GenerationSpec, result: RelayedResult): string | null {
  const wanted = spec.kind === 'interrogate' ? 'caption' : 'images';
  if (result.kind !== wanted) return `it answered a ${spec.kind} task with ${result.kind === 'caption' ? 'a caption' : 'images'}`;
  if (result.kind === 'caption') return null;
  if (result.images.length !== 1) return `it answered with ${result.images.length} images; the task makes one`;
  const diffusion = isDiffusion(spec);
  if (diffusion && result.seeds.length !== 1) return `it answered with ${result.seeds.length} seeds for its one image`;
  if (!diffusion && result.seeds.length > 1) return `it answered with ${result.seeds.length} seeds for one image`;
  const image = result.images[0]!;
  // Only the header is read: of a base64 string, its first bytes (64 characters: 48 bytes).
  const bytes = image instanceof Base64Image ? image.bytes : Buffer.from(image.slice(0, 64), 'base64');
  const format = sniffImageFormat(bytes);
  const problem = format === null ? 'is not a PNG, JPEG or WebP image' : format === 'png' ? pngHeaderProblem(bytes) ?? pngSizeProblem(bytes, spec) : null;
  return problem === null ? null : `its image ${problem}`;
}

/** Within this many pixels a side of the expected size: the WebUI rounds hires and upscale targets. */
const SIZE_TOLERANCE_PX = 8;

function pngSizeProblem(png: Buffer, spec: GenerationSpec): string | null {
  const expected = outputSizeOf(spec);
  if (expected === null) return null;
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const near = (size: { width: number; height: number }) => Math.abs(width - size.width) <= SIZE_TOLERANCE_PX && Math.abs(height - size.height) <= SIZE_TOLERANCE_PX;
  if (near(expected)) return null;
  // A mask that covers nothing: the WebUI works on the whole picture instead, at the task's size.
  if (spec.kind === 'img2img' && maskedAreaOnly(spec) && near(spec)) return null;
  return `is ${width}×${height}; the task makes ${expected.width}×${expected.height}`;
}

function pngHeaderProblem(png: Buffer): string | null {
  if (png.length < PNG_HEADER_BYTES) return 'is a PNG cut short before the end of its header';
  if (png.readUInt32BE(8) !== 13 || png.toString('latin1', 12, 16) !== 'IHDR') return 'is a PNG whose first chunk is not a header (IHDR)';
  if (crc32(png.subarray(12, 29)) !== png.readUInt32BE(29)) return 'is a PNG whose header is corrupt (its CRC does not match)';
  if (png.readUInt32BE(16) === 0 || png.readUInt32BE(20) === 0) return 'is a PNG of size zero';
  return null;
}
