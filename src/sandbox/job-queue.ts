/**
 * @module sandbox/job-queue
 *
 * A1111's `queue_lock` (backends.md A.8): one job at a time, the others wait in
 * arrival order. The job holding the lock is a `RunningJob` (running-job.ts).
 *
 * The queue tells its listeners when a job asks for the lock and when a job
 * starts waiting out modelled time, so that a test driving a fake clock knows
 * a request has reached the queue, or a timer is set, without polling.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../util/clock.js';
import { RunningJob, type ModelledWait } from './running-job.js';

export interface JobEvents {
  /** A job asked for the lock (it runs at once or after the jobs queued before it). */
  queued: [job: string];
  /** A job set a timer on the sandbox's clock for modelled time. */
  wait: [wait: ModelledWait];
}

export class JobQueue extends EventEmitter<JobEvents> {
  readonly #clock: Clock;
  #tail: Promise<void> = Promise.resolve();
  #running: RunningJob | null = null;
  #busyMs = 0;
  readonly #shutdown = new AbortController();

  constructor(clock: Clock) {
    super();
    this.#clock = clock;
  }

  /** Runs `work` once every job queued before it has finished. */
  async run<T>(label: string, work: (job: RunningJob) => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release = (): void => {};
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    this.emit('queued', label);
    try {
      await previous;
      const job = new RunningJob(label, {
        clock: this.#clock,
        shutdown: this.#shutdown.signal,
        onWait: (wait) => this.emit('wait', wait),
      });
      this.#running = job;
      try {
        return await work(job);
      } finally {
        this.#busyMs += job.elapsedMs();
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

  /** Milliseconds of the sandbox's clock jobs have held the lock. */
  get busyMs(): number {
    return this.#busyMs + (this.#running?.elapsedMs() ?? 0);
  }
}
