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
import { type GenerationSpec, isDiffusion, type TaskResult } from '../../../domain/spec.js';
import { DanError } from '../../../errors/dan-error.js';
import { PREVIEW_MAX_BASE64 } from '../../../protocol/messages.js';
import { type Clock, systemClock } from '../../../util/clock.js';
import type { BackendDriver, BackendSnapshot, RunOptions, RunOutcome, RunProgress } from '../../backend-driver.js';
import { BackendClient } from '../backend-client.js';
import { discoverComfy, type ComfyInventory } from './discover.js';
import { buildGraph, type BuiltGraph, type GraphFiles } from './graph-builder.js';
import { fittedImage, imageBytes, regenerationMask, uploadNameOf } from './input-images.js';
import { PromptWatch, type PromptEnd } from './prompt-watch.js';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const CONTROL_TIMEOUT_MS = 5 * SECOND_MS;
/** Progress is forwarded at most this often (ComfyUI reports every sampler step). */
const PROGRESS_INTERVAL_MS = 250;
/** When the websocket drops mid-prompt, `/history` is read this often instead. */
const HISTORY_POLL_MS = SECOND_MS;
/** The seed a random-seed task gets: ComfyUI has no "random", the driver picks and reports it. */
const MAX_RANDOM_SEED = 2 ** 32;

export interface ComfyUIDriverOptions {
  /** ComfyUI's base URL, e.g. `http://127.0.0.1:8188`. */
  baseUrl: string;
  /** HTTP Basic credentials of a ComfyUI behind an authenticating proxy: `user:password`. */
  auth?: string;
  /** Largest image (width × height) the GPU owner allows; the GPU's memory may allow fewer. */
  maxPixels: number;
  /** Families of files ComfyUI cannot tell (by file name, with or without extension). */
  declaredFamilies?: ReadonlyMap<string, ModelFamily>;
  /** Longest a task may take, waiting in ComfyUI's queue included. @defaultValue 10 min */
  requestTimeoutMs?: number;
  /** After an abort and interrupt, how long to wait for ComfyUI to end the prompt. @defaultValue 5 s */
  abortGraceMs?: number;
  /** Times checkpoint loads. @defaultValue systemClock */
  clock?: Clock;
}

interface Timeline {
  /** When each node began, in order (the clock's ms); '' marks the end. */
  starts: [node: string, at: number][];
}

export class ComfyUIDriver implements BackendDriver {
  readonly #client: BackendClient;
  readonly #options: ComfyUIDriverOptions;
  readonly #clock: Clock;
  readonly #clientId = randomUUID().replace(/-/g, '');
  readonly #metadataCache = new Map<string, ModelFamily | null>();
  #inventory: ComfyInventory | null = null;
  /** The model the last graph loaded, as far as this driver knows. */
  #loaded: string | null = null;

  constructor(options: ComfyUIDriverOptions) {
    this.#options = options;
    this.#client = new BackendClient({ baseUrl: options.baseUrl, label: 'ComfyUI', ...(options.auth === undefined ? {} : { auth: options.auth }) });
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
    const files = await this.#uploadInputs(spec, signal);
    const built = buildGraph(spec, binding, inventory, files, seed);
    const timeout = this.#options.requestTimeoutMs ?? 10 * MINUTE_MS;
    const watch = await PromptWatch.open(this.#client.baseUrl, this.#clientId, this.#clock, this.#authHeaders(), CONTROL_TIMEOUT_MS);
    const timeline: Timeline = { starts: [] };
    try {
      signal?.throwIfAborted();
      const answer = await this.#client.post('/prompt', { prompt: built.graph.nodes, client_id: this.#clientId }, { timeoutMs: 30 * SECOND_MS });
      const promptId = (answer as { prompt_id?: unknown } | null)?.prompt_id;
      if (typeof promptId !== 'string' || promptId === '') throw badResponse('POST /prompt answered without a prompt_id');
      const end = await this.#follow(watch, promptId, built, timeline, options, timeout);
      if (end.kind === 'interrupted') throw new DanError('DAN_ERR_BACKEND_FAILED', 'ComfyUI interrupted the prompt (someone pressed cancel on that ComfyUI)');
      if (end.kind === 'error') throw executionError(end.data);
      const result = await this.#result(spec, built, promptId, seed);
      const load = isDiffusion(spec) ? loadOf(built, timeline, binding.checkpoint) : undefined;
      if (isDiffusion(spec)) this.#loaded = binding.checkpoint ?? null;
      return { result, loadedModel: this.#loaded, ...(load ? { load } : {}) };
    } finally {
      watch.close();
    }
  }

  async interrupt(): Promise<void> {
    await this.#client.post('/interrupt', {}, { timeoutMs: CONTROL_TIMEOUT_MS });
  }

  /** Waits for the prompt to end, reporting progress; on abort, interrupts it (or drops it from the queue). */
  #follow(watch: PromptWatch, promptId: string, built: BuiltGraph, timeline: Timeline, options: RunOptions, timeoutMs: number): Promise<PromptEnd> {
    const { signal, onProgress } = options;
    return new Promise<PromptEnd>((resolve, reject) => {
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      const progress = onProgress ? progressReporter(built, this.#clock, onProgress) : null;
      watch.on('node', (node, at) => timeline.starts.push([node, at]));
      watch.on('progress', (node, value, max) => progress?.step(node, value, max));
      watch.on('preview', (image) => progress?.preview(image));
      // An interrupt this run asked for ends the prompt too: the abort's reason is the outcome then.
      watch.on('end', (end) => finish(() => (signal?.aborted ? reject(signal.reason) : resolve(end))));
      watch.on('lost', () => void this.#pollHistory(promptId, () => settled).then((end) => end && finish(() => resolve(end)), (error: unknown) => finish(() => reject(error))));
      const onAbort = (): void => {
        // A prompt taken off the queue never runs and sends nothing: done as soon as ComfyUI says it is not running.
        void this.#cancel(promptId).then(async () => {
          if (!(await this.#isRunning(promptId))) finish(() => reject(signal!.reason));
        });
        // A running one stops at its next sampler step; waiting for that leaves ComfyUI free when `run` settles.
        timers.push(setTimeout(() => finish(() => reject(signal!.reason)), this.#options.abortGraceMs ?? 5 * SECOND_MS));
      };
      if (signal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      // Listeners first: following replays the events that came before the prompt's id was known.
      watch.follow(promptId);
      timers.push(
        setTimeout(() => {
          void this.#cancel(promptId);
          finish(() => reject(new DanError('DAN_ERR_BACKEND_UNREACHABLE', `ComfyUI at ${this.#client.baseUrl} did not finish the prompt within ${timeoutMs} ms`)));
        }, timeoutMs),
      );
    });
  }

  /** The prompt's end as `/history` tells it, once it is there; null if `stopped()` first. */
  async #pollHistory(promptId: string, stopped: () => boolean): Promise<PromptEnd | null> {
    while (!stopped()) {
      const entry = await this.#historyEntry(promptId).catch(() => undefined);
      if (entry) return endOf(entry);
      await new Promise((resolve) => setTimeout(resolve, HISTORY_POLL_MS));
    }
    return null;
  }

  async #cancel(promptId: string): Promise<void> {
    const quietly = (path: string, body: unknown) => this.#client.post(path, body, { timeoutMs: CONTROL_TIMEOUT_MS }).catch(() => undefined);
    await Promise.all([quietly('/interrupt', { prompt_id: promptId }), quietly('/queue', { delete: [promptId] })]);
  }

  /** Whether ComfyUI runs `promptId` now; true when it cannot tell (the grace period then ends the wait). */
  async #isRunning(promptId: string): Promise<boolean> {
    try {
      const queue = (await this.#client.get('/queue', { timeoutMs: CONTROL_TIMEOUT_MS })) as { queue_running?: unknown } | null;
      const running = Array.isArray(queue?.queue_running) ? queue.queue_running : [];
      return running.some((row) => Array.isArray(row) && row[1] === promptId);
    } catch {
      return true;
    }
  }

  async #historyEntry(promptId: string): Promise<HistoryEntry | undefined> {
    const history = await this.#client.get(`/history/${encodeURIComponent(promptId)}`, { timeoutMs: 30 * SECOND_MS });
    const entry = (history as Record<string, unknown> | null)?.[promptId];
    return typeof entry === 'object' && entry !== null ? entry : undefined;
  }

  async #result(spec: GenerationSpec, built: BuiltGraph, promptId: string, seed: number): Promise<TaskResult> {
    const entry = await this.#historyEntry(promptId);
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
    if (typeof first?.filename !== 'string') throw badResponse(`the SaveImage node ${built.output} left no image in /history`);
    const query = new URLSearchParams({ filename: first.filename, subfolder: typeof first.subfolder === 'string' ? first.subfolder : '', type: typeof first.type === 'string' ? first.type : 'output' });
    const png = await this.#client.getBytes(`/view?${query.toString()}`, { timeoutMs: MINUTE_MS });
    if (png.length === 0) throw badResponse(`/view answered ${first.filename} with no bytes`);
    return { kind: 'images', images: [png.toString('base64')], seeds: isDiffusion(spec) ? [seed] : [] };
  }

  /** Uploads the task's images (fitted to its size where the graph needs that); returns their stored names. */
  async #uploadInputs(spec: GenerationSpec, signal: AbortSignal | undefined): Promise<GraphFiles> {
    const upload = async (bytes: Buffer): Promise<string> => {
      const form = new FormData();
      form.append('image', new Blob([bytes]), uploadNameOf(bytes));
      form.append('type', 'input');
      form.append('overwrite', 'true');
      const answer = await this.#client.postForm('/upload/image', form, { timeoutMs: MINUTE_MS, ...(signal ? { signal } : {}) });
      const name = (answer as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || name === '') throw badResponse('/upload/image answered without a file name');
      return name;
    };
    if (spec.kind === 'upscale' || spec.kind === 'interrogate') return { image: await upload(imageBytes(spec.image, 'image')) };
    const size = { width: spec.width, height: spec.height };
    const files: GraphFiles = {
      control: await Promise.all(spec.controlNet.map(async (unit, i) => upload(await fittedImage(unit.image, size, unit.resizeMode, `control image ${i + 1}`)))),
    };
    if (spec.kind === 'img2img') {
      files.initImage = await upload(await fittedImage(spec.initImage, size, spec.resizeMode, 'init image'));
      if (spec.inpaint) files.mask = await upload(await regenerationMask(spec.inpaint, size, spec.resizeMode));
    }
    return files;
  }

  #authHeaders(): Record<string, string> {
    const auth = this.#options.auth;
    return auth === undefined ? {} : { authorization: `Basic ${Buffer.from(auth, 'utf8').toString('base64')}` };
  }
}

interface HistoryEntry {
  outputs?: Record<string, Record<string, unknown>>;
  status?: { status_str?: unknown; messages?: unknown };
}

/** The end `/history` records: success, or the `execution_error` / `execution_interrupted` among its messages. */
function endOf(entry: HistoryEntry): PromptEnd {
  if (entry.status?.status_str !== 'error') return { kind: 'success' };
  const messages = Array.isArray(entry.status.messages) ? (entry.status.messages as [unknown, unknown][]) : [];
  const error = messages.find((m) => Array.isArray(m) && m[0] === 'execution_error');
  if (error) return { kind: 'error', data: (error[1] ?? {}) as Record<string, unknown> };
  return { kind: 'interrupted' };
}

/** Sampler steps over all passes → the task's progress, at most every PROGRESS_INTERVAL_MS, with the latest preview. */
function progressReporter(built: BuiltGraph, clock: Clock, onProgress: (progress: RunProgress) => void) {
  const total = built.samplerPasses.reduce((sum, pass) => sum + pass.steps, 0);
  let started: number | null = null;
  let lastReport = -Infinity;
  let preview: string | undefined;
  return {
    step(node: string, value: number, max: number): void {
      const index = built.samplerPasses.findIndex((pass) => pass.node === node);
      if (index < 0 || max <= 0 || total === 0) return;
      const before = built.samplerPasses.slice(0, index).reduce((sum, pass) => sum + pass.steps, 0);
      const progress = Math.min(1, (before + (built.samplerPasses[index]!.steps * Math.min(value, max)) / max) / total);
      const now = clock.now();
      started ??= now;
      if (now - lastReport < PROGRESS_INTERVAL_MS && progress < 1) return;
      lastReport = now;
      const elapsed = (now - started) / SECOND_MS;
      const etaSeconds = progress > 0 ? (elapsed * (1 - progress)) / progress : null;
      try {
        onProgress({ progress, etaSeconds, ...(preview ? { preview } : {}) });
      } catch {
        // A listener's failure must not fail the task.
      }
      preview = undefined;
    },
    preview(image: Buffer): void {
      const base64 = image.toString('base64');
      if (base64.length <= PREVIEW_MAX_BASE64) preview = base64;
    },
  };
}

/** The loader nodes' run time, when they ran (a cached model loads nothing). */
function loadOf(built: BuiltGraph, timeline: Timeline, checkpoint: string | undefined): RunOutcome['load'] {
  if (checkpoint === undefined) return undefined;
  let seconds = 0;
  let ran = false;
  timeline.starts.forEach(([node, at], i) => {
    if (!built.loaders.includes(node)) return;
    const next = timeline.starts[i + 1];
    if (!next) return;
    ran = true;
    seconds += (next[1] - at) / SECOND_MS;
  });
  return ran ? { checkpoint, seconds } : undefined;
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
