/**
 * @module node/backend-driver
 *
 * The port between the node agent and one kind of backend (an A1111-compatible
 * WebUI, or ComfyUI). The agent owns the gateway connection, task
 * bookkeeping and reconnects; a driver owns the backend's wire format.
 */
import type { Binding } from '../domain/binding.js';
import type { BackendKind, NodeCapabilities } from '../domain/capabilities.js';
import type { GenerationSpec, TaskResult } from '../domain/spec.js';

export interface BackendSnapshot {
  capabilities: NodeCapabilities;
  /** Checkpoint title the backend has loaded, if it says. */
  loadedModel: string | null;
}

export interface RunProgress {
  /** 0–1 of the whole task. */
  progress: number;
  etaSeconds: number | null;
  /** A live preview of the image being made (base64, no data: prefix), when the backend gives one. */
  preview?: string;
}

export interface RunOptions {
  /** Called now and then while the backend works (the driver decides how often). */
  onProgress?: (progress: RunProgress) => void;
  /** Aborting stops waiting and asks the backend to interrupt the job. */
  signal?: AbortSignal;
  /**
   * Seconds the node expects the run to take on its backend, a checkpoint load apart (its own measure of
   * earlier runs); absent before it has one. A driver that keeps runs in line sends the next one sooner
   * behind a run this short (a turbo model's 0.1 s image ends before a progress poll sees a step).
   */
  expectedSeconds?: number;
}

export interface RunOutcome {
  result: TaskResult;
  /** Checkpoint loaded after the run, if known. */
  loadedModel: string | null;
  /** The checkpoint load the run began with, timed apart from the generation; absent when it loaded none. */
  load?: CheckpointLoad;
  /** Milliseconds it waited for the driver's runs before it to end (`runsInLine`): not its own time. */
  waitedMs?: number;
}

export interface CheckpointLoad {
  /** The checkpoint's title on the backend. */
  checkpoint: string;
  seconds: number;
}

export interface BackendDriver {
  /** Which kind of backend it drives (declared even while the backend is down). */
  readonly kind: BackendKind;
  /**
   * True when `run` may be called before an earlier run settled and keeps their order (A1111: its queue
   * lock runs one job at a time). The agent then hands it a task it holds ready (`prefetch`) at once, and
   * the backend begins it the moment the run before it is done with the GPU, while that run's images are
   * still encoded and sent. Otherwise the agent holds the task until a slot frees. @defaultValue false
   */
  readonly runsInLine?: boolean;
  /**
   * Asks the backend what it offers. Throws a DanError `DAN_ERR_BACKEND_UNREACHABLE`
   * when the backend does not answer (the agent then reports the backend down).
   */
  discover(): Promise<BackendSnapshot>;
  /**
   * Runs one task. Throws a DanError whose id classifies the failure
   * (`DAN_ERR_BACKEND_UNREACHABLE`, `_REJECTED`, `_FAILED`, `_BAD_RESPONSE`).
   */
  run(spec: GenerationSpec, binding: Binding, options?: RunOptions): Promise<RunOutcome>;
  /** Asks the backend to stop the job it is running (best effort). */
  interrupt(): Promise<void>;
}
