/**
 * @module node/backends/a1111/a1111-driver
 *
 * The `BackendDriver` for AUTOMATIC1111-compatible WebUIs (A1111 ≥ 1.6, Forge,
 * SD.Next in A1111 API mode). A run that needs another checkpoint first loads it
 * with `POST /sdapi/v1/options {sd_model_checkpoint}`, which A1111 answers once
 * the weights are loaded, timed on its own: the gateway plans switches with
 * what each load really costs (the request still names the checkpoint in
 * `override_settings`, in case another client of the WebUI switched it in
 * between). Then the generation is one blocking POST; while it is in flight
 * the driver polls `/sdapi/v1/progress`, which A1111 answers without taking its
 * queue lock (A.8). Aborting a run sends `/sdapi/v1/interrupt`, because A1111
 * keeps working on a request whose client went away, then waits a little for
 * the WebUI to answer the interrupted request.
 *
 * @example
 * const driver = new A1111Driver({ baseUrl: 'http://127.0.0.1:7860', maxPixels: 1024 * 1024 });
 * const { capabilities } = await driver.discover();
 * const { result } = await driver.run(spec, binding, { onProgress: (p) => log(p.progress) });
 */
import { PREVIEW_MAX_BASE64 } from '../../../protocol/messages.js';
import type { Binding } from '../../../domain/binding.js';
import type { ModelFamily } from '../../../domain/families.js';
import { type GenerationSpec, isDiffusion } from '../../../domain/spec.js';
import type { ErrorId } from '../../../errors/catalog.js';
import type { DanError } from '../../../errors/dan-error.js';
import { type Clock, systemClock } from '../../../util/clock.js';
import type { BackendDriver, BackendSnapshot, CheckpointLoad, RunOptions, RunOutcome, RunProgress } from '../../backend-driver.js';
import { discoverCapabilities } from './discover.js';
import { fromA1111Response, toA1111Request } from './translate.js';
import { withUprightImages } from '../upright-images.js';
import { BackendClient } from '../backend-client.js';
import { CheckpointFiles, type CheckpointFilesLog } from '../checkpoint-family.js';
import { JobLine, type Place, untilAborted } from './job-line.js';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
/** An interrupt or a progress poll is answered without the queue lock, so quickly. */
const CONTROL_TIMEOUT_MS = 5 * SECOND_MS;
const PROGRESS_PATH = '/sdapi/v1/progress?skip_current_image=true';
/** With the live preview (when the WebUI makes them: its "live previews" setting). */
const PROGRESS_WITH_PREVIEW_PATH = '/sdapi/v1/progress?skip_current_image=false';
/**
 * A run waiting behind another is sent once the WebUI says that job has sampled a step and has at most
 * this many seconds left: early enough to be waiting on the lock when the job lets go of it, late enough
 * that the job is not interrupted after that (`#watchAbort`) for more than about this long of GPU time.
 */
const NEAR_END_SECONDS = 1;
/** Bounds of the wait between two progress polls while a run waits to be sent behind the job. */
const NEAR_END_POLL_MS = { least: 20, most: 500 };
/** Every this many progress polls asks for the preview too: a preview is tens of KiB, progress a few bytes. */
const PREVIEW_EVERY_POLLS = 4;

export interface A1111DriverOptions {
  /** The WebUI's base URL, e.g. `http://127.0.0.1:7860`. */
  baseUrl: string;
  /** HTTP Basic credentials as A1111's `--api-auth` takes them: `user:password`. */
  auth?: string;
  /** The id of the node's connection to its gateway, sent with each request (node/backends/backend-client.ts `nodeId`). */
  nodeId?: () => string | undefined;
  /** Largest image (width × height) this GPU may be asked to make. */
  maxPixels: number;
  /** Interrogators to declare. @defaultValue ['clip', 'deepdanbooru'] */
  interrogators?: string[];
  /** Families of checkpoints, by file name (A1111 does not tell them); they win over the files' headers. */
  declaredFamilies?: ReadonlyMap<string, ModelFamily>;
  /**
   * Where each checkpoint file whose family could not be read is said, once. Undeclared checkpoints'
   * families are read from their files' headers, at the paths the WebUI lists (checkpoint-family.ts):
   * that works when the node runs on the WebUI's machine.
   */
  log?: CheckpointFilesLog;
  /** How often to poll progress while a task runs. @defaultValue 500 ms */
  progressIntervalMs?: number;
  /** Longest a task's request may take, queueing behind other WebUI users included. @defaultValue 10 min */
  requestTimeoutMs?: number;
  /** After an abort and interrupt, how long to wait for the WebUI to drop the job. @defaultValue 5 s */
  abortGraceMs?: number;
  /** Times checkpoint loads (the gateway plans with them); tests pass the sandbox's fake clock. @defaultValue systemClock */
  clock?: Clock;
}

interface AbortWatch {
  /** Settles once the interrupt sent on abort was answered (or failed). */
  interrupted: Promise<void>;
  stop(): void;
}

export class A1111Driver implements BackendDriver {
  readonly kind = 'a1111' as const;
  readonly #client: BackendClient;
  readonly #maxPixels: number;
  readonly #interrogators: string[];
  readonly #declaredFamilies: ReadonlyMap<string, ModelFamily>;
  /** Kept across discoveries: a file is read again only when it changed. */
  readonly #checkpointFiles: CheckpointFiles;
  readonly #progressIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #abortGraceMs: number;
  readonly #clock: Clock;
  /** The checkpoint the WebUI has loaded, as far as this driver knows (from discovery and its own loads); null: unknown. */
  #loaded: string | null = null;
  /** Its runs in the order the WebUI runs them. */
  readonly #line = new JobLine();
  readonly runsInLine = true;

  constructor(options: A1111DriverOptions) {
    const auth = options.auth === undefined ? {} : { auth: options.auth };
    this.#client = new BackendClient({ baseUrl: options.baseUrl, ...auth, ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }) });
    this.#maxPixels = options.maxPixels;
    this.#interrogators = options.interrogators ?? ['clip', 'deepdanbooru'];
    this.#declaredFamilies = options.declaredFamilies ?? new Map();
    this.#checkpointFiles = new CheckpointFiles(options.log ? { log: options.log } : {});
    this.#progressIntervalMs = options.progressIntervalMs ?? 500;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10 * MINUTE_MS;
    this.#abortGraceMs = options.abortGraceMs ?? 5 * SECOND_MS;
    this.#clock = options.clock ?? systemClock;
  }

  async discover(): Promise<BackendSnapshot> {
    const snapshot = await discoverCapabilities(this.#client, {
      maxPixels: this.#maxPixels,
      interrogators: this.#interrogators,
      declaredFamilies: this.#declaredFamilies,
      checkpointFiles: this.#checkpointFiles,
    });
    this.#loaded = snapshot.loadedModel;
    this.#forge = snapshot.capabilities.backend.modules !== undefined;
    // Kept from an earlier read while the setting holds Flux's (discover.ts).
    this.#ownModules = snapshot.ownModules ?? this.#ownModules;
    const { ownModules: _own, ...declared } = snapshot;
    return declared;
  }

  /** Forge: the modules its owner chose for SD models (a VAE), sent with every model that needs none of Flux's. */
  #ownModules: string[] = [];

  /**
   * Forge: it only notes a checkpoint set through the options, and loads it at the next generation (no
   * route loads it now), so the options call's time says nothing of the load and is not reported.
   */
  #forge = false;

  /**
   * Runs one task. May be called again before an earlier run settled (`runsInLine`): the runs keep their
   * order, and one that needs no checkpoint load is sent to wait on the WebUI's lock once the job before it
   * nears its end (job-line.ts).
   */
  async run(spec: GenerationSpec, given: Binding, options: RunOptions = {}): Promise<RunOutcome> {
    // Forge, a model that needs none of Flux's modules: its owner's own (binding.ts).
    const binding = given.forgeModules?.length === 0 ? { ...given, forgeModules: this.#ownModules } : given;
    // Made while the run waits its turn (it joins the line first, keeping the runs' order).
    const prepared = withUprightImages(spec).then((upright) => toA1111Request(upright, binding));
    prepared.catch(() => {}); // awaited in the run below; one given up first leaves no rejection unhandled
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    const checkpoint = isDiffusion(spec) ? binding.checkpoint : undefined;
    const place = this.#line.join(isDiffusion(spec) ? (binding.refiner ?? checkpoint) : undefined, this.#loaded);
    const calledAt = this.#clock.now();
    let begunAt = calledAt;
    const begun = place.begun.then(() => {
      begunAt = this.#clock.now();
    });
    let polling: { stop(): Promise<void> } | undefined;
    let watch: AbortWatch | undefined;
    let settled = false;
    let answered = false;
    try {
      const { path, body } = await untilAborted(prepared, signal);
      let loads = checkpoint !== undefined && checkpoint !== (place.loadedBefore === undefined ? this.#loaded : place.loadedBefore);
      await untilAborted(loads ? begun : place.mayQueue, signal);
      if (!loads && place.beforeFailed()) {
        // The run before it failed, perhaps loading the checkpoint this one counted on: as it is now.
        await untilAborted(begun, signal);
        loads = checkpoint !== undefined && checkpoint !== this.#loaded;
      }
      const load = loads && checkpoint !== undefined ? await this.#load(checkpoint, signal) : undefined;
      // Progress is the job's that holds the lock: this run's once those before it have ended.
      // (Its answer may even come first, when the run before it has a long encoding left.)
      // Once a run was sent behind it, what the WebUI reports may be that one's: nothing more is passed on.
      if (onProgress) void begun.then(() => (polling = settled || signal?.aborted ? undefined : this.#pollProgress(onProgress, () => place.followed())));
      const request = new AbortController();
      watch = signal ? this.#watchAbort(signal, request, place) : undefined;
      const answer = this.#client.post(path, body, { signal: request.signal, timeoutMs: this.#requestTimeoutMs });
      place.sent();
      void this.#watchNearEnd(place, options.expectedSeconds);
      const json = await answer;
      // An interrupted job still answers 200, with a partial image nobody wants.
      signal?.throwIfAborted();
      // A job with a refiner ends with the refiner's weights loaded: the next job's checkpoint loads again.
      if (isDiffusion(spec) && binding.refiner !== undefined) this.#loaded = binding.refiner;
      const loadedModel = isDiffusion(spec) ? (binding.refiner ?? binding.checkpoint ?? null) : null;
      // The run before it lets go of its place once its own answer is read and decoded: a short run sent behind it
      // (expectedSeconds) may be answered by then, and its wait is then all the time it took.
      const waitedMs = place.behind ? Math.min(begunAt, this.#clock.now()) - calledAt : 0;
      answered = true;
      return { result: fromA1111Response(spec, json), loadedModel, ...(load ? { load } : {}), ...(waitedMs > 0 ? { waitedMs } : {}) };
    } catch (error) {
      if (signal?.aborted) {
        await watch?.interrupted;
        throw signal.reason;
      }
      // Timed out or cut off: the WebUI may still be working on a job nobody waits for (unless a later
      // one may have begun: the interrupt would stop that one).
      if (isUnreachable(error) && !place.followed()) await this.#interruptQuietly();
      throw error;
    } finally {
      settled = true;
      place.leave(answered);
      watch?.stop();
      await polling?.stop();
    }
  }

  /**
   * Loads `checkpoint` unless it is loaded already, and times the load. When what was loaded
   * before is unknown, the call may have found it loaded and cost nothing: it is made, not
   * reported. A load cannot be interrupted in A1111; an abort only stops waiting for it.
   */
  async #load(checkpoint: string, signal: AbortSignal | undefined): Promise<CheckpointLoad | undefined> {
    if (checkpoint === this.#loaded) return undefined;
    const before = this.#loaded;
    this.#loaded = null;
    const started = this.#clock.now();
    await this.#client.post('/sdapi/v1/options', { sd_model_checkpoint: checkpoint }, { timeoutMs: this.#requestTimeoutMs, ...(signal ? { signal } : {}) });
    const seconds = (this.#clock.now() - started) / SECOND_MS;
    this.#loaded = checkpoint;
    return before === null || this.#forge ? undefined : { checkpoint, seconds };
  }

  /**
   * Once a run joins the line behind this one, polls progress until the WebUI runs a job (this one's:
   * nothing after it was sent yet) within `NEAR_END_SECONDS` of its end, and says so (`Place.nearEnd`):
   * the run behind may then be sent, to take the lock next. Polls sooner as the end nears. A run expected
   * to take no longer than that (`expectedSeconds`) is near its end as it begins: a job of a few steps ends
   * before a poll sees one sampled, and the run behind would wait for its images to be encoded and answered.
   */
  async #watchNearEnd(place: Place, expectedSeconds: number | undefined): Promise<void> {
    let ended = false;
    void place.ended.then(() => (ended = true));
    await Promise.race([place.followerJoined, place.ended]);
    // The job the WebUI runs is this one's only once those before it have ended.
    await Promise.race([place.begun, place.ended]);
    if (!ended && expectedSeconds !== undefined && expectedSeconds <= NEAR_END_SECONDS) return place.nearEnd();
    // No usable answer (no step sampled yet, or a WebUI that says less): asked again soon, then less often.
    let unusable = 0;
    while (!ended) {
      const left = await this.#secondsLeft();
      if (left !== null && left <= NEAR_END_SECONDS) return place.nearEnd();
      const waitMs = left === null ? NEAR_END_POLL_MS.least * 2 ** unusable++ : ((left - NEAR_END_SECONDS) * SECOND_MS) / 2;
      await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(waitMs, NEAR_END_POLL_MS.least), NEAR_END_POLL_MS.most)));
    }
  }

  /**
   * Seconds the job the WebUI runs has left, once it sampled a step (`eta_relative` means little before:
   * A1111 works it out from the time since the job began); null with no job, none sampled yet, or no answer.
   */
  async #secondsLeft(): Promise<number | null> {
    try {
      const json = await this.#client.get(PROGRESS_PATH, { timeoutMs: CONTROL_TIMEOUT_MS });
      return hasSampled(json) ? (toRunProgress(json)?.etaSeconds ?? null) : null;
    } catch {
      return null;
    }
  }

  async interrupt(): Promise<void> {
    await this.#client.post('/sdapi/v1/interrupt', {}, { timeoutMs: CONTROL_TIMEOUT_MS });
  }

  async #interruptQuietly(): Promise<void> {
    try {
      await this.interrupt();
    } catch {
      // Best effort: the WebUI may be the reason the run failed.
    }
  }

  /**
   * On abort, interrupts the WebUI and gives its answer `abortGraceMs` to come
   * back before dropping the request. Waiting for the answer (A1111 stops at the
   * next sampler step) means the WebUI is free again when `run` settles. A run
   * still waiting on the WebUI's lock is interrupted once the runs before it have
   * ended (it runs then). One with a later run sent behind it is not: that one was
   * sent when this job had under `NEAR_END_SECONDS` left, may run already, and
   * `/sdapi/v1/interrupt` stops whichever job runs. This job runs to its end.
   */
  #watchAbort(signal: AbortSignal, request: AbortController, place: Place): AbortWatch {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const onAbort = (): void => {
      watch.interrupted = place.begun.then(async () => {
        if (stopped) return;
        timer = setTimeout(() => request.abort(signal.reason), this.#abortGraceMs);
        if (!place.followed()) await this.#interruptQuietly();
      });
    };
    const watch: AbortWatch = {
      interrupted: Promise.resolve(),
      stop: () => {
        stopped = true;
        signal.removeEventListener('abort', onAbort);
        clearTimeout(timer);
      },
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return watch;
  }

  /**
   * Polls progress until `stop()`; a failed poll is skipped, never fatal. `stop()`
   * lets a poll in flight finish rather than abort it, so no request outlives `run`.
   */
  #pollProgress(onProgress: (progress: RunProgress) => void, muted: () => boolean): { stop(): Promise<void> } {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    // A1111's progress drops to 0 when the job ends, before the answer arrives:
    // only forward values that do not go backwards.
    let highest = 0;
    let polls = 0;
    const tick = async (): Promise<void> => {
      polls += 1;
      const progress = await this.#readProgress(polls % PREVIEW_EVERY_POLLS === 0);
      if (stopped) return;
      if (progress && progress.progress >= highest && !muted()) {
        highest = progress.progress;
        reportQuietly(onProgress, progress);
      }
      schedule();
    };
    const schedule = (): void => {
      timer = setTimeout(() => {
        inFlight = tick();
      }, this.#progressIntervalMs);
    };
    schedule();
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
        return inFlight;
      },
    };
  }

  async #readProgress(withPreview: boolean): Promise<RunProgress | null> {
    try {
      return toRunProgress(await this.#client.get(withPreview ? PROGRESS_WITH_PREVIEW_PATH : PROGRESS_PATH, { timeoutMs: CONTROL_TIMEOUT_MS }));
    } catch {
      return null;
    }
  }
}

/** `{progress, eta_relative}` of `/sdapi/v1/progress`, or null when the answer has no usable progress. */
function toRunProgress(json: unknown): RunProgress | null {
  if (typeof json !== 'object' || json === null) return null;
  const { progress, eta_relative: eta, current_image: currentImage } = json as { progress?: unknown; eta_relative?: unknown; current_image?: unknown };
  if (typeof progress !== 'number' || !Number.isFinite(progress)) return null;
  const clamped = Math.min(Math.max(progress, 0), 1);
  // With no progress yet, A1111's ETA (elapsed / progress) is meaningless.
  const etaSeconds = clamped > 0 && typeof eta === 'number' && Number.isFinite(eta) ? Math.max(eta, 0) : null;
  const preview = previewOf(currentImage);
  return { progress: clamped, etaSeconds, ...(preview === null ? {} : { preview }) };
}

/** Whether `/sdapi/v1/progress` shows a job running that has sampled a step. */
function hasSampled(json: unknown): boolean {
  const state = (json as { state?: { job?: unknown; sampling_step?: unknown } } | null)?.state;
  return typeof state?.job === 'string' && state.job !== '' && typeof state.sampling_step === 'number' && state.sampling_step > 0;
}

/** A1111's `current_image` as bare base64, or null when it is none, not base64, or too large to pass on. */
function previewOf(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  const base64 = value.replace(/^data:image\/[a-z]+;base64,/, '');
  if (base64.length > PREVIEW_MAX_BASE64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return null;
  return base64;
}

function reportQuietly(onProgress: (progress: RunProgress) => void, progress: RunProgress): void {
  try {
    onProgress(progress);
  } catch {
    // A listener's failure must not fail the task.
  }
}

function isUnreachable(error: unknown): boolean {
  const id: ErrorId | undefined = (error as Partial<DanError> | null)?.id;
  return id === 'DAN_ERR_BACKEND_UNREACHABLE';
}
