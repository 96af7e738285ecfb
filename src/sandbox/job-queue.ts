/**
 * @module sandbox/job-queue
 *
 * A1111's `queue_lock` (backends.md A.8): one job at a time, the others wait in
 * arrival order. The running job publishes A1111's global `state` (job_count,
 * job_no, sampling_step, sampling_steps) for `/progress`, and can be ended early
 * by `/interrupt` (the whole job) or `/skip` (the current batch iteration).
 *
 * A job's time is spent in `RunningJob.sample` / `RunningJob.wait`, which wait
 * on real timers for the modelled duration; progress is read from the clock, so
 * it moves smoothly while a stage waits.
 */

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
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
  readonly startedMs = performance.now();
  readonly jobTimestamp = toJobTimestamp(new Date());
  jobCount = 0;
  jobNo = 0;
  #stage: Stage | null = null;
  #finishedSteps = 0;
  readonly #interrupt = new AbortController();
  #skip = new AbortController();

  readonly label: string;
  /** Ends every wait at once, so closing the server does not wait out modelled time. */
  readonly #shutdown: AbortSignal;

  constructor(label: string, shutdown: AbortSignal) {
    this.label = label;
    this.#shutdown = shutdown;
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

  /** Runs `steps` sampler steps over `wallMs`; returns early on interrupt or skip. */
  async sample(jobNo: number, steps: number, wallMs: number): Promise<void> {
    if (this.interrupted || this.skipped) return;
    this.jobNo = jobNo;
    this.#stage = { startMs: performance.now(), durationMs: wallMs, steps };
    await sleep(wallMs, AbortSignal.any([this.#interrupt.signal, this.#skip.signal, this.#shutdown]));
    this.#finishedSteps = this.interrupted || this.skipped ? this.samplingStep() : steps;
    this.#stage = { ...this.#stage, durationMs: 0 };
  }

  /** Time outside the sampler (model load, upscaler). A checkpoint load cannot be interrupted. */
  async wait(wallMs: number, interruptible: boolean): Promise<void> {
    if (interruptible && (this.interrupted || this.skipped)) return;
    const signals = interruptible ? [this.#interrupt.signal, this.#skip.signal, this.#shutdown] : [this.#shutdown];
    await sleep(wallMs, AbortSignal.any(signals));
  }

  get samplingSteps(): number {
    return this.#stage?.steps ?? 0;
  }

  samplingStep(): number {
    const stage = this.#stage;
    if (!stage) return 0;
    if (stage.durationMs <= 0) return this.#finishedSteps;
    const fraction = (performance.now() - stage.startMs) / stage.durationMs;
    return Math.min(stage.steps, Math.floor(stage.steps * fraction));
  }
}

export class JobQueue {
  #tail: Promise<void> = Promise.resolve();
  #running: RunningJob | null = null;
  #busyMs = 0;
  readonly #shutdown = new AbortController();

  /** Runs `work` once every job queued before it has finished. */
  async run<T>(label: string, work: (job: RunningJob) => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release = (): void => {};
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      const job = new RunningJob(label, this.#shutdown.signal);
      this.#running = job;
      try {
        return await work(job);
      } finally {
        this.#busyMs += performance.now() - job.startedMs;
        this.#running = null;
      }
    } finally {
      release();
    }
  }

  /** Lets running and queued jobs finish without waiting; used when the server closes. */
  shutdown(): void {
    this.#shutdown.abort();
  }

  get running(): RunningJob | null {
    return this.#running;
  }

  /** Wall-clock milliseconds jobs have held the lock. */
  get busyMs(): number {
    return this.#busyMs + (this.#running ? performance.now() - this.#running.startedMs : 0);
  }
}
