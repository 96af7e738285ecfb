/**
 * @module bench/schedule-stats
 *
 * Figures of one run. Definitions:
 * - wait = arrival → the node begins the task (its checkpoint load included);
 *   for DAN that is the dispatch (a node never holds more than its slot), for
 *   the baseline the moment the task reaches the head of its node's queue;
 * - turnaround = arrival → finish;
 * - busy share = time a node spent on jobs (loads included) / the run's span
 *   (0 → last finish); switch share = time spent loading checkpoints;
 * - ETA error = |ETA after the arrival's scheduling pass − actual wait|, within
 *   target when ≤ max(25 % of the actual wait, 1 s); a task sent in that pass
 *   has ETA 0; a task left unplanned (null ETA) counts as a miss.
 * Percentiles are nearest-rank.
 */
import type { SpeedClass } from './schedule-nodes.js';
import { SpeedClasses } from './schedule-nodes.js';
import type { RunResult } from './schedule-sim.js';
import type { NodeRecord, TaskRecord } from './schedule-sim-node.js';

export interface Spread {
  p50: number;
  p95: number;
  max: number;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function spreadOf(values: readonly number[]): Spread {
  return { p50: percentile(values, 50), p95: percentile(values, 95), max: values.length === 0 ? NaN : Math.max(...values) };
}

export const waitSecondsOf = (t: TaskRecord) => (t.beginMs! - t.arrivalMs) / 1000;
export const turnaroundSecondsOf = (t: TaskRecord) => (t.finishMs! - t.arrivalMs) / 1000;

export interface EtaSummary {
  within: number;
  /** Share of all tasks within target. */
  withinShare: number;
  /** Tasks that had to queue (not sent in their arrival's pass), and their share within target. */
  queued: number;
  queuedWithinShare: number;
  unplanned: number;
  medianErrorSeconds: number;
  p90ErrorSeconds: number;
  /** Median of (ETA − actual) over queued tasks: < 0 means ETAs promise too early. */
  medianBiasSeconds: number;
  /** Median |expected run − actual run| / actual run: how well the learned speeds predict a run. */
  medianRunErrorShare: number;
}

export interface ClassShares {
  busy: number;
  switching: number;
  idleWithWork: number;
}

export interface RunSummary {
  finished: number;
  /** Tasks that never finished, or finished more than once. */
  anomalies: number;
  /** Tasks sent to a node without their checkpoint; for DAN also tasks beyond a node's slots. */
  violations: number;
  makespanSeconds: number;
  waitAll: Spread;
  waitByKey: Map<string, Spread>;
  turnaroundByKey: Map<string, Spread>;
  firstLoads: number;
  switches: number;
  shares: Map<SpeedClass | 'all', ClassShares>;
  /** When the last task began, and when the first node ran out of work for good (seconds). */
  lastBeginSeconds: number;
  firstDoneSeconds: number;
  eta: EtaSummary | null;
}

function byKey(tasks: readonly TaskRecord[], measure: (t: TaskRecord) => number): Map<string, Spread> {
  const groups = new Map<string, number[]>();
  for (const t of tasks) {
    const values = groups.get(t.apiKey) ?? [];
    values.push(measure(t));
    groups.set(t.apiKey, values);
  }
  return new Map([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([key, values]) => [key, spreadOf(values)]));
}

function sharesOf(nodes: readonly NodeRecord[], spanMs: number): Map<SpeedClass | 'all', ClassShares> {
  const share = (group: readonly NodeRecord[]): ClassShares => {
    const total = group.length * spanMs;
    const sum = (f: (n: NodeRecord) => number) => group.reduce((a, n) => a + f(n), 0) / total;
    return { busy: sum((n) => n.busyMs), switching: sum((n) => n.switchMs), idleWithWork: sum((n) => n.idleWithWorkMs) };
  };
  const out = new Map<SpeedClass | 'all', ClassShares>(SpeedClasses.map((c) => [c, share(nodes.filter((n) => n.speedClass === c))]));
  out.set('all', share(nodes));
  return out;
}

function etaOf(tasks: readonly TaskRecord[]): EtaSummary {
  const errors: number[] = [];
  let within = 0;
  let queuedWithin = 0;
  let unplanned = 0;
  const queued = tasks.filter((t) => !t.sentOnArrival);
  for (const t of tasks) {
    if (t.etaSeconds === null) {
      unplanned += 1;
      continue;
    }
    const actual = waitSecondsOf(t);
    const error = Math.abs(t.etaSeconds - actual);
    errors.push(error);
    if (error > Math.max(0.25 * actual, 1)) continue;
    within += 1;
    if (!t.sentOnArrival) queuedWithin += 1;
  }
  const bias = queued.filter((t) => t.etaSeconds !== null).map((t) => t.etaSeconds! - waitSecondsOf(t));
  const runErrors = tasks.filter((t) => t.expectedSeconds !== null).map((t) => Math.abs(t.expectedSeconds! - t.workSeconds) / t.workSeconds);
  return {
    within,
    withinShare: within / tasks.length,
    queued: queued.length,
    queuedWithinShare: queued.length === 0 ? NaN : queuedWithin / queued.length,
    unplanned,
    medianErrorSeconds: percentile(errors, 50),
    p90ErrorSeconds: percentile(errors, 90),
    medianBiasSeconds: percentile(bias, 50),
    medianRunErrorShare: percentile(runErrors, 50),
  };
}

export function summarize(run: RunResult): RunSummary {
  const done = run.tasks.filter((t) => t.finishCount === 1);
  const finishes = done.map((t) => t.finishMs!);
  const lastFinishByNode = run.nodes.map((n) => Math.max(0, ...done.filter((t) => t.nodeId === n.id).map((t) => t.finishMs!)));
  return {
    finished: done.length,
    anomalies: run.tasks.length - done.length,
    // The baseline queues on busy nodes by design: only DAN is held to the slots.
    violations: run.nodes.reduce((a, n) => a + n.capabilityViolations + (run.policy === 'dan' ? n.slotViolations : 0), 0),
    makespanSeconds: Math.max(0, ...finishes) / 1000,
    waitAll: spreadOf(done.map(waitSecondsOf)),
    waitByKey: byKey(done, waitSecondsOf),
    turnaroundByKey: byKey(done, turnaroundSecondsOf),
    firstLoads: run.nodes.reduce((a, n) => a + n.firstLoads, 0),
    switches: run.nodes.reduce((a, n) => a + n.switches, 0),
    shares: sharesOf(run.nodes, run.endMs),
    lastBeginSeconds: Math.max(0, ...done.map((t) => t.beginMs!)) / 1000,
    firstDoneSeconds: Math.min(...lastFinishByNode) / 1000,
    eta: run.policy === 'dan' ? etaOf(done) : null,
  };
}
