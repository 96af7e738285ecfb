/**
 * @module node/backends/checkpoint-family
 *
 * A checkpoint's family read from its own file. An A1111-compatible WebUI lists its checkpoints with
 * their paths but never says what they are, and a Flux file run as an SD model makes black images (an
 * SDXL one is offered SD 1.5 LoRAs). When the node runs on the WebUI's machine, which is the usual
 * setup, it can open those paths. A `.safetensors` file starts with an 8-byte little-endian length N
 * and N bytes of JSON: each tensor's dtype and shape by name, plus an optional `__metadata__` object of
 * strings. The tensor names tell the architecture, and a few shapes tell its variant. Only that header
 * is read (at most `MAX_HEADER_BYTES`), never the weights. A file is read again only when its size or
 * modification time changed.
 *
 * A file this cannot read or tell is of unknown family, as it was before: the WebUI on another machine
 * or in a container (its paths are not here), a `.ckpt` (a pickle, which is never opened), a broken
 * header, an architecture DAN does not run (SD 2, the SDXL refiner, SD3, Flux Fill or Chroma...). Each
 * such file gets one log line (debug, or warn for a broken file), and no error ever fails a discovery.
 *
 * @example
 * const files = new CheckpointFiles({ log });
 * const families = await files.familiesOf(['/opt/webui/models/Stable-diffusion/flux1-dev.safetensors']);
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { basename, isAbsolute } from 'node:path';
import { familyOfArchitecture, familyOfKohyaBase, type ModelFamily } from '../../domain/families.js';

/**
 * The largest header read. The format allows 100 MB, but a checkpoint's header is tens of KB (a LoRA's, with
 * its training tags, a few MB): a larger one is not worth the memory.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/**
 * Headers read at once (each one is at most `MAX_HEADER_BYTES` in memory). Few: each read holds a thread of
 * libuv's pool (four), which the node's DNS lookups and other file work need too.
 */
const READ_CONCURRENCY = 2;
/** A file system that does not answer in this time (a hung network mount) leaves the file's family unknown. */
const READ_TIMEOUT_MS = 5_000;
const SAFETENSORS_EXTENSION = /\.(safetensors|sft)$/i;

/** Where the one line per file that could not be read or told goes (a pino logger fits). */
export interface CheckpointFilesLog {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** A parsed safetensors header: tensor entries by name, and `__metadata__`. */
export type SafetensorsHeader = Readonly<Record<string, unknown>>;

/** What a header says: a family, or why it says none. */
export type HeaderVerdict = { family: ModelFamily } | { family: null; why: string };

/** A file's family, or why it has none and how loudly to say so. */
type Reading = { family: ModelFamily } | Unread;
type Unread = { family: null; why: string; level: 'debug' | 'warn' };

interface CachedReading {
  size: number;
  mtimeMs: number;
  reading: Reading;
}

/** What the reader asks of the file system (a test gives one that hangs, as a dead network mount does). */
export interface CheckpointFileSystem {
  stat: typeof stat;
  open: typeof open;
}

export class CheckpointFiles {
  readonly #log: CheckpointFilesLog | undefined;
  readonly #fs: CheckpointFileSystem;
  /** Readings by path, each valid while the file keeps its size and modification time. */
  #cache = new Map<string, CachedReading>();
  /** Paths already given their one log line. */
  readonly #told = new Set<string>();
  /** Reads not ended yet (one a hung mount holds): never a second one of the same path meanwhile. */
  readonly #inFlight = new Map<string, Promise<Reading>>();

  constructor(options: { log?: CheckpointFilesLog; fileSystem?: CheckpointFileSystem } = {}) {
    this.#log = options.log;
    this.#fs = options.fileSystem ?? { stat, open };
  }

  /**
   * The family of each path (null: unknown). The paths are the whole listing: readings of files no
   * longer listed are dropped.
   */
  async familiesOf(paths: readonly string[]): Promise<Map<string, ModelFamily | null>> {
    const unique = [...new Set(paths)];
    const kept = new Map<string, CachedReading>();
    const families = new Map<string, ModelFamily | null>();
    for (let i = 0; i < unique.length; i += READ_CONCURRENCY) {
      await Promise.all(
        unique.slice(i, i + READ_CONCURRENCY).map(async (path) => {
          const reading = await this.#timedReading(path, kept);
          families.set(path, reading.family);
          if (reading.family === null) this.#tell(path, reading);
        }),
      );
    }
    this.#cache = kept;
    return families;
  }

  /** `#readingOf`, or unknown if the file system does not answer within `READ_TIMEOUT_MS` (the read goes on alone). */
  async #timedReading(path: string, kept: Map<string, CachedReading>): Promise<Reading> {
    let reading = this.#inFlight.get(path);
    if (!reading) {
      reading = this.#readingOf(path, kept)
        .catch((error: unknown) => unreadable(error))
        .finally(() => this.#inFlight.delete(path));
      this.#inFlight.set(path, reading);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Reading>((resolve) => {
      timer = setTimeout(() => resolve({ family: null, why: `its file system did not answer within ${READ_TIMEOUT_MS / 1000} s`, level: 'warn' }), READ_TIMEOUT_MS);
      timer.unref();
    });
    try {
      return await Promise.race([reading, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #readingOf(path: string, kept: Map<string, CachedReading>): Promise<Reading> {
    if (!SAFETENSORS_EXTENSION.test(path)) {
      return { family: null, why: 'it is not a safetensors file (a .ckpt is a pickle, which the node does not open)', level: 'debug' };
    }
    if (!isAbsolute(path)) return { family: null, why: 'it is not a path on this machine (the WebUI may be on another one)', level: 'debug' };
    let stats: Stats;
    try {
      stats = await this.#fs.stat(path);
    } catch (error) {
      return unreadable(error);
    }
    // A FIFO or a device would block the read or never end.
    if (!stats.isFile()) return { family: null, why: 'it is not a regular file', level: 'debug' };
    const cached = this.#cache.get(path);
    if (cached && cached.size === stats.size && cached.mtimeMs === stats.mtimeMs) {
      kept.set(path, cached);
      return cached.reading;
    }
    const reading = await readFamily(path, stats.size, this.#fs.open);
    kept.set(path, { size: stats.size, mtimeMs: stats.mtimeMs, reading });
    return reading;
  }

  #tell(path: string, reading: Unread): void {
    if (this.#told.has(path) || this.#log === undefined) return;
    this.#told.add(path);
    const message = `family of ${path} not read from the file: ${reading.why}. A --model-family declaration or the gateway's catalog can name it`;
    this.#log[reading.level]({ file: path }, message);
  }
}

function unreadable(error: unknown): Unread {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  const remote = code === 'ENOENT' ? '; the WebUI may be on another machine, or in a container' : '';
  return { family: null, why: `it cannot be read here (${code}${remote})`, level: 'debug' };
}

/** Reads the header of the file at `path` (`size` bytes, opened with `openFile`) and tells its family. */
async function readFamily(path: string, size: number, openFile: typeof open): Promise<Reading> {
  let handle: FileHandle;
  try {
    // Without blocking: the path may have become a FIFO since it was looked at, whose open waits for a writer.
    handle = await openFile(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return unreadable(error);
  }
  try {
    if (!(await handle.stat()).isFile()) return { family: null, why: 'it is not a regular file', level: 'debug' };
    const header = await readHeader(handle, size);
    if ('problem' in header) return { family: null, why: header.problem, level: 'warn' };
    const verdict = familyOfHeader(header.header);
    // FLUX.1 Kontext has Flux.1's tensors: its files are told apart by their names (Comfy-Org's, BFL's), as a ComfyUI node tells them.
    if (verdict.family === 'flux' && /kontext/i.test(basename(path))) return { family: 'flux-kontext' };
    return verdict.family === null ? { ...verdict, level: 'debug' } : verdict;
  } catch (error) {
    return unreadable(error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function readHeader(handle: FileHandle, size: number): Promise<{ header: SafetensorsHeader } | { problem: string }> {
  const prefix = await readExactly(handle, 0, 8);
  if (prefix === null) return { problem: 'shorter than a safetensors header' };
  const length = prefix.readBigUInt64LE(0);
  if (length > BigInt(MAX_HEADER_BYTES)) return { problem: `its header says it is ${length} bytes long, more than a safetensors header may be (${MAX_HEADER_BYTES})` };
  if (length < 2n || 8n + length > BigInt(size)) return { problem: `its header length (${length} bytes) does not fit the file (${size} bytes): not a safetensors file, or a truncated one` };
  const bytes = await readExactly(handle, 8, Number(length));
  if (bytes === null) return { problem: 'the file ended inside its header' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'its header is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { problem: 'its header is not a JSON object' };
  return { header: parsed as SafetensorsHeader };
}

/** `length` bytes from `position`, or null when the file ends first. */
async function readExactly(handle: FileHandle, position: number, length: number): Promise<Buffer | null> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) return null;
    filled += bytesRead;
  }
  return buffer;
}

/** What the tensors say: a family, an architecture that is none of them ('other'), or nothing (null). */
type TensorVerdict = ModelFamily | 'other' | null;

/** Where ldm/sgm checkpoints (A1111's and Forge's, all-in-one Flux files too) keep the diffusion model. */
const DIFFUSION_PREFIX = 'model.diffusion_model.';
/** The width of SDXL base's class-embedding input (the refiner's is 2560). */
const SDXL_BASE_ADM_CHANNELS = 2816;
/** SD 1.x's text-encoder width (CLIP-L), which its cross-attention takes; SD 2's (OpenCLIP-H) is 1024. */
const SD1_CONTEXT_DIM = 768;
/** Flux.1's latent channels × its 2 × 2 patch: the width of `img_in` (Fill takes 384, Canny and Depth 128). */
const FLUX1_IMAGE_INPUT = 64;
/** Flux.1's hidden size, to read the width of a 4-bit packed `img_in` (bitsandbytes NF4 files keep [count / 2, 1] bytes). */
const FLUX1_HIDDEN = 3072;

/**
 * A checkpoint's family from its safetensors header. The tensors decide. The metadata
 * (`modelspec.architecture`, kohya's `ss_base_model_version`) counts only when the tensors say
 * nothing, or agree with it; tensors and metadata that disagree give no family at all, since an
 * unknown family is better than a wrong one.
 */
export function familyOfHeader(header: SafetensorsHeader): HeaderVerdict {
  const tensors = familyOfTensors(header);
  const stated = familyOfMetadata(header['__metadata__']);
  if (tensors === 'other') return { family: null, why: 'its tensors are of an architecture DAN does not run (SD 1.5, SDXL and Flux.1 it does)' };
  if (tensors !== null && stated !== null && stated !== tensors) return { family: null, why: `its tensors are ${tensors} but its metadata says ${stated}` };
  const family = tensors ?? stated;
  return family === null ? { family: null, why: 'its header names no architecture DAN knows' } : { family };
}

function familyOfTensors(header: SafetensorsHeader): TensorVerdict {
  for (const prefix of [DIFFUSION_PREFIX, '']) {
    if (Object.hasOwn(header, `${prefix}double_blocks.0.img_attn.norm.key_norm.scale`)) return flux1Of(header, prefix);
  }
  const unet = DIFFUSION_PREFIX;
  if (!Object.hasOwn(header, `${unet}input_blocks.0.0.weight`)) return null;
  // SDXL's UNet takes the pooled text and the size conditioning through label_emb; SD 1.x has none.
  if (Object.hasOwn(header, `${unet}label_emb.0.0.weight`)) {
    const adm = shapeOf(header, `${unet}label_emb.0.0.weight`);
    if (adm === null || adm.length !== 2) return null;
    return adm[1] === SDXL_BASE_ADM_CHANNELS ? 'sdxl' : 'other';
  }
  const context = shapeOf(header, `${unet}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`);
  if (context !== null && context.length === 2) return context[1] === SD1_CONTEXT_DIM ? 'sd15' : 'other';
  // Without that tensor, the text encoder: SD 1.x's CLIP (transformers' layout) or SD 2's OpenCLIP.
  if (hasPrefix(header, 'cond_stage_model.transformer.')) return 'sd15';
  if (hasPrefix(header, 'cond_stage_model.model.')) return 'other';
  return null;
}

/** Flux.1 dev or schnell (Kontext too: its name tells it, `readFamily`); not Fill, Canny or Depth (other inputs), Chroma or Flux.2 (no CLIP vector). */
function flux1Of(header: SafetensorsHeader, prefix: string): TensorVerdict {
  if (!hasPrefix(header, `${prefix}vector_in.`)) return 'other';
  const input = shapeOf(header, `${prefix}img_in.weight`);
  if (input === null || input.length !== 2) return null;
  const [rows, columns] = input as [number, number];
  const packed = columns === 1 && dtypeOf(header, `${prefix}img_in.weight`) === 'U8';
  const width = packed ? (rows * 2) / FLUX1_HIDDEN : columns;
  return width === FLUX1_IMAGE_INPUT ? 'flux' : 'other';
}

function familyOfMetadata(metadata: unknown): ModelFamily | null {
  if (typeof metadata !== 'object' || metadata === null) return null;
  const fields = metadata as Record<string, unknown>;
  // A LoRA's metadata (kohya's), merged into or misfiled as a checkpoint, says nothing of the file.
  if (Object.hasOwn(fields, 'ss_network_module')) return null;
  const architecture = fields['modelspec.architecture'];
  if (typeof architecture === 'string') return familyOfArchitecture(architecture);
  const base = fields['ss_base_model_version'];
  return typeof base === 'string' ? familyOfKohyaBase(base) : null;
}

function tensorOf(header: SafetensorsHeader, name: string): Record<string, unknown> | null {
  const entry = Object.hasOwn(header, name) ? header[name] : undefined;
  return typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? (entry as Record<string, unknown>) : null;
}

function shapeOf(header: SafetensorsHeader, name: string): number[] | null {
  const shape = tensorOf(header, name)?.['shape'];
  return Array.isArray(shape) && shape.every((n) => Number.isSafeInteger(n) && (n as number) >= 0) ? (shape as number[]) : null;
}

function dtypeOf(header: SafetensorsHeader, name: string): string | null {
  const dtype = tensorOf(header, name)?.['dtype'];
  return typeof dtype === 'string' ? dtype : null;
}

function hasPrefix(header: SafetensorsHeader, prefix: string): boolean {
  return Object.keys(header).some((key) => key.startsWith(prefix));
}
