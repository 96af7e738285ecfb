/**
 * @module node/backends/comfyui/progress-reporter
 *
 * ComfyUI reports sampler steps per node (`progress {value, max, node}`); a
 * task's progress is the steps done over all its sampler passes (a hires fix
 * has two), reported at most every PROGRESS_INTERVAL_MS with the latest
 * preview and an ETA from the time the steps have taken so far.
 */
import { PREVIEW_MAX_BASE64 } from '../../../protocol/messages.js';
import type { Clock } from '../../../util/clock.js';
import type { RunProgress } from '../../backend-driver.js';
import type { BuiltGraph } from './graph-builder.js';

const SECOND_MS = 1000;
/** Progress is forwarded at most this often (ComfyUI reports every sampler step). */
const PROGRESS_INTERVAL_MS = 250;

/** Sampler steps over all passes → the task's progress, at most every PROGRESS_INTERVAL_MS, with the latest preview. */
export function progressReporter(built: BuiltGraph, clock: Clock, onProgress: (progress: RunProgress) => void) {
  const total = built.samplerPasses.reduce((sum, pass) => sum + pass.steps, 0);
  /** When the first step was reported, and the progress then: the ETA is measured from there. */
  let first: { at: number; progress: number } | null = null;
  let lastReport = -Infinity;
  let preview: string | undefined;
  return {
    step(node: string, value: number, max: number): void {
      const index = built.samplerPasses.findIndex((pass) => pass.node === node);
      if (index < 0 || max <= 0 || total === 0) return;
      const before = built.samplerPasses.slice(0, index).reduce((sum, pass) => sum + pass.steps, 0);
      const progress = Math.min(1, (before + (built.samplerPasses[index]!.steps * Math.min(value, max)) / max) / total);
      const now = clock.now();
      first ??= { at: now, progress };
      if (now - lastReport < PROGRESS_INTERVAL_MS && progress < 1) return;
      lastReport = now;
      // The steps' pace since the first one (whose time includes loading what the graph needs): no ETA before
      // a second step has been seen, rather than an ETA of 0.
      const elapsed = (now - first.at) / SECOND_MS;
      const done = progress - first.progress;
      const etaSeconds = done > 0 ? (elapsed * (1 - progress)) / done : null;
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
