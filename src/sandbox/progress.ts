/**
 * @module sandbox/progress
 *
 * `GET /sdapi/v1/progress` (backends.md A.6). It never waits for the queue:
 * it reads the running job's state. With no job (job_count 0) progress and eta
 * are 0; otherwise
 *   progress = 0.01 + job_no / job_count + (1 / job_count) × sampling_step / sampling_steps
 * clamped to 1, and eta_relative = elapsed / progress − elapsed, elapsed being
 * the seconds of the sandbox's clock since the job took the queue lock.
 * `current_image`, unless `skip_current_image=true`: a live preview once the job has begun sampling.
 */
import sharp from 'sharp';
import type { JobQueue } from './job-queue.js';
import type { RunningJob } from './running-job.js';

export interface ProgressResponse {
  progress: number;
  eta_relative: number;
  state: {
    skipped: boolean;
    interrupted: boolean;
    stopping_generation: boolean;
    job: string;
    job_count: number;
    job_timestamp: string;
    job_no: number;
    sampling_step: number;
    sampling_steps: number;
  };
  current_image: string | null;
  textinfo: string | null;
}

const IDLE_TIMESTAMP = '0';

export function progressOf(queue: JobQueue): ProgressResponse {
  const job = queue.running;
  const state = job ? stateOf(job) : idleState();
  let progress = 0;
  let etaRelative = 0;
  if (job && state.job_count > 0) {
    const stepFraction = state.sampling_steps > 0 ? state.sampling_step / state.sampling_steps : 0;
    progress = Math.min(1, 0.01 + state.job_no / state.job_count + stepFraction / state.job_count);
    const elapsedSeconds = job.elapsedMs() / 1000;
    etaRelative = elapsedSeconds / progress - elapsedSeconds;
  }
  return { progress, eta_relative: etaRelative, state, current_image: null, textinfo: null };
}

function stateOf(job: RunningJob): ProgressResponse['state'] {
  return {
    skipped: job.skipped,
    interrupted: job.interrupted,
    stopping_generation: false,
    job: job.jobCount > 0 ? `Batch ${job.jobNo + 1} out of ${job.jobCount}` : job.label,
    job_count: job.jobCount,
    job_timestamp: job.jobTimestamp,
    job_no: job.jobNo,
    sampling_step: job.samplingStep(),
    sampling_steps: job.samplingSteps,
  };
}

function idleState(): ProgressResponse['state'] {
  return {
    skipped: false,
    interrupted: false,
    stopping_generation: false,
    job: '',
    job_count: 0,
    job_timestamp: IDLE_TIMESTAMP,
    job_no: 0,
    sampling_step: 0,
    sampling_steps: 0,
  };
}

const previews = new Map<number, Promise<string>>();

/**
 * The live preview of a job `fraction` done, as base64 PNG: a 64×64 grey that lightens as the job goes
 * (A1111 sends a small approximation of the image being made; the sandbox has no image to show). Ten
 * shades, made once each.
 */
export function previewImage(fraction: number): Promise<string> {
  const shade = Math.min(10, Math.max(0, Math.round(fraction * 10)));
  let preview = previews.get(shade);
  if (!preview) {
    const level = 40 + shade * 20;
    preview = sharp({ create: { width: 64, height: 64, channels: 3, background: { r: level, g: level, b: level } } })
      .png()
      .toBuffer()
      .then((png) => png.toString('base64'));
    previews.set(shade, preview);
  }
  return preview;
}
