/**
 * @module bench/schedule-report
 *
 * The benchmark's report: one markdown section, printed and kept in
 * BENCHMARKS.md between `<!-- schedule:start -->` and `<!-- schedule:end -->`.
 */
import { sectionEnd, sectionStart } from './benchmarks-file.js';
import { cpus } from 'node:os';
import type { IdealRun } from './schedule-ideal.js';
import type { SpeedClass } from './schedule-nodes.js';
import type { PositionAuditResult } from './schedule-positions.js';
import type { PolicyName } from './schedule-sim.js';
import type { RunSummary, Spread } from './schedule-stats.js';
import { API_KEYS, type ArrivalPattern, HIRES_SCALE, SAMPLER_MIX, SIZE_MIX } from './schedule-tasks.js';
import { holdingsBoundSeconds, makespanBoundSeconds, type Trace, ZIPF_EXPONENT } from './schedule-trace.js';

/** How DAN's run begins: nodes that report their measured speed (a running network), or that never ran. */
export const Starts = ['warm', 'cold'] as const;
export type Start = (typeof Starts)[number];

export interface ReportedRun {
  pattern: ArrivalPattern;
  policy: PolicyName;
  /** DAN: warm or cold (see Starts); the baseline learns nothing, so its start does not matter. */
  start: Start;
  summary: RunSummary;
  positions: PositionAuditResult | null;
  cpuSeconds: number;
}

export interface BenchReport {
  trace: Trace;
  runs: ReportedRun[];
  /** The ideal fleet on the Poisson arrivals (schedule-ideal.ts), best rule first; empty without them. */
  ideal: IdealRun[];
  cpuSeconds: number;
  command: string;
}

const START = sectionStart('schedule');
const END = sectionEnd('schedule');
const PATTERN_NAMES: Record<ArrivalPattern, string> = { burst: 'all at once', poisson: 'Poisson' };

const sec = (n: number) => (Number.isNaN(n) ? '–' : n < 10 ? n.toFixed(1) : n.toFixed(0));
const pct = (n: number) => (Number.isNaN(n) ? '–' : `${(100 * n).toFixed(0)} %`);
const spread = (s: Spread | undefined) => (s ? `${sec(s.p50)} / ${sec(s.p95)} / ${sec(s.max)}` : '–');
const yes = (met: boolean | null) => (met === null ? 'not run' : met ? '**met**' : '**missed**');

/** The run targets are judged on: DAN warm when there is one (else cold), the baseline. */
function find(report: BenchReport, pattern: ArrivalPattern, policy: PolicyName, start?: Start): ReportedRun | undefined {
  const runs = report.runs.filter((r) => r.pattern === pattern && r.policy === policy && (start === undefined || r.start === start));
  return runs.find((r) => r.start === 'warm') ?? runs[0];
}

const label = (run: ReportedRun) => (run.policy === 'dan' ? `dan, ${run.start}` : run.policy);

function traceLines(report: BenchReport): string[] {
  const { trace } = report;
  const o = trace.options;
  const nodes = trace.nodes.map((n) => `${n.id} ${n.itPerSecond} it/s [${n.checkpoints.map((c) => c.name.slice(5)).join('')}]`).join(', ');
  const popular = trace.checkpoints.map((c, i) => `${c.name.slice(5)} ${(100 * trace.popularity[i]!).toFixed(0)}`).join(', ');
  const mean = trace.totalWork / trace.tasks.length;
  return [
    `Command: \`${report.command}\` (seed ${o.seed}; ${o.taskCount.toLocaleString('en')} tasks; a discrete-event simulation ` +
      `driving the real \`Scheduler\`, node times from the sandbox's time model; ${sec(report.cpuSeconds)} s of CPU on ${cpus().length} cores, ` +
      `Node ${process.version}; ${new Date().toISOString().slice(0, 10)}).`,
    '',
    `Nodes (checkpoints held; all start with none loaded; a switch costs ${o.switchSeconds} s): ${nodes}.`,
    `Tasks: checkpoint Zipf(${ZIPF_EXPONENT}) over 8 (% ${popular}); sizes ${SIZE_MIX.map((s) => `${(100 * s.share).toFixed(0)} % ${s.sidePx}²`).join(', ')}; ` +
      `20–30 steps; 15 % hires fix ×${HIRES_SCALE} (Latent); 10 % one ControlNet canny unit; 30 % 1–2 LoRAs; samplers ` +
      `${SAMPLER_MIX.map((s) => `${(100 * s.share).toFixed(0)} % ${s.sampler}`).join(', ')} (DPM++ SDE is second order: 2× per step); ` +
      `keys ${API_KEYS.map((k) => `${k.key} ${(100 * k.share).toFixed(1).replace('.0', '')} %`).join(', ')}; no per-key cap.`,
    `Work = the sandbox model's seconds at 1 it/s (512², first order, no switch): mean ${sec(mean)} per task, Σ ${sec(trace.totalWork)}. ` +
      `Capacity = Σ speed ${trace.totalSpeed} it/s / mean work = ${trace.capacityPerSecond.toFixed(2)} tasks/s (switches ignored); ` +
      `Poisson at ${(100 * o.load).toFixed(0)} % = ${trace.ratePerSecond.toFixed(2)} tasks/s. ` +
      `Makespan bound = Σ work / Σ speed + one load = ${sec(makespanBoundSeconds(trace))} s ` +
      `(respecting who holds which checkpoint: ${sec(holdingsBoundSeconds(trace))} s).`,
  ];
}

function targetRows(report: BenchReport, start?: Start): string[] {
  const bound = makespanBoundSeconds(report.trace);
  const dan = find(report, 'burst', 'dan', start)?.summary;
  const base = find(report, 'burst', 'baseline')?.summary;
  const poisson = find(report, 'poisson', 'dan', start)?.summary;
  const judged = (['burst', 'poisson'] as const).map((p) => find(report, p, 'dan', start)).filter((r) => r !== undefined);
  const rows = ['| target | figure | |', '| --- | --- | --- |'];
  const ratio = dan ? dan.makespanSeconds / bound : NaN;
  rows.push(`| makespan ≤ 1.10 × bound (all at once) | ${sec(dan?.makespanSeconds ?? NaN)} s = ${ratio.toFixed(2)} × ${sec(bound)} s | ${yes(dan ? ratio <= 1.1 : null)} |`);
  const speedup = dan && base ? base.makespanSeconds / dan.makespanSeconds : NaN;
  rows.push(`| baseline / DAN makespan ≥ 1.5 (all at once) | ${speedup.toFixed(2)} | ${yes(dan && base ? speedup >= 1.5 : null)} |`);
  rows.push(smallKeysRow(poisson));
  rows.push(tailRow(poisson));
  const audits = judged.filter((r) => r.positions);
  const unexplained = audits.reduce((a, r) => a + r.positions!.unexplained + r.positions!.mismatches, 0);
  const increases = audits.map((r) => `${PATTERN_NAMES[r.pattern]} ${r.positions!.unexplained} of ${r.positions!.increases}`).join(', ');
  rows.push(`| positions rise only when a competing task arrives ahead | unexplained: ${increases || '–'} | ${yes(audits.length > 0 ? unexplained === 0 : null)} |`);
  const etas = judged.filter((r) => r.summary.eta);
  const etaFigure = etas.map((r) => `${PATTERN_NAMES[r.pattern]} ${pct(r.summary.eta!.withinShare)}`).join(', ');
  rows.push(`| ETA within 25 % of the actual wait for ≥ 80 % of tasks | ${etaFigure || '–'} | ${yes(etas.length > 0 ? etas.every((r) => r.summary.eta!.withinShare >= 0.8) : null)} |`);
  return rows;
}

/** The targets again on cold runs, when the report also has warm ones (which the main table judges). */
function coldRows(report: BenchReport): string[] {
  const hasBoth = Starts.every((start) => report.runs.some((r) => r.policy === 'dan' && r.start === start));
  if (!hasBoth) return [];
  return [
    'Cold start: the same targets when no node has run a task yet, so DAN knows no speed and learns them as results come in (ETAs before the first results are guesses, and no promise is made from a guess):',
    '',
    ...targetRows(report, 'cold'),
    '',
  ];
}

function smallKeysRow(poisson: RunSummary | undefined): string {
  const big = poisson?.waitByKey.get('key-big')?.p95 ?? NaN;
  const small = API_KEYS.slice(1).map((k) => poisson?.waitByKey.get(k.key)?.p95 ?? NaN);
  const met = poisson ? small.every((p95) => p95 <= big) : null;
  return `| Poisson: small keys' p95 wait ≤ the big key's | ${small.map(sec).join(', ')} s vs ${sec(big)} s | ${yes(met)} |`;
}

/**
 * Judged on waits. The target: p99 no higher than the 56 s of seed 1 when it was set, and no task
 * waiting over 80 s (on every seed: this row judges the seed run). It replaced "max ≤ 3 × median",
 * which not even an ideal fleet meets (a median wait of 0 below capacity).
 */
function tailRow(poisson: RunSummary | undefined): string {
  const met = poisson ? poisson.waitAll.p99 <= 56 && poisson.waitAll.max <= 80 : null;
  const figures = poisson ? `wait p99 ${sec(poisson.waitAll.p99)} s, max ${sec(poisson.waitAll.max)} s (median ${sec(poisson.waitAll.p50)} s)` : '–';
  return `| Poisson: wait p99 ≤ 56 s, max ≤ 80 s | ${figures} | ${yes(met)} |`;
}

/** The Poisson wait tail of each run beside the references that no scheduler of these nodes should beat (schedule-ideal.ts). */
function tailRows(report: BenchReport): string[] {
  const poisson = report.runs.filter((r) => r.pattern === 'poisson');
  if (poisson.length === 0) return [];
  const times = (n: number) => (n === Infinity ? '∞' : `${n.toFixed(1)} ×`);
  const row = (name: string, s: Spread) => `| ${name} | ${sec(s.p50)} / ${sec(s.p95)} / ${sec(s.p99)} / ${sec(s.max)} | ${times(s.max / s.p50)} | ${times(s.max / s.p99)} |`;
  const ideal = (run: IdealRun) => `${run.everyCheckpoint ? 'ideal fleet' : 'own holdings, no switch cost'} (${run.rule})`;
  return [
    'Poisson wait tail. References on the same arrivals, first come first served, every checkpoint loaded wherever it is held and switches free: ' +
      '"ideal fleet" = every node holds every checkpoint; "own holdings" = each node only those it holds. Each task goes to the node that would begin ' +
      '(or finish) it earliest, whichever rule gives the smaller max.',
    '',
    '| run | wait p50 / p95 / p99 / max s | max / p50 | max / p99 |',
    '| --- | --- | --- | --- |',
    ...report.ideal.map((run) => row(ideal(run), run.wait)),
    ...poisson.map((run) => row(label(run), run.summary.waitAll)),
    '',
  ];
}

function runRows(report: BenchReport): string[] {
  const bound = makespanBoundSeconds(report.trace);
  const classes: (SpeedClass | 'all')[] = ['fast', 'mid', 'slow', 'all'];
  const rows = [
    '| arrivals | policy | makespan s (× bound) | loads: first + switches (avoidable) | busy fast / mid / slow / all | switching (all) | idle while servable work waited (all) | last start s | first node done for good s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const run of report.runs) {
    const s = run.summary;
    const busy = classes.map((c) => pct(s.shares.get(c)!.busy)).join(' / ');
    const all = s.shares.get('all')!;
    rows.push(
      `| ${PATTERN_NAMES[run.pattern]} | ${label(run)} | ${sec(s.makespanSeconds)} (${(s.makespanSeconds / bound).toFixed(2)}) | ${s.firstLoads} + ${s.switches} (${s.avoidableSwitches}) | ${busy} | ${pct(all.switching)} | ${pct(all.idleWithWork)} | ${sec(s.lastBeginSeconds)} | ${sec(s.firstDoneSeconds)} |`,
    );
  }
  return rows;
}

function keyRows(report: BenchReport): string[] {
  const rows = [
    '| arrivals | key | DAN wait p50 / p95 / max | baseline wait p50 / p95 / max | DAN finish p50 / p95 / max | baseline finish p50 / p95 / max |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const pattern of ['burst', 'poisson'] as const) {
    const dan = find(report, pattern, 'dan')?.summary;
    const base = find(report, pattern, 'baseline')?.summary;
    if (!dan && !base) continue;
    for (const { key } of API_KEYS) {
      const cells = [dan?.waitByKey, base?.waitByKey, dan?.turnaroundByKey, base?.turnaroundByKey].map((m) => spread(m?.get(key)));
      rows.push(`| ${PATTERN_NAMES[pattern]} | ${key} | ${cells.join(' | ')} |`);
    }
    const all = [dan?.waitAll, base?.waitAll].map(spread);
    rows.push(`| ${PATTERN_NAMES[pattern]} | all | ${all.join(' | ')} | | |`);
  }
  return rows;
}

/** The big key's share against the small keys' (unweighted mean). */
function keyGroups(byKey: ReadonlyMap<string, number>): string {
  const [big, ...small] = API_KEYS.map((k) => byKey.get(k.key) ?? NaN);
  return `${pct(big!)} / ${pct(small.reduce((a, b) => a + b, 0) / small.length)}`;
}

function danRows(report: BenchReport): string[] {
  const rows = [
    '| arrivals | run | ETA within (all / queued; big key / small keys) | ETA within: overtaken by a later arrival / not | ETA error median / p90 s | ETA − actual, median s | run-time estimate error, median | position rises: all / unexplained | spot checks vs `Scheduler.position` (mismatches) | violations |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const run of report.runs.filter((r) => r.policy === 'dan')) {
    const e = run.summary.eta!;
    const p = run.positions;
    const positions = p ? `${p.increases} / ${p.unexplained}` : '–';
    const checks = p ? `${p.checked} (${p.mismatches})` : '–';
    rows.push(
      `| ${PATTERN_NAMES[run.pattern]} | ${label(run)} | ${pct(e.withinShare)} / ${pct(e.queuedWithinShare)} (${e.queued} queued); ${keyGroups(e.withinShareByKey)} | ${pct(e.overtakenWithinShare)} (${e.overtaken}) / ${pct(e.notOvertakenWithinShare)} | ${sec(e.medianErrorSeconds)} / ${sec(e.p90ErrorSeconds)} | ${sec(e.medianBiasSeconds)} | ${pct(e.medianRunErrorShare)} | ${positions} | ${checks} | ${run.summary.violations + run.summary.anomalies} |`,
    );
  }
  return rows;
}

const DEFINITIONS =
  'Runs: "dan, warm" = every node reports the speed it measured on its own tasks when it connects, as in a running network; "dan, cold" = no node has run a task yet. ' +
  'Wait = arrival → the node begins the task (for the baseline: when the task reaches the head of its node\'s queue); finish = arrival → result. ' +
  'Busy = share of the run (0 → last finish) a node spent loading or sampling. ETA = `Scheduler.eta` right after the scheduling pass that follows ' +
  'the arrival (0 for a task sent in that pass), within target when |ETA − wait| ≤ max(25 % of the wait, 1 s); "queued" = tasks not sent in ' +
  'that pass; "overtaken" = a task some later arrival began before (no ETA taken at arrival can foresee that). A switch is avoidable when, as it began, a waiting task the node could run needed the checkpoint it had loaded. Position rises are counted over every queued task after every event (arrival or result); a rise is explained only by the arrival ' +
  'of a task ordered ahead that competes for a node. Violations = tasks sent to a node without their checkpoint or beyond its slots, plus tasks ' +
  'not finished exactly once (must be 0).';

export function toMarkdown(report: BenchReport): string {
  return [
    START,
    '## Scheduler: makespan, waits, ETAs',
    '',
    ...traceLines(report),
    '',
    ...targetRows(report),
    '',
    ...coldRows(report),
    ...tailRows(report),
    ...runRows(report),
    '',
    'Seconds: p50 / p95 / max.',
    '',
    ...keyRows(report),
    '',
    ...danRows(report),
    '',
    DEFINITIONS,
    '',
    END,
  ].join('\n');
}

