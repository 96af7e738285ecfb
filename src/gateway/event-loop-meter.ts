/**
 * @module gateway/event-loop-meter
 *
 * How late the gateway's event loop runs, over the latest 30 seconds, for
 * operators (`GET /api/health` → `eventLoopDelayMs`) and for the fleet
 * benchmark: every request, node frame and scheduling pass shares this one
 * thread, so a pass that takes 300 ms delays every result behind it by as
 * much. A timer due every 10 ms records how late it fires. Each sample also goes to `observe` (the
 * Prometheus histogram, metrics.ts): counts over any span, where the summary holds only the latest 30 s.
 */
import { performance } from 'node:perf_hooks';
import { type OverheadSummary, SampleRing } from './overhead-meter.js';

const INTERVAL_MS = 10;
const WINDOW_SAMPLES = 3000;

export class EventLoopMeter {
  readonly #samples = new SampleRing(WINDOW_SAMPLES);
  #timer: NodeJS.Timeout | undefined;
  #last = 0;
  readonly #observe: ((ms: number) => void) | undefined;

  /** `observe`: told each sample (ms late) as it is taken. */
  constructor(observe?: (ms: number) => void) {
    this.#observe = observe;
  }

  start(): void {
    if (this.#timer) return;
    this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - this.#last - INTERVAL_MS);
      this.#samples.add(late);
      this.#observe?.(late);
      this.#last = now;
    }, INTERVAL_MS);
    // Measuring must not keep a stopping gateway alive.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Delays over the latest 30 s, ms; null before the first sample. */
  summary(): OverheadSummary | null {
    return this.#samples.summary();
  }
}
