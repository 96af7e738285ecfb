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
  p99: number;
  max: number;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function spreadOf(values: readonly number[]): Spread {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), max: values.length === 0 ? NaN : Math.max(...values) };
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
  withinShareByKey: Map<string, number>;
  /** Tasks a later arrival began before, and the share within target of those and of the rest. */
  overtaken: number;
  overtakenWithinShare: number;
  notOvertakenWithinShare: number;
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
  turnaroundAll: Spread;
  waitByKey: Map<string, Spread>;
  turnaroundByKey: Map<string, Spread>;
  firstLoads: number;
  switches: number;
  /** Switches made while a task matching the node's loaded checkpoint was waiting. */
  avoidableSwitches: number;
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

const isWithin = (t: TaskRecord) => t.etaSeconds !== null && Math.abs(t.etaSeconds - waitSecondsOf(t)) <= Math.max(0.25 * waitSecondsOf(t), 1);

/** Ids of tasks that some later arrival began before (an ETA taken at arrival cannot foresee that). */
function overtakenIds(tasks: readonly TaskRecord[]): Set<string> {
  const byArrival = [...tasks].sort((x, y) => x.arrivalMs - y.arrivalMs);
  const out = new Set<string>();
  let earliestLaterBeginMs = Infinity;
  for (let i = byArrival.length - 1; i >= 0; i--) {
    const t = byArrival[i]!;
    if (earliestLaterBeginMs < t.beginMs!) out.add(t.id);
    // Same-instant arrivals (the burst) still arrive one after another, in this order.
    earliestLaterBeginMs = Math.min(earliestLaterBeginMs, t.beginMs!);
  }
  return out;
}

function shareWithin(tasks: readonly TaskRecord[]): number {
  return tasks.length === 0 ? NaN : tasks.filter(isWithin).length / tasks.length;
}

function etaOf(tasks: readonly TaskRecord[]): EtaSummary {
  const planned = tasks.filter((t) => t.etaSeconds !== null);
  const errors = planned.map((t) => Math.abs(t.etaSeconds! - waitSecondsOf(t)));
  const queued = tasks.filter((t) => !t.sentOnArrival);
  const bias = queued.filter((t) => t.etaSeconds !== null).map((t) => t.etaSeconds! - waitSecondsOf(t));
  const keys = [...new Set(tasks.map((t) => t.apiKey))].sort();
  const overtaken = overtakenIds(tasks);
  const runErrors = tasks.filter((t) => t.expectedSeconds !== null).map((t) => Math.abs(t.expectedSeconds! - t.workSeconds) / t.workSeconds);
  return {
    within: tasks.filter(isWithin).length,
    withinShare: shareWithin(tasks),
    queued: queued.length,
    queuedWithinShare: shareWithin(queued),
    unplanned: tasks.length - planned.length,
    medianErrorSeconds: percentile(errors, 50),
    p90ErrorSeconds: percentile(errors, 90),
    medianBiasSeconds: percentile(bias, 50),
    medianRunErrorShare: percentile(runErrors, 50),
    withinShareByKey: new Map(keys.map((key) => [key, shareWithin(tasks.filter((t) => t.apiKey === key))])),
    overtaken: overtaken.size,
    overtakenWithinShare: shareWithin(tasks.filter((t) => overtaken.has(t.id))),
    notOvertakenWithinShare: shareWithin(tasks.filter((t) => !overtaken.has(t.id))),
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
    turnaroundAll: spreadOf(done.map(turnaroundSecondsOf)),
    waitByKey: byKey(done, waitSecondsOf),
    turnaroundByKey: byKey(done, turnaroundSecondsOf),
    firstLoads: run.nodes.reduce((a, n) => a + n.firstLoads, 0),
    switches: run.nodes.reduce((a, n) => a + n.switches, 0),
    avoidableSwitches: run.nodes.reduce((a, n) => a + n.avoidableSwitches, 0),
    shares: sharesOf(run.nodes, run.endMs),
    lastBeginSeconds: Math.max(0, ...done.map((t) => t.beginMs!)) / 1000,
    firstDoneSeconds: Math.min(...lastFinishByNode) / 1000,
    eta: run.policy === 'dan' ? etaOf(done) : null,
  };
}

/** The longest stretch covered without a break by the union of `stretches` (empty ones ignored): its length. */
export function longestCovered(stretches: readonly { from: number; to: number }[]): number {
  const longest = longestStretch(stretches);
  return longest === undefined ? 0 : longest.to - longest.from;
}

/** The longest stretch covered without a break by the union of `stretches` (empty ones ignored), if any. */
export function longestStretch(stretches: readonly { from: number; to: number }[]): { from: number; to: number } | undefined {
  const sorted = stretches.filter((s) => s.to > s.from).sort((a, b) => a.from - b.from);
  let longest: { from: number; to: number } | undefined;
  let current: { from: number; to: number } | undefined;
  for (const stretch of sorted) {
    if (current && stretch.from <= current.to) current.to = Math.max(current.to, stretch.to);
    else current = { ...stretch };
    if (longest === undefined || current.to - current.from > longest.to - longest.from) longest = { ...current };
  }
  return longest;
}
