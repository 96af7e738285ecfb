/**
 * @module sandbox/running-job
 *
 * The job holding the queue lock: A1111's global `state` (job_count, job_no,
 * sampling_step, sampling_steps) for `/progress`, ended early by `/interrupt`
 * (the whole job) or `/skip` (the current batch iteration).
 *
 * A job's time is spent in `sample` and `wait`, which wait out the modelled
 * duration on the sandbox's clock; progress is read from the same clock, so it
 * moves smoothly while a stage waits, and a fake clock moves it exactly.
 */
import type { Clock } from '../util/clock.js';

/** What a job's wait stands for on a GPU. */
export type WaitKind = 'sampling' | 'checkpoint load' | 'upscaler' | 'interrogate';

/** A wait for modelled time that has just set its timer on the sandbox's clock. */
export interface ModelledWait {
  /** The job's label: 'txt2img', 'img2img', 'interrogate', 'extras', 'Loading checkpoint'. */
  job: string;
  kind: WaitKind;
  /** Milliseconds of the sandbox's clock the timer was set for: modelled seconds × 1000 / speed. */
  ms: number;
}

/** What a job waits with; the queue gives the same to every job. */
export interface JobEnvironment {
  clock: Clock;
  /** Ends every wait at once, so closing the server does not wait out modelled time. */
  shutdown: AbortSignal;
  /** Told of each wait right after its timer is set (never of a wait that does not wait). */
  onWait(wait: ModelledWait): void;
}

/** `%Y%m%d%H%M%S`, local time, as A1111's `job_timestamp`. */
function toJobTimestamp(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

interface Stage {
  startMs: number;
  durationMs: number;
  steps: number;
}

export class RunningJob {
  readonly label: string;
  /** The clock's time when the job took the lock, in ms since the epoch. */
  readonly startedMs: number;
  readonly jobTimestamp: string;
  jobCount = 0;
  jobNo = 0;
  #stage: Stage | null = null;
  #finishedSteps = 0;
  readonly #interrupt = new AbortController();
  #skip = new AbortController();
  readonly #env: JobEnvironment;

  constructor(label: string, env: JobEnvironment) {
    this.label = label;
    this.#env = env;
    this.startedMs = env.clock.now();
    this.jobTimestamp = toJobTimestamp(new Date(this.startedMs));
  }

  get interrupted(): boolean {
    return this.#interrupt.signal.aborted;
  }

  get skipped(): boolean {
    return this.#skip.signal.aborted;
  }

  interrupt(): void {
    this.#interrupt.abort();
  }

  skip(): void {
    this.#skip.abort();
  }

  /** Starts batch iteration `jobNo`; a `/skip` only ends the iteration it arrived in. */
  beginIteration(jobNo: number): void {
    this.jobNo = jobNo;
    this.#skip = new AbortController();
  }

  /** Milliseconds of the clock since the job took the lock. */
  elapsedMs(): number {
    return this.#env.clock.now() - this.startedMs;
  }

  /** Runs `steps` sampler steps over `wallMs`; returns early on interrupt or skip. */
  async sample(jobNo: number, steps: number, wallMs: number): Promise<void> {
    if (this.interrupted || this.skipped) return;
    this.jobNo = jobNo;
    this.#stage = { startMs: this.#env.clock.now(), durationMs: wallMs, steps };
    await this.#sleep('sampling', wallMs, [this.#interrupt.signal, this.#skip.signal]);
    this.#finishedSteps = this.interrupted || this.skipped ? this.samplingStep() : steps;
    this.#stage = { ...this.#stage, durationMs: 0 };
  }

  /** Time outside the sampler, `wallMs` long. A checkpoint load cannot be interrupted. */
  async wait(kind: Exclude<WaitKind, 'sampling'>, wallMs: number): Promise<void> {
    const interruptible = kind !== 'checkpoint load';
    if (interruptible && (this.interrupted || this.skipped)) return;
    await this.#sleep(kind, wallMs, interruptible ? [this.#interrupt.signal, this.#skip.signal] : []);
  }

  get samplingSteps(): number {
    return this.#stage?.steps ?? 0;
  }

  samplingStep(): number {
    const stage = this.#stage;
    if (!stage) return 0;
    if (stage.durationMs <= 0) return this.#finishedSteps;
    const fraction = (this.#env.clock.now() - stage.startMs) / stage.durationMs;
    return Math.min(stage.steps, Math.floor(stage.steps * fraction));
  }

  /** Resolves after `ms` of the clock, or as soon as one of `endedBy` or the shutdown aborts. */
  #sleep(kind: WaitKind, ms: number, endedBy: AbortSignal[]): Promise<void> {
    const signal = AbortSignal.any([...endedBy, this.#env.shutdown]);
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        timer.cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#env.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#env.onWait({ job: this.label, kind, ms });
    });
  }
}
