/**
 * The gateway's event loop delay and scheduling passes over a span of a benchmark: two scrapes of its
 * Prometheus histograms (`dan_event_loop_delay_seconds` and `dan_scheduling_pass_seconds`, metrics.ts)
 * taken at the span's ends, their bucket counts subtracted. `/api/health` summarizes only the latest 30 s,
 * which mixes a benchmark's phases (a burst of submits, then serving the fleet); the counts tell each phase
 * apart.
 */

/** A histogram as scraped: cumulative counts per bucket bound (seconds; Infinity for `+Inf`), and its sum. */
interface HistogramCounts {
  buckets: ReadonlyMap<number, number>;
  sum: number;
}

/** Both histograms, as scraped at one moment. */
export interface LoopDelayCounts {
  delay: HistogramCounts;
  passes: HistogramCounts;
}

/** Scrapes the gateway's histograms now (`/metrics`, open on a gateway without an admin token). */
export async function scrapeLoopDelay(gateway: string): Promise<LoopDelayCounts> {
  const text = await (await fetch(`${gateway}/metrics`)).text();
  const delay = histogramIn(text, 'dan_event_loop_delay_seconds');
  if (delay.buckets.size === 0) throw new Error('the gateway\'s /metrics has no dan_event_loop_delay_seconds histogram');
  return { delay, passes: histogramIn(text, 'dan_scheduling_pass_seconds') };
}

function histogramIn(text: string, name: string): HistogramCounts {
  const bucket = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`);
  const buckets = new Map<number, number>();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = bucket.exec(line);
    if (match) buckets.set(match[1] === '+Inf' ? Infinity : Number(match[1]), Number(match[2]));
    else if (line.startsWith(`${name}_sum `)) sum = Number(line.slice(name.length + 5));
  }
  return { buckets, sum };
}

export interface LoopDelaySpan {
  samples: number;
  /** ms, interpolated within its bucket as Prometheus's `histogram_quantile` does. */
  p99: number;
  /** Share of samples more than 20 ms late: of timer firings, not of time (a stall of 170 ms is one sample). */
  over20ms: number;
  /** Scheduling passes run in the span, their mean and p99 (interpolated) in ms. */
  passes: number;
  passMeanMs: number;
  passP99Ms: number;
}

/** The delays sampled, and the passes run, between scrapes `from` and `to`. */
export function loopDelayBetween(from: LoopDelayCounts, to: LoopDelayCounts): LoopDelaySpan {
  const delay = spanOf(from.delay, to.delay);
  const passes = spanOf(from.passes, to.passes);
  // No sample in the span: nothing to tell (Prometheus says NaN too).
  const within20ms = delay.counts[delay.bounds.indexOf(0.02)] ?? Number.NaN;
  return {
    samples: delay.total,
    p99: quantile(delay, 0.99) * 1000,
    over20ms: delay.total === 0 ? Number.NaN : 1 - within20ms / delay.total,
    passes: passes.total,
    passMeanMs: passes.total === 0 ? Number.NaN : (1000 * passes.sum) / passes.total,
    passP99Ms: quantile(passes, 0.99) * 1000,
  };
}

interface Span {
  bounds: number[];
  counts: number[];
  total: number;
  sum: number;
}

function spanOf(from: HistogramCounts, to: HistogramCounts): Span {
  const bounds = [...to.buckets.keys()].sort((a, b) => a - b);
  const counts = bounds.map((bound) => to.buckets.get(bound)! - (from.buckets.get(bound) ?? 0));
  return { bounds, counts, total: counts.at(-1) ?? 0, sum: to.sum - from.sum };
}

/** Seconds; NaN for an empty span. */
function quantile({ bounds, counts, total }: Span, q: number): number {
  if (total === 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    const below = i === 0 ? 0 : counts[i - 1]!;
    // Past the last finite bound nothing is known but the bound itself.
    return bounds[i] === Infinity ? lower : lower + ((bounds[i]! - lower) * (rank - below)) / Math.max(1, counts[i]! - below);
  }
  return Number.NaN;
}
