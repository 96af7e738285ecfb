/**
 * `npm run bench:plan-scale`: what the scheduler costs as the network grows,
 * driving the real `Scheduler` alone (no I/O) as the dispatcher does. Fleets of
 * 8 to 5,000 single-slot nodes, each holding about half of 8 checkpoints, speeds
 * known (a running network); a queue of 2,000 to 100,000 txt2img tasks over the
 * checkpoints, from 5 API keys. Measured on the event loop's clock:
 *
 * - first plan: the queue is filled, then the first `assignments()` (every
 *   node free) and the first ETA (the whole plan);
 * - per result: one node's task ends (`settle`), then what the dispatcher does
 *   next: `setNodes` with the same nodes and `assignments()`, starting what it
 *   returns; over `BENCH_EVENTS` results, p50 / p99 / max;
 * - a position and an ETA, asked of a task in the middle of the queue right
 *   after a result (the first ask after a change pays for the rebuild) and
 *   again (answered from what was built).
 *
 * A scale whose first `assignments()` takes longer than `BENCH_FIRST_S`
 * (default 5) is not planned whole (that would take many minutes) and runs no
 * events, and larger scales are not run; events stop at `BENCH_BUDGET_S`
 * (default 120) in all. The point is to show where the cost grows with
 * queue × nodes.
 *
 * The whole plan is timed only up to BENCH_WHOLE_PLAN_MAX nodes × queued
 * (default 1,000,000): above, it still takes minutes.
 *
 * Knobs: BENCH_SCALES='8x2000,100x5000' BENCH_EVENTS=200 BENCH_WRITE=1|0.
 */
import { performance } from 'node:perf_hooks';
import { NodeEstimates } from '../src/domain/speed-estimates.js';
import { type Assignment, Scheduler, type SchedulerNode } from '../src/scheduler/scheduler.js';
import { writeBenchSection } from './benchmarks-file.js';
import { type Checkpoint, makeCheckpoints, makeSimNode } from './schedule-nodes.js';
import { createRandom, type Random } from './schedule-random.js';
import { type Spread, spreadOf } from './schedule-stats.js';
import { txt2img } from '../test/helpers/specs.js';

interface Scale {
  nodes: number;
  tasks: number;
}

interface ScaleReport extends Scale {
  firstAssignMs: number | null;
  firstEtaMs: number | null;
  perResult: Spread | null;
  positionAfterChangeMs: number | null;
  positionCachedMs: number | null;
  etaAfterChangeMs: number | null;
  etaCachedMs: number | null;
  note: string;
}

const DEFAULT_SCALES = '8x2000,100x5000,1000x20000,5000x100000';
const SCALES: Scale[] = (process.env['BENCH_SCALES'] ?? DEFAULT_SCALES).split(',').map((s) => {
  const [nodes, tasks] = s.split('x').map(Number);
  return { nodes: nodes!, tasks: tasks! };
});
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 200);
const BUDGET_MS = Number(process.env['BENCH_BUDGET_S'] ?? 120) * 1000;
const FIRST_MS = Number(process.env['BENCH_FIRST_S'] ?? 5) * 1000;
const WHOLE_PLAN_MAX = Number(process.env['BENCH_WHOLE_PLAN_MAX'] ?? 1_000_000);
const CHECKPOINTS = makeCheckpoints(8);
const KEYS = ['key-big', 'key-big', 'key-big', 'key-big', 'key-1', 'key-2', 'key-3', 'key-4'];
const NOW = Date.UTC(2026, 0, 1);

function fleet(random: Random, count: number): SchedulerNode[] {
  return Array.from({ length: count }, (_, i) => {
    const held = CHECKPOINTS.filter(() => random.chance(0.5));
    if (held.length === 0) held.push(CHECKPOINTS[random.int(0, CHECKPOINTS.length - 1)]!);
    const sim = makeSimNode({ id: `n${i}`, speedClass: 'mid', itPerSecond: 12, switchSeconds: 8, checkpoints: held });
    return { id: sim.id, name: sim.id, offering: sim.offering, offeringVersion: 0, slots: 1, loadedModel: held[0]!.title, available: true };
  });
}

/** Every node has run tasks: speeds of 6–20 units/s, switches of 4–12 s. */
function measuredEstimates(random: Random, nodes: readonly SchedulerNode[]): NodeEstimates {
  const estimates = new NodeEstimates();
  for (const node of nodes) estimates.seed(node.name, { unitsPerSecond: 6 + 14 * random.next(), switchSeconds: 4 + 8 * random.next() });
  return estimates;
}

function task(random: Random, i: number, checkpoints: readonly Checkpoint[]) {
  const checkpoint = checkpoints[random.int(0, checkpoints.length - 1)]!;
  return { id: `t${i}`, apiKey: KEYS[i % KEYS.length]!, spec: txt2img({ model: checkpoint.ref, steps: 10 + random.int(0, 20) }), priority: 0 };
}

function time<T>(work: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = work();
  return { value, ms: performance.now() - start };
}

function startAll(scheduler: Scheduler, assignments: Assignment[], now: number): void {
  for (const assignment of assignments) scheduler.start(assignment, now);
}

function runScale(scale: Scale): ScaleReport {
  const random = createRandom(1, scale.nodes);
  const nodes = fleet(random, scale.nodes);
  const scheduler = new Scheduler({ estimates: measuredEstimates(random, nodes) });
  scheduler.setNodes(nodes);
  for (let i = 0; i < scale.tasks; i++) scheduler.enqueue(task(random, i, CHECKPOINTS), NOW);
  const first = time(() => scheduler.assignments(NOW));
  startAll(scheduler, first.value, NOW);
  const report: ScaleReport = {
    ...scale,
    firstAssignMs: first.ms,
    firstEtaMs: null,
    perResult: null,
    positionAfterChangeMs: null,
    positionCachedMs: null,
    etaAfterChangeMs: null,
    etaCachedMs: null,
    note: '',
  };
  if (first.ms > FIRST_MS) {
    report.note = `first assignments over ${FIRST_MS / 1000} s: whole plan and events not run`;
    return report;
  }
  // The whole plan (every ETA) is still quadratic in a large network: past WHOLE_PLAN_MAX it would take
  // many minutes, so only the per-result path (assignments alone) is timed there.
  const wholePlan = scale.nodes * scale.tasks <= WHOLE_PLAN_MAX;
  if (wholePlan) {
    const middle = scheduler.queuedIds()[Math.floor(scheduler.queuedCount / 2)]!;
    report.firstEtaMs = time(() => scheduler.eta(middle, NOW)).ms;
    if (report.firstEtaMs > BUDGET_MS) {
      report.note = `whole plan over the ${BUDGET_MS / 1000} s budget: events not run`;
      return report;
    }
  } else {
    report.note = `whole plan (ETAs, positions) not timed above ${WHOLE_PLAN_MAX.toLocaleString('en')} nodes × queued`;
  }
  const samples: number[] = [];
  let now = NOW;
  for (let event = 0; event < EVENTS; event++) {
    now += 50;
    const running = [...scheduler.attempts.onNode(nodes[event % nodes.length]!.id)][0];
    const one = time(() => {
      if (running) scheduler.settle({ taskId: running.taskId }, { ok: true, elapsedMs: 2000 }, now);
      scheduler.setNodes(nodes);
      startAll(scheduler, scheduler.assignments(now), now);
    });
    samples.push(one.ms);
    if (event === EVENTS - 1 && wholePlan) {
      const asked = scheduler.queuedIds()[Math.floor(scheduler.queuedCount / 2)]!;
      report.positionAfterChangeMs = time(() => scheduler.position(asked)).ms;
      report.positionCachedMs = time(() => scheduler.position(asked)).ms;
      report.etaAfterChangeMs = time(() => scheduler.eta(asked, now)).ms;
      report.etaCachedMs = time(() => scheduler.eta(asked, now)).ms;
    }
    if (samples.reduce((a, b) => a + b, 0) > BUDGET_MS) {
      report.note = `events stopped after ${event + 1}: over the ${BUDGET_MS / 1000} s budget`;
      break;
    }
  }
  report.perResult = spreadOf(samples);
  return report;
}

const ms = (value: number | null) => (value === null ? '–' : value < 1 ? value.toFixed(3) : value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en'));

function toMarkdown(reports: readonly ScaleReport[]): string {
  const rows = reports.map((r) => {
    const perResult = r.perResult ? `${ms(r.perResult.p50)} / ${ms(r.perResult.p99)} / ${ms(r.perResult.max)}` : '–';
    return `| ${r.nodes.toLocaleString('en')}, ${r.tasks.toLocaleString('en')} | ${ms(r.firstAssignMs)} | ${ms(r.firstEtaMs)} | ${perResult} | ${ms(r.positionAfterChangeMs)} / ${ms(r.positionCachedMs)} | ${ms(r.etaAfterChangeMs)} / ${ms(r.etaCachedMs)} | ${r.note} |`;
  });
  return [
    '## Scheduler cost as the network grows',
    '',
    `Command: \`npm run bench:plan-scale\` (the real \`Scheduler\` alone, single-slot nodes holding about half of 8 checkpoints, speeds known; ${EVENTS} results per scale; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Times in ms on the event loop.`,
    '',
    '| nodes, queued | first `assignments()` | first ETA (whole plan) | per result p50 / p99 / max | position after a change / again | ETA after a change / again | |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const reports: ScaleReport[] = [];
for (const scale of SCALES) {
  const overBudget = reports.some((r) => r.firstAssignMs !== null && r.firstAssignMs > FIRST_MS);
  const report: ScaleReport = overBudget
    ? { ...scale, firstAssignMs: null, firstEtaMs: null, perResult: null, positionAfterChangeMs: null, positionCachedMs: null, etaAfterChangeMs: null, etaCachedMs: null, note: 'not run: a smaller scale was already over budget' }
    : runScale(scale);
  reports.push(report);
  console.log(JSON.stringify(report));
}
const markdown = toMarkdown(reports);
console.log(`\n${markdown}`);
if (process.env['BENCH_WRITE'] !== '0' && process.env['BENCH_SCALES'] === undefined) writeBenchSection('plan-scale', markdown);
