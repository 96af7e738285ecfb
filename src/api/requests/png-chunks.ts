/**
 * @module api/requests/png-chunks
 *
 * The PNG chunk rules of Pillow, the WebUI's image library, that libvips does
 * not enforce. libpng skips an ancillary chunk with a bad CRC and ignores a
 * short or bloated metadata chunk; Pillow raises on them, so such a PNG decodes
 * at the gateway and then fails on every node it is sent to. The rules come
 * from Pillow 9.4–9.5's PngImagePlugin (A1111 pins 9.5.0) and were checked
 * against Pillow 9.4 on crafted files:
 *
 * - chunks before the first IDAT (`_open`): complete, CRC checked;
 * - the IDAT run: complete with its CRC (libvips then checks CRC and data);
 * - chunks after it (`load_end`): a readable chunk header must be followed by
 *   all its data; the CRC is not read; what is not a chunk header ends the file;
 * - anywhere: the shortest data each of Pillow's chunk handlers reads, and
 *   compressed text of at most 1 MiB a chunk and 64 MiB in all.
 *
 * Not replicated: APNG frame bookkeeping (fcTL/fdAT sequence numbers, frame
 * bounds), which only animated PNGs carry.
 */
import { promisify } from 'node:util';
import { constants as zlibConstants, crc32, inflate } from 'node:zlib';

const inflateAsync = promisify(inflate);

const SIGNATURE_BYTES = 8;
/** Length (4 bytes) and type (4). */
const CHUNK_HEADER_BYTES = 8;
const CRC_BYTES = 4;
/** IHDR's colour type byte: signature, chunk header, width, height, bit depth. */
const COLOUR_TYPE_OFFSET = SIGNATURE_BYTES + CHUNK_HEADER_BYTES + 9;
/** Pillow's MAX_TEXT_CHUNK (ImageFile.SAFEBLOCK): the most one compressed chunk may unpack to. */
export const maxTextChunkBytes = 1024 * 1024;
/** Pillow's MAX_TEXT_MEMORY, also the most the gateway unpacks from one image (see `unpacked`). */
export const maxTextBytes = 64 * maxTextChunkBytes;
/**
 * Most chunks other than IDAT the gateway walks (libpng's own default limit of
 * cached chunks). A real image carries a dozen; a million empty ones would keep
 * the event loop busy for a second per request.
 */
export const maxMetadataChunks = 1000;
/**
 * Most compressed chunks (zTXt, iTXt, iCCP) the gateway unpacks: each is inflated
 * on the thread pool up to 1 MiB, whether or not its stream turns out valid, so
 * this bounds the gateway's own work to 64 MiB an image (no real image carries
 * that much metadata), however the chunks are made.
 */
export const maxCompressedChunks = 64;
/** Pillow's `is_cid`: what it reads as a chunk type. */
const chunkTypePattern = /^\w{4}$/;

/**
 * The shortest data Pillow's handler for the type reads without raising
 * ("Truncated sRGB chunk", or struct.error from reading past the end).
 */
const minimumDataBytes: Readonly<Record<string, number>> = {
  IHDR: 13,
  gAMA: 4,
  sRGB: 1,
  pHYs: 9,
  acTL: 8,
  fcTL: 26,
  fdAT: 4,
};

type Phase = 'before-image' | 'image' | 'after-image';

interface Chunk {
  type: string;
  offset: number;
  data: Buffer;
}

interface WalkState {
  phase: Phase;
  colourType: number;
  imageDataBytes: number;
  /** Text as Pillow counts it against MAX_TEXT_MEMORY. */
  textBytes: number;
  metadataChunks: number;
  compressedChunks: number;
}

/**
 * What Pillow would refuse in this PNG's chunks (a phrase for the client), or
 * null. Only chunk framing and metadata are read here; the pixels are libvips'.
 *
 * @example
 * await findPngProblem(pngWithBrokenIhdrCrc); // 'it is corrupt: the CRC of its IHDR chunk does not match its data'
 */
export async function findPngProblem(png: Buffer): Promise<string | null> {
  const state: WalkState = {
    phase: 'before-image',
    colourType: png[COLOUR_TYPE_OFFSET] ?? 0,
    imageDataBytes: 0,
    textBytes: 0,
    metadataChunks: 0,
    compressedChunks: 0,
  };
  let offset = SIGNATURE_BYTES;
  for (;;) {
    const chunk = readChunk(png, offset, state);
    if (typeof chunk === 'string') return chunk;
    if (chunk === null || (chunk.type === 'IEND' && state.phase !== 'before-image')) break;
    const problem = findChunkProblem(png, chunk, state) ?? (isCompressed(chunk.type) ? await findTextProblem(chunk, state) : countText(chunk, state));
    if (problem !== null) return problem;
    offset += CHUNK_HEADER_BYTES + chunk.data.length + CRC_BYTES;
  }
  // libpng reports an empty IDAT run only as "read error"; say what it is.
  return state.imageDataBytes === 0 ? 'it is cut short (truncated): it has no pixel data (its IDAT chunks are empty)' : null;
}

/** The chunk at `offset` (moving the walk to its phase), null at a tolerated end, or a problem. */
function readChunk(png: Buffer, offset: number, state: WalkState): Chunk | string | null {
  const dataStart = offset + CHUNK_HEADER_BYTES;
  const type = png.toString('latin1', offset + 4, Math.min(dataStart, png.length));
  if (dataStart > png.length || !chunkTypePattern.test(type)) {
    // Once the image data has started, Pillow takes anything that is not a chunk header as the end.
    if (state.phase !== 'before-image') return null;
    return dataStart > png.length
      ? 'it is cut short (truncated) before its pixel data'
      : `it is corrupt: the bytes at offset ${offset} are not a PNG chunk`;
  }
  state.phase = phaseOf(type, state.phase);
  const dataEnd = dataStart + png.readUInt32BE(offset);
  // Pillow reads the CRC before the image data and libpng that of IDAT; after it, nobody does.
  const end = state.phase === 'after-image' ? dataEnd : dataEnd + CRC_BYTES;
  if (end > png.length) {
    return `it is cut short (truncated): its ${type} chunk at offset ${offset} needs ${end - offset} bytes, ${png.length - offset} were sent`;
  }
  return { type, offset, data: png.subarray(dataStart, dataEnd) };
}

function phaseOf(type: string, phase: Phase): Phase {
  if (type === 'IDAT') return phase === 'after-image' ? phase : 'image';
  return phase === 'before-image' ? phase : 'after-image';
}

/** What is wrong with a chunk's framing, its CRC or its length; its text is read apart (only compressed text needs an await). */
function findChunkProblem(png: Buffer, chunk: Chunk, state: WalkState): string | null {
  if (chunk.type === 'IEND') return 'it is cut short (truncated): it ends before its pixel data (no IDAT chunk)';
  if (chunk.type !== 'IDAT' && ++state.metadataChunks > maxMetadataChunks) return `it has more than ${maxMetadataChunks} metadata chunks`;
  if (isCompressed(chunk.type) && ++state.compressedChunks > maxCompressedChunks) return `it has more than ${maxCompressedChunks} compressed metadata chunks`;
  if (state.phase === 'before-image' && !crcMatches(png, chunk)) {
    return `it is corrupt: the CRC of its ${chunk.type} chunk does not match its data`;
  }
  if (chunk.type === 'IDAT' && state.phase === 'image') state.imageDataBytes += chunk.data.length;
  return findLengthProblem(chunk, state.colourType);
}

function isCompressed(type: string): boolean {
  return type === 'zTXt' || type === 'iTXt' || type === 'iCCP';
}

function crcMatches(png: Buffer, chunk: Chunk): boolean {
  const typeStart = chunk.offset + 4;
  const dataEnd = typeStart + 4 + chunk.data.length;
  return crc32(png.subarray(typeStart, dataEnd)) === png.readUInt32BE(dataEnd);
}

function findLengthProblem({ type, data }: Chunk, colourType: number): string | null {
  const minimum = type === 'tRNS' ? transparencyBytes(colourType) : (minimumDataBytes[type] ?? 0);
  if (data.length < minimum) return `it is corrupt: its ${type} chunk is too short (${minimum} bytes of data needed, ${data.length} found)`;
  // Pillow unpacks cHRM as whole 4-byte numbers and raises on a remainder.
  if (type === 'cHRM' && data.length % 4 !== 0) return `it is corrupt: its cHRM chunk's data is not a whole number of 4-byte values (${data.length} bytes)`;
  if (type === 'iCCP' && data.length === 0) return 'it is corrupt: its iCCP chunk is empty';
  return null;
}

/** Pillow reads one 16-bit grey level (colour type 0) or three (RGB, type 2); other types need none. */
function transparencyBytes(colourType: number): number {
  if (colourType === 0) return 2;
  return colourType === 2 ? 6 : 0;
}

/** A compressed chunk, and the text Pillow counts against MAX_TEXT_MEMORY. */
async function findTextProblem(chunk: Chunk, state: WalkState): Promise<string | null> {
  const text = await readCompressed(chunk);
  return typeof text === 'string' ? text : addText(text, state);
}

/** An uncompressed chunk's text (tEXt), counted without an await. */
function countText({ type, data }: Chunk, state: WalkState): string | null {
  return type === 'tEXt' && keywordOf(data).length > 0 ? addText(afterKeyword(data).length, state) : null;
}

function addText(bytes: number, state: WalkState): string | null {
  state.textBytes += bytes;
  if (state.textBytes > maxTextBytes) return `its text chunks hold more than ${mib(maxTextBytes)} of text, more than the WebUI's image library (Pillow) reads`;
  return null;
}

/** The text length Pillow counts for a compressed chunk, or a problem. */
async function readCompressed({ type, data }: Chunk): Promise<number | string> {
  if (type === 'zTXt') return readCompressedText(data);
  if (type === 'iTXt') return readInternationalText(data);
  return readIccProfile(data);
}

async function readCompressedText(data: Buffer): Promise<number | string> {
  const rest = afterKeyword(data);
  const method = rest[0] ?? 0;
  if (method !== 0) return `it is corrupt: its zTXt chunk uses compression method ${method}, which does not exist`;
  const length = await unpacked(rest.subarray(1), 'zTXt');
  return typeof length === 'string' || keywordOf(data).length > 0 ? length : 0;
}

/** iTXt is keyword\0, compressed flag, method, language\0, translated keyword\0, text; Pillow skips malformed ones. */
async function readInternationalText(data: Buffer): Promise<number | string> {
  const rest = afterKeyword(data);
  if (data.indexOf(0) < 0 || rest.length < 2) return 0;
  const languageEnd = rest.indexOf(0, 2);
  const translatedEnd = languageEnd < 0 ? -1 : rest.indexOf(0, languageEnd + 1);
  if (translatedEnd < 0) return 0;
  const text = rest.subarray(translatedEnd + 1);
  if (rest[0] === 0) return text.length;
  // Pillow leaves a chunk of another compression method alone. Counted in bytes, which is at least
  // Pillow's count in characters.
  return rest[1] === 0 ? unpacked(text, 'iTXt') : 0;
}

async function readIccProfile(data: Buffer): Promise<number | string> {
  // Pillow takes the byte at the name's terminator (or, without one, the last byte) as the method.
  const nameEnd = data.indexOf(0);
  if (nameEnd < 0) return 'it is corrupt: its iCCP chunk has no profile name';
  const length = await unpacked(data.subarray(nameEnd + 2), 'iCCP');
  // The profile is not text: Pillow does not count it against MAX_TEXT_MEMORY.
  return typeof length === 'string' ? length : 0;
}

/**
 * The unpacked length of zlib data as Pillow's `_safe_zlib_decompress` sees it:
 * a problem past MAX_TEXT_CHUNK, 0 for data zlib cannot read (Pillow keeps an
 * empty text then).
 */
async function unpacked(compressed: Buffer, type: string): Promise<number | string> {
  try {
    // Z_SYNC_FLUSH: a cut-short stream yields what it has, as Python's decompressobj does.
    const options = { maxOutputLength: maxTextChunkBytes, finishFlush: zlibConstants.Z_SYNC_FLUSH };
    return (await inflateAsync(compressed, options)).length;
  } catch (error) {
    if (!isTooLarge(error)) return 0;
    return `its ${type} chunk unpacks to more than ${mib(maxTextChunkBytes)}, more than the WebUI's image library (Pillow) reads`;
  }
}

function isTooLarge(error: unknown): boolean {
  return error instanceof RangeError && (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
}

function keywordOf(data: Buffer): Buffer {
  const end = data.indexOf(0);
  return end < 0 ? data : data.subarray(0, end);
}

function afterKeyword(data: Buffer): Buffer {
  const end = data.indexOf(0);
  return end < 0 ? data.subarray(data.length) : data.subarray(end + 1);
}

function mib(bytes: number): string {
  return `${bytes / (1024 * 1024)} MiB`;
}
