/**
 * The gateway's event loop delay over a span of a benchmark: two scrapes of its Prometheus histogram
 * (`dan_event_loop_delay_seconds`, metrics.ts) taken at the span's ends, their bucket counts subtracted.
 * `/api/health` summarizes only the latest 30 s, which mixes a benchmark's phases (a burst of submits,
 * then serving the fleet); the counts tell each phase apart.
 */

/** Cumulative counts per bucket bound (seconds; Infinity for `+Inf`), as scraped. */
export type LoopDelayCounts = ReadonlyMap<number, number>;

const BUCKET = /^dan_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)$/;

/** Scrapes the gateway's histogram now (`/metrics`, open on a gateway without an admin token). */
export async function scrapeLoopDelay(gateway: string): Promise<LoopDelayCounts> {
  const text = await (await fetch(`${gateway}/metrics`)).text();
  const counts = new Map<number, number>();
  for (const line of text.split('\n')) {
    const match = BUCKET.exec(line);
    if (match) counts.set(match[1] === '+Inf' ? Infinity : Number(match[1]), Number(match[2]));
  }
  if (counts.size === 0) throw new Error('the gateway\'s /metrics has no dan_event_loop_delay_seconds histogram');
  return counts;
}

export interface LoopDelaySpan {
  samples: number;
  /** ms, interpolated within its bucket as Prometheus's `histogram_quantile` does. */
  p99: number;
  /** Share of samples more than 20 ms late: of timer firings, not of time (a stall of 170 ms is one sample). */
  over20ms: number;
}

/** The delays sampled between scrapes `from` and `to`. */
export function loopDelayBetween(from: LoopDelayCounts, to: LoopDelayCounts): LoopDelaySpan {
  const bounds = [...to.keys()].sort((a, b) => a - b);
  const counts = bounds.map((bound) => to.get(bound)! - (from.get(bound) ?? 0));
  const samples = counts.at(-1) ?? 0;
  // No sample in the span: nothing to tell (Prometheus says NaN too).
  if (samples === 0) return { samples, p99: Number.NaN, over20ms: Number.NaN };
  const rank = 0.99 * samples;
  let p99 = Number.NaN;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    const below = i === 0 ? 0 : counts[i - 1]!;
    // Past the last finite bound nothing is known but the bound itself.
    p99 = bounds[i] === Infinity ? lower : lower + ((bounds[i]! - lower) * (rank - below)) / Math.max(1, counts[i]! - below);
    break;
  }
  const within20ms = counts[bounds.indexOf(0.02)] ?? Number.NaN;
  return { samples, p99: p99 * 1000, over20ms: 1 - within20ms / samples };
}
