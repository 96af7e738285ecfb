/**
 * @module gateway/network-view
 *
 * `GET /api/network`: the queue (length, demand per checkpoint, the longest
 * wait), the last hour a minute at a time, and the tasks that ended lately,
 * for the dashboard. The queue part walks the queue, so an answer is kept for a
 * second: many open dashboards cost one walk a second, not one each.
 */
import type { Scheduler } from '../scheduler/scheduler.js';
import type { Clock } from '../util/clock.js';
import type { NetworkActivity } from './network-activity.js';

export interface NetworkSnapshot {
  queue: {
    queued: number;
    running: number;
    /** Seconds the longest-waiting queued task has waited; null for an empty queue. */
    oldestWaitSeconds: number | null;
    /** Queued tasks per checkpoint, most first ('' for tasks without one). */
    byCheckpoint: { model: string; queued: number }[];
  };
  lastHour: { at: string; images: number; failed: number; queued: number }[];
  recent: { kind: string | null; model: string | null; state: string; width: number | null; height: number | null; seconds: number | null; endedAt: string }[];
}

export interface NetworkView {
  read(): NetworkSnapshot;
}

const KEEP_MS = 1000;

/** `elapsed`: a monotonic clock (ms) for the one-second keep: a wall clock stepped back would freeze it. */
export function createNetworkView(parts: { scheduler: Scheduler; load: () => { queued: number; running: number }; activity: NetworkActivity; clock: Clock; elapsed?: () => number }): NetworkView {
  const { scheduler, load, activity, clock, elapsed = () => performance.now() } = parts;
  let kept: { at: number; snapshot: NetworkSnapshot } | null = null;
  return {
    read() {
      const at = elapsed();
      if (kept && at - kept.at < KEEP_MS) return kept.snapshot;
      const now = clock.now();
      const { byCheckpoint, oldestArrivedAt } = scheduler.queueSummary();
      const snapshot: NetworkSnapshot = {
        queue: {
          ...load(),
          oldestWaitSeconds: oldestArrivedAt === null ? null : Math.max(0, Math.round((now - oldestArrivedAt) / 1000)),
          byCheckpoint: [...byCheckpoint].map(([model, queued]) => ({ model, queued })).sort((a, b) => b.queued - a.queued),
        },
        lastHour: activity.lastHour().map((m) => ({ ...m, at: new Date(m.at).toISOString() })),
        recent: activity.recent().map((t) => ({ ...t, endedAt: new Date(t.endedAt).toISOString() })),
      };
      kept = { at, snapshot };
      return snapshot;
    },
  };
}
