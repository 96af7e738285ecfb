/**
 * @module node/backends/comfyui/comfyui-driver
 *
 * The `BackendDriver` for ComfyUI. A task runs as one API graph
 * (graph-builder.ts): its images are uploaded first (`/upload/image`), the
 * graph is queued with `POST /prompt` under this driver's client id, the
 * websocket reports its nodes, sampler steps and previews, and the result is
 * read from `/history` and `/view`. ComfyUI's validation errors (`node_errors`)
 * refuse the task; an `execution_error` fails it with the node and the
 * exception named. Aborting interrupts the prompt if it runs, or takes it off
 * ComfyUI's queue if it waits. The time the loader nodes ran is the
 * checkpoint load the gateway plans with; when ComfyUI's cache kept the model,
 * they do not run and the task loaded nothing.
 *
 * @example
 * const driver = new ComfyUIDriver({ baseUrl: 'http://127.0.0.1:8188', maxPixels: 2048 * 2048 });
 * const { capabilities } = await driver.discover();
 * const { result } = await driver.run(spec, binding, { onProgress: (p) => log(p.progress) });
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Binding } from '../../../domain/binding.js';
import type { ModelFamily } from '../../../domain/families.js';
import { type GenerationSpec, type Img2ImgSpec, type InpaintSpec, isDiffusion, maskedAreaOnly, type TaskResult } from '../../../domain/spec.js';
import { DanError } from '../../../errors/dan-error.js';
import { type Clock, systemClock } from '../../../util/clock.js';
import type { BackendDriver, BackendSnapshot, RunOptions, RunOutcome } from '../../backend-driver.js';
import { BackendClient } from '../backend-client.js';
import { discoverComfy, type ComfyInventory, type MetadataCache } from './discover.js';
import { buildGraph, type BuiltGraph, type GraphFiles } from './graph-builder.js';
import { fittedImage, regenerationMask, type Size, sourceImage, uploadNameOf, uprightImage } from './input-images.js';
import { cropToArea, maskRegion, pasteBack } from './masked-area.js';
import { cancelPrompt, historyEntry } from './comfy-queue.js';
import { followPrompt, type Timeline } from './prompt-follow.js';
import { PromptWatch } from './prompt-watch.js';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const CONTROL_TIMEOUT_MS = 5 * SECOND_MS;
/** The seed a random-seed task gets: ComfyUI has no "random", the driver picks and reports it. */
const MAX_RANDOM_SEED = 2 ** 32;

export interface ComfyUIDriverOptions {
  /** ComfyUI's base URL, e.g. `http://127.0.0.1:8188`. */
  baseUrl: string;
  /** HTTP Basic credentials of a ComfyUI behind an authenticating proxy: `user:password`. */
  auth?: string;
  /** The id of the node's connection to its gateway, sent with each request (node/backends/backend-client.ts `nodeId`). */
  nodeId?: () => string | undefined;
  /** Largest image (width × height) the GPU owner allows; the GPU's memory may allow fewer. */
  maxPixels: number;
  /** Families of files ComfyUI cannot tell (by file name, with or without extension). */
  declaredFamilies?: ReadonlyMap<string, ModelFamily>;
  /** Longest a task may take, waiting in ComfyUI's queue included. @defaultValue 10 min */
  requestTimeoutMs?: number;
  /** After an abort and interrupt, how long to wait for ComfyUI to end the prompt. @defaultValue 5 s */
  abortGraceMs?: number;
  /** How often a running prompt is looked up in ComfyUI's queue and history besides its websocket. @defaultValue 5 s */
  watchIntervalMs?: number;
  /** Times checkpoint loads. @defaultValue systemClock */
  clock?: Clock;
}

export class ComfyUIDriver implements BackendDriver {
  readonly kind = 'comfyui' as const;
  readonly #client: BackendClient;
  readonly #options: ComfyUIDriverOptions;
  readonly #clock: Clock;
  readonly #metadataCache: MetadataCache = new Map();
  #inventory: ComfyInventory | null = null;
  /** The model the last graph loaded, as far as this driver knows. */
  #loaded: string | null = null;

  constructor(options: ComfyUIDriverOptions) {
    this.#options = options;
    const { auth, nodeId } = options;
    this.#client = new BackendClient({ baseUrl: options.baseUrl, label: 'ComfyUI', ...(auth === undefined ? {} : { auth }), ...(nodeId === undefined ? {} : { nodeId }) });
    this.#clock = options.clock ?? systemClock;
  }

  async discover(): Promise<BackendSnapshot> {
    const { capabilities, inventory } = await discoverComfy(this.#client, {
      maxPixels: this.#options.maxPixels,
      declaredFamilies: this.#options.declaredFamilies ?? new Map(),
      metadataCache: this.#metadataCache,
    });
    this.#inventory = inventory;
    return { capabilities, loadedModel: this.#loaded };
  }

  async run(spec: GenerationSpec, binding: Binding, options: RunOptions = {}): Promise<RunOutcome> {
    const { signal } = options;
    signal?.throwIfAborted();
    const inventory = this.#inventory ?? (await this.discover(), this.#inventory!);
    const seed = isDiffusion(spec) ? (spec.seed >= 0 ? spec.seed : randomInt(MAX_RANDOM_SEED)) : 0;
    const { files, finish, graphOf = spec } = await this.#uploadInputs(spec, signal);
    const built = buildGraph(graphOf, binding, inventory, files, seed);
    // A client id of its own: ComfyUI keeps one socket per id and forgets the id when any of its sockets closes.
    const clientId = randomUUID().replace(/-/g, '');
    const watch = await PromptWatch.open(this.#client.baseUrl, clientId, this.#clock, this.#client.authHeaders(), CONTROL_TIMEOUT_MS);
    const timeline: Timeline = [];
    try {
      signal?.throwIfAborted();
      const promptId = await this.#queue(built, clientId);
      const end = await followPrompt(watch, promptId, built, timeline, {
        ...options,
        client: this.#client,
        clock: this.#clock,
        timeoutMs: this.#options.requestTimeoutMs ?? 10 * MINUTE_MS,
        abortGraceMs: this.#options.abortGraceMs ?? 5 * SECOND_MS,
        watchIntervalMs: this.#options.watchIntervalMs ?? 5 * SECOND_MS,
      });
      if (end.kind === 'interrupted') throw new DanError('DAN_ERR_BACKEND_FAILED', 'ComfyUI interrupted the prompt (someone pressed cancel on that ComfyUI)');
      if (end.kind === 'error') throw executionError(end.data);
      const result = await this.#result(spec, built, promptId, seed, finish);
      const load = isDiffusion(spec) ? loadOf(built, timeline, binding.checkpoint) : undefined;
      // ComfyUI's cache keeps the last prompt's nodes only: a graph without a model drops the one loaded.
      this.#loaded = isDiffusion(spec) ? (binding.checkpoint ?? null) : null;
      return { result, loadedModel: this.#loaded, ...(load ? { load } : {}) };
    } catch (error) {
      // ComfyUI may have restarted (and lost its models) or another client may have loaded one.
      if (!signal?.aborted) this.#loaded = null;
      throw error;
    } finally {
      watch.close();
    }
  }

  async interrupt(): Promise<void> {
    await this.#client.post('/interrupt', {}, { timeoutMs: CONTROL_TIMEOUT_MS });
  }

  /**
   * `POST /prompt`; the prompt's id. A graph naming a file ComfyUI no longer has (the GPU owner removed it
   * since the node last looked) fails the attempt so that another node retries it; other refusals are
   * translation bugs and refuse the task.
   */
  async #queue(built: BuiltGraph, clientId: string): Promise<string> {
    // The prompt's id is ours (ComfyUI takes one since 2025; older builds choose their own and answer it): a
    // request whose answer is lost can still be taken back, rather than left running with nobody to follow it.
    const ownId = randomUUID();
    let answer: unknown;
    try {
      answer = await this.#client.post('/prompt', { prompt: built.graph.nodes, client_id: clientId, prompt_id: ownId }, { timeoutMs: 30 * SECOND_MS });
    } catch (error) {
      if (isMissingFile(error)) throw new DanError('DAN_ERR_BACKEND_FAILED', `${(error as Error).message} (a file the node listed is gone; it will look again)`, { cause: error });
      if ((error as Partial<DanError>).id === 'DAN_ERR_BACKEND_UNREACHABLE') void cancelPrompt(this.#client, ownId);
      throw error;
    }
    const promptId = (answer as { prompt_id?: unknown } | null)?.prompt_id;
    if (typeof promptId !== 'string' || promptId === '') throw badResponse('POST /prompt answered without a prompt_id');
    return promptId;
  }

  async #result(spec: GenerationSpec, built: BuiltGraph, promptId: string, seed: number, finish?: (png: Buffer) => Promise<Buffer>): Promise<TaskResult> {
    const entry = await historyEntry(this.#client, promptId);
    if (!entry) throw badResponse(`/history has no entry for prompt ${promptId} after it ended`);
    const output = entry.outputs?.[built.output];
    if (spec.kind === 'interrogate') {
      const tags = output?.['tags'];
      const caption = Array.isArray(tags) ? tags[0] : undefined;
      if (typeof caption !== 'string') throw badResponse(`the tagger node ${built.output} left no tags in /history`);
      return { kind: 'caption', caption };
    }
    const images = output?.['images'];
    const first = Array.isArray(images) ? (images[0] as { filename?: unknown; subfolder?: unknown; type?: unknown } | undefined) : undefined;
    if (typeof first?.filename !== 'string') throw badResponse(`the image node ${built.output} left no image in /history`);
    const query = new URLSearchParams({ filename: first.filename, subfolder: typeof first.subfolder === 'string' ? first.subfolder : '', type: typeof first.type === 'string' ? first.type : 'output' });
    const answered = await this.#client.getBytes(`/view?${query.toString()}`, { timeoutMs: MINUTE_MS });
    if (answered.length === 0) throw badResponse(`/view answered ${first.filename} with no bytes`);
    const png = finish ? await finish(answered) : answered;
    return { kind: 'images', images: [png.toString('base64')], seeds: isDiffusion(spec) ? [seed] : [] };
  }

  /**
   * Uploads the task's images (fitted to its size where the graph needs that); returns their stored names,
   * and for inpainting of the masked area only, what turns the graph's result into the task's.
   */
  async #uploadInputs(
    spec: GenerationSpec,
    signal: AbortSignal | undefined,
  ): Promise<{ files: GraphFiles; finish?: (png: Buffer) => Promise<Buffer>; graphOf?: GenerationSpec }> {
    // Into ComfyUI's temp folder, which it empties when it starts and does not list as LoadImage's choices; named by
    // content, so a picture sent twice is stored once, and never rewritten while another prompt may read it.
    const upload = async (bytes: Buffer): Promise<string> => {
      const form = new FormData();
      form.append('image', new Blob([bytes]), uploadNameOf(bytes));
      form.append('type', 'temp');
      const answer = await this.#client.postForm('/upload/image', form, { timeoutMs: MINUTE_MS, ...(signal ? { signal } : {}) });
      const name = (answer as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || name === '') throw badResponse('/upload/image answered without a file name');
      return `${name} [temp]`;
    };
    if (spec.kind === 'upscale' || spec.kind === 'interrogate') return { files: { image: await upload(sourceImage(spec.image, 'image')) } };
    const size = { width: spec.width, height: spec.height };
    const controls = (fit: Size, crop: (image: Buffer) => Promise<Buffer> = async (image) => image) =>
      Promise.all(spec.controlNet.map(async (unit, i) => upload(await crop(await fittedImage(unit.image, fit, unit.resizeMode, `control image ${i + 1}`)))));
    if (spec.kind === 'img2img' && spec.inpaint && maskedAreaOnly(spec)) {
      const masked = await this.#maskedArea(spec, spec.inpaint, size, upload, controls);
      if (masked) return masked;
      // A mask that covers nothing: A1111 drops it and works on the whole picture, as plain img2img.
      const [control, initImage] = await Promise.all([controls(size), fittedImage(spec.initImage, size, spec.resizeMode, 'init image').then(upload)]);
      return { files: { control, initImage }, graphOf: { ...spec, inpaint: null } };
    }
    const files: GraphFiles = { control: await controls(size) };
    if (spec.kind !== 'img2img') return { files };
    files.initImage = await upload(await fittedImage(spec.initImage, size, spec.resizeMode, 'init image'));
    if (spec.inpaint) files.mask = await upload(await regenerationMask(spec.inpaint, size, spec.resizeMode));
    return { files };
  }

  /**
   * Inpainting the masked area only (masked-area.ts): the crops of the original, its mask and the control images
   * uploaded, and what pastes the graph's result back into the original; null when the mask covers nothing.
   */
  async #maskedArea(
    spec: Img2ImgSpec,
    inpaint: InpaintSpec,
    size: Size,
    upload: (bytes: Buffer) => Promise<string>,
    controls: (fit: Size, crop: (image: Buffer) => Promise<Buffer>) => Promise<string[]>,
  ): Promise<{ files: GraphFiles; finish: (png: Buffer) => Promise<Buffer> } | null> {
    const original = await uprightImage(spec.initImage, 'init image');
    const mask = await regenerationMask(inpaint, original.size, spec.resizeMode);
    const region = await maskRegion(mask, size);
    if (!region) return null;
    const crop = (image: Buffer) => cropToArea(image, region, size);
    const [initImage, maskFile, control] = await Promise.all([crop(original.png).then(upload), crop(mask).then(upload), controls(original.size, crop)]);
    return { files: { initImage, mask: maskFile, control, pastedByNode: true }, finish: (png) => pasteBack(original.png, mask, png, region) };
  }
}

/** The loader nodes' run time, when they ran (a cached model loads nothing). */
function loadOf(built: BuiltGraph, timeline: Timeline, checkpoint: string | undefined): RunOutcome['load'] {
  if (checkpoint === undefined) return undefined;
  let seconds = 0;
  let ran = false;
  timeline.forEach(([node, at], i) => {
    if (!built.loaders.includes(node)) return;
    const next = timeline[i + 1];
    if (!next) return;
    ran = true;
    seconds += (next[1] - at) / SECOND_MS;
  });
  return ran ? { checkpoint, seconds } : undefined;
}

/** Names of loader inputs: a value ComfyUI no longer lists there is a file removed since discovery. */
const FILE_INPUTS = new Set(['ckpt_name', 'unet_name', 'clip_name1', 'clip_name2', 'vae_name', 'lora_name', 'control_net_name', 'model_name']);

/** A 400 from `POST /prompt` whose every error is a file input's value no longer in ComfyUI's list. */
function isMissingFile(error: unknown): boolean {
  if (!(error instanceof DanError) || error.id !== 'DAN_ERR_BACKEND_REJECTED') return false;
  const body = (error.cause as { body?: unknown } | undefined)?.body as { node_errors?: unknown } | undefined;
  const nodeErrors = body?.node_errors;
  if (typeof nodeErrors !== 'object' || nodeErrors === null) return false;
  const errors = Object.values(nodeErrors).flatMap((entry) => ((entry as { errors?: unknown } | null)?.errors as unknown[] | undefined) ?? []);
  return (
    errors.length > 0 &&
    errors.every((e) => {
      const { type, extra_info: extra } = (e ?? {}) as { type?: unknown; extra_info?: { input_name?: unknown } };
      return type === 'value_not_in_list' && typeof extra?.input_name === 'string' && FILE_INPUTS.has(extra.input_name);
    })
  );
}

function executionError(data: Record<string, unknown>): DanError {
  const text = (key: string, otherwise: string): string => {
    const value = data[key];
    return typeof value === 'string' ? value : otherwise;
  };
  const node = `${text('node_id', '?')} (${text('node_type', '?')})`;
  const message = `${text('exception_type', 'Exception')}: ${text('exception_message', '').trim()}`.slice(0, 2000);
  return new DanError('DAN_ERR_BACKEND_FAILED', `ComfyUI failed in node ${node}: ${message}`);
}

function badResponse(problem: string): DanError {
  return new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', `ComfyUI's answer is not a result: ${problem}`);
}
