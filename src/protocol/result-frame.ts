/**
 * @module protocol/result-frame
 *
 * A result travels as one binary WebSocket frame, because it carries images:
 * as base64 inside JSON a 512² PNG is a third bigger, and the gateway would
 * turn ~300 KiB of bytes into a string and run JSON.parse over it for every
 * task, all on its event loop. Layout:
 *
 *   "DAN1" | u32 big-endian header length H | H bytes of JSON header | image bytes…
 *
 * The header is the `result` message with `result.imageBytes` (the length of
 * each image, in order) in place of the images; a caption result has no image
 * bytes. Every image must be a PNG, JPEG or WebP by its magic bytes.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { sniffImageFormat } from '../domain/image-format.js';
import type { RelayedResult } from '../domain/spec.js';
import { Base64Image } from '../util/base64-image.js';
import { Attempt, ProtocolError, type Result } from './messages.js';

const MAGIC = Buffer.from('DAN1', 'latin1');
const PREFIX_BYTES = 8;
const MAX_HEADER_BYTES = 1024 * 1024;

const ResultHeader = Type.Object(
  {
    type: Type.Literal('result'),
    taskId: Type.String({ minLength: 1, maxLength: 64 }),
    attempt: Attempt,
    result: Type.Union([
      Type.Object(
        {
          kind: Type.Literal('images'),
          imageBytes: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 64 }),
          seeds: Type.Array(Type.Integer(), { maxItems: 64 }),
        },
        { additionalProperties: false },
      ),
      Type.Object({ kind: Type.Literal('caption'), caption: Type.String({ maxLength: 65_536 }) }, { additionalProperties: false }),
    ]),
    loadedModel: Type.Union([Type.String({ maxLength: 512 }), Type.Null()]),
    elapsedMs: Type.Number({ minimum: 0 }),
    loadMs: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
type ResultHeader = Static<typeof ResultHeader>;
const checkHeader = TypeCompiler.Compile(ResultHeader);

export type ResultMessage = Static<typeof Result>;

/** A result as the gateway reads it from a frame: images held as bytes. */
export type RelayedResultMessage = Omit<ResultMessage, 'result'> & { result: RelayedResult };

/** Builds the frame for a result (node side). */
export function encodeResultFrame(message: ResultMessage): Buffer {
  const { result, ...rest } = message;
  const images = result.kind === 'images' ? result.images.map((b64) => Buffer.from(b64, 'base64')) : [];
  const headerResult =
    result.kind === 'images' ? { kind: 'images' as const, imageBytes: images.map((i) => i.length), seeds: result.seeds } : result;
  const header = Buffer.from(JSON.stringify({ ...rest, result: headerResult }), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32BE(header.length, 4);
  return Buffer.concat([prefix, header, ...images]);
}

/** Reads a result frame (gateway side); throws ProtocolError when it is malformed. */
export function decodeResultFrame(frame: Buffer): RelayedResultMessage {
  if (frame.length < PREFIX_BYTES || !frame.subarray(0, 4).equals(MAGIC)) {
    throw new ProtocolError('binary frame is not a DAN1 result frame');
  }
  const headerBytes = frame.readUInt32BE(4);
  if (headerBytes > MAX_HEADER_BYTES || PREFIX_BYTES + headerBytes > frame.length) {
    throw new ProtocolError(`result frame header length ${headerBytes} does not fit the frame`);
  }
  let header: unknown;
  try {
    header = JSON.parse(frame.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + headerBytes));
  } catch {
    throw new ProtocolError('result frame header is not JSON');
  }
  if (!checkHeader.Check(header)) {
    const first = checkHeader.Errors(header).First();
    throw new ProtocolError(`bad result frame header at ${first?.path || '/'}: ${first?.message ?? 'invalid'}`);
  }
  return { ...header, result: toTaskResult(header, frame.subarray(PREFIX_BYTES + headerBytes)) };
}

function toTaskResult(header: ResultHeader, body: Buffer): RelayedResult {
  if (header.result.kind === 'caption') {
    if (body.length > 0) throw new ProtocolError('caption result frame carries image bytes');
    return header.result;
  }
  const { imageBytes, seeds } = header.result;
  const total = imageBytes.reduce((sum, n) => sum + n, 0);
  if (total !== body.length) throw new ProtocolError(`result frame announces ${total} image bytes but carries ${body.length}`);
  let offset = 0;
  const images = imageBytes.map((length, index) => {
    const image = body.subarray(offset, offset + length);
    offset += length;
    if (!sniffImageFormat(image)) throw new ProtocolError(`result image ${index} is not a PNG, JPEG or WebP image`);
    return new Base64Image(image);
  });
  return { kind: 'images', images, seeds };
}
