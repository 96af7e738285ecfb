/**
 * `npm run bench:plan-scale`: what the scheduler costs as the network grows,
 * driving the real `Scheduler` alone (no I/O) as the dispatcher does. Fleets of
 * 8 to 5,000 single-slot nodes, each holding about half of 8 checkpoints and
 * one task ready beyond its slot (`dan node`'s default `--prefetch 1`), speeds
 * known (a running network); a queue of 2,000 to 100,000 txt2img tasks over the
 * checkpoints, from 5 API keys. Measured on the event loop's clock:
 *
 * - first plan: the queue is filled, then the first `assignments()` (every
 *   node free) and the first ETA (the whole plan);
 * - then `BENCH_EVENTS` rounds of what a busy gateway does, one per result in
 *   the order the fleet's GPUs finish (`FleetClock`: each task takes its load,
 *   if its node must switch, and its steps at the node's speed; the clock the
 *   scheduler is given moves to each end), each timed apart, p50 / p99 / max, after
 *   `BENCH_WARMUP` rounds not counted (the first rounds compile the code a
 *   gateway that has run a while has compiled). V8 keeps optimizing, and
 *   deoptimizing, the scheduler's code for a few hundred rounds at 1,000 nodes
 *   (`node --trace-opt`, per 50 rounds: 56 compiles in the first 50, then 16, 6,
 *   16, 9, then 0–4 from round 250 on); with 20 rounds not counted those
 *   compiles made the p95 and p99 (5.5 / 8.6 ms, against 2.1 / 4.2 ms after
 *   300). A gateway with a thousand nodes or more makes that many passes in its
 *   first seconds (with 8 or 100 nodes, in its first minutes). Compiles that
 *   never ended were a fault of the scheduler's, not of the warm-up: see
 *   util/double-fields.ts (p99 per result at 1,000 nodes 8.7–10.6 ms before,
 *   4.6–5.1 after; 2.8–3.7 once this bench stopped copying the queue each
 *   round, `QueuedIds`).
 *   The rounds:
 *   - a result: the next task to end ends (`settle`, with its times and its node's
 *     loaded checkpoint as a node reports them), then what the dispatcher does
 *     next: `setNodes` with the same nodes and `assignments()`, starting what
 *     it returns, and `heldReclaims()`;
 *   - a submit: a new task is queued and its ETA asked, as an async submit
 *     answers (the queue stays as long);
 *   - a status poll: the position and the ETA of a queued task picked at
 *     random. The ETAs come from a kept plan, made again when asked after a
 *     change once its keep time is over (eta-plans.ts): a rebuild is in the
 *     figures when one falls in the rounds measured. A fleet of 1,000 finishes
 *     them in about a second of its clock, less than a plan of 20,000 tasks is
 *     kept: there the whole plan's column is what a rebuild costs.
 *
 * A scale whose first `assignments()` takes longer than `BENCH_FIRST_S`
 * (default 5) runs no events, and larger scales are not run; events stop at
 * `BENCH_BUDGET_S` (default 120) in all.
 *
 * Knobs: BENCH_SCALES='8x2000,100x5000' BENCH_EVENTS=200 BENCH_WARMUP=300 BENCH_WRITE=1|0 BENCH_PREFETCH=n (tasks each node holds ready; not written unless the default)
 * BENCH_LOADS=2-32 (the fleet's checkpoint loads, seconds; 4-12 by default): a fleet whose loads differ this much has
 * the planner's rule 0c on (checkpoint-supply.ts), and its figures go to a section of their own.
 */
import { performance } from 'node:perf_hooks';
import { nodeDefaults } from '../src/config/node-config.js';
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
  /** Queue a task and ask its ETA. */
  perSubmit: Spread | null;
  /** One position and one ETA of a random queued task; and the mean, rebuilds included. */
  perPoll: Spread | null;
  pollMeanMs: number | null;
  note: string;
}

const DEFAULT_SCALES = '8x2000,100x5000,1000x20000,5000x100000';
const SCALES: Scale[] = (process.env['BENCH_SCALES'] ?? DEFAULT_SCALES).split(',').map((s) => {
  const [nodes, tasks] = s.split('x').map(Number);
  return { nodes: nodes!, tasks: tasks! };
});
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 200);
/** Tasks each node holds ready beyond its slot (`dan node --prefetch`); the standard run has the node's default. */
const PREFETCH = Number(process.env['BENCH_PREFETCH'] ?? nodeDefaults.prefetch);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 300);
const BUDGET_MS = Number(process.env['BENCH_BUDGET_S'] ?? 120) * 1000;
const FIRST_MS = Number(process.env['BENCH_FIRST_S'] ?? 5) * 1000;
/** Checkpoint loads the fleet has measured, seconds, lowest-highest: alike by default; '2-32' is a fleet whose loads differ (rule 0c acts). */
const LOADS = loadsFromEnv(process.env['BENCH_LOADS'] ?? '4-12');
const CHECKPOINTS = makeCheckpoints(8);
const KEYS = ['key-big', 'key-big', 'key-big', 'key-big', 'key-1', 'key-2', 'key-3', 'key-4'];
const NOW = Date.UTC(2026, 0, 1);

function loadsFromEnv(raw: string): { low: number; high: number; raw: string; standard: boolean } {
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(raw);
  if (!match || Number(match[1]) > Number(match[2])) throw new Error(`BENCH_LOADS must be a range of seconds (2-32), got "${raw}"`);
  return { low: Number(match[1]), high: Number(match[2]), raw, standard: raw === '4-12' };
}

function fleet(random: Random, count: number): SchedulerNode[] {
  return Array.from({ length: count }, (_, i) => {
    const held = CHECKPOINTS.filter(() => random.chance(0.5));
    if (held.length === 0) held.push(CHECKPOINTS[random.int(0, CHECKPOINTS.length - 1)]!);
    const sim = makeSimNode({ id: `n${i}`, speedClass: 'mid', itPerSecond: 12, switchSeconds: 8, checkpoints: held });
    return { id: sim.id, name: sim.id, identity: sim.id, offering: sim.offering, offeringVersion: 0, slots: 1, prefetch: PREFETCH, loadedModel: held[0]!.title, available: true };
  });
}

/** What each simulated GPU truly does: units per second, and seconds a checkpoint load takes. */
interface Gpu {
  unitsPerSecond: number;
  loadSeconds: number;
}

/** Every node has run tasks: speeds of 6–20 units/s, switches within `LOADS` (4–12 s by default); the estimates are its true figures. */
function measuredEstimates(random: Random, nodes: readonly SchedulerNode[]): { estimates: NodeEstimates; gpuOf: Map<string, Gpu> } {
  const estimates = new NodeEstimates();
  const gpuOf = new Map<string, Gpu>();
  for (const node of nodes) {
    const gpu = { unitsPerSecond: 6 + 14 * random.next(), loadSeconds: LOADS.low + (LOADS.high - LOADS.low) * random.next() };
    gpuOf.set(node.name, gpu);
    estimates.seed(node.name, { unitsPerSecond: gpu.unitsPerSecond, switchSeconds: gpu.loadSeconds });
  }
  return { estimates, gpuOf };
}

/** Seconds every run takes besides its steps (HTTP, decoding, encoding). */
const RUN_FIXED_SECONDS = 0.1;

/** A started task's result as its node will report it, and when. */
interface PendingResult {
  taskId: string;
  nodeName: string;
  /** Epoch ms. */
  end: number;
  elapsedMs: number;
  loadMs?: number;
  checkpoint: string | null;
}

/**
 * The fleet's GPUs as time goes: each started task runs on its node after the ones before it there, a load
 * first when the node has another checkpoint loaded, and ends when its steps at the node's speed are done.
 * Results come in the order they end, with the times a node reports (a result every 50 ms whatever the
 * work, as this benchmark had, taught the scheduler speeds of 10^15 units/s: no time grew with the work).
 */
class FleetClock {
  readonly #gpuOf: Map<string, Gpu>;
  /** Per node: when it is through with what it was given, and what it will have loaded then. */
  readonly #node = new Map<string, { freeAt: number; loaded: string | null }>();
  /** Started tasks not yet reported, with when each ends and what its node will report. */
  readonly #ends: PendingResult[] = [];

  constructor(gpuOf: Map<string, Gpu>, nodes: readonly SchedulerNode[]) {
    this.#gpuOf = gpuOf;
    for (const node of nodes) this.#node.set(node.name, { freeAt: NOW, loaded: CHECKPOINTS.find((c) => c.title === node.loadedModel)?.ref.id ?? null });
  }

  /** Task `taskId` (of `steps` steps, on `checkpoint`) was sent to `nodeName` at `now`. */
  started(taskId: string, nodeName: string, steps: number, checkpoint: string | null, now: number): void {
    const gpu = this.#gpuOf.get(nodeName)!;
    const node = this.#node.get(nodeName)!;
    const load = checkpoint !== null && checkpoint !== node.loaded ? gpu.loadSeconds : 0;
    const seconds = load + RUN_FIXED_SECONDS + steps / gpu.unitsPerSecond;
    const begins = Math.max(node.freeAt, now);
    node.freeAt = begins + seconds * 1000;
    if (checkpoint !== null) node.loaded = checkpoint;
    this.#ends.push({ taskId, nodeName, end: node.freeAt, elapsedMs: seconds * 1000, ...(load > 0 ? { loadMs: load * 1000 } : {}), checkpoint });
  }

  /** The next result in time, taken off. */
  next(): PendingResult | undefined {
    let first = 0;
    for (let i = 1; i < this.#ends.length; i++) if (this.#ends[i]!.end < this.#ends[first]!.end) first = i;
    return this.#ends.splice(first, 1)[0];
  }
}

/**
 * The ids of the tasks still queued, for a status poll to ask about one at random. Kept here rather than
 * copied from the scheduler each round: `queuedIds()` made an array of 20,000 ids per round, and
 * collecting that garbage fell in the rounds measured (a scavenge in one round of fifteen).
 */
class QueuedIds {
  readonly #ids: string[] = [];
  readonly #at = new Map<string, number>();

  add(id: string): void {
    this.#at.set(id, this.#ids.length);
    this.#ids.push(id);
  }

  remove(id: string): void {
    const at = this.#at.get(id);
    if (at === undefined) return;
    const last = this.#ids.pop()!;
    if (last !== id) {
      this.#ids[at] = last;
      this.#at.set(last, at);
    }
    this.#at.delete(id);
  }

  pick(random: Random): string {
    return this.#ids[random.int(0, this.#ids.length - 1)]!;
  }
}

/** A 512² txt2img task of 10-30 steps (as many work units). */
function task(random: Random, i: number, checkpoints: readonly Checkpoint[]) {
  const checkpoint = checkpoints[random.int(0, checkpoints.length - 1)]!;
  const steps = 10 + random.int(0, 20);
  return { id: `t${i}`, owner: KEYS[i % KEYS.length]!, spec: txt2img({ model: checkpoint.ref, steps }), priority: 0, steps };
}

function time<T>(work: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = work();
  return { value, ms: performance.now() - start };
}

function startAll(scheduler: Scheduler, assignments: Assignment[], now: number, started?: (assignment: Assignment) => void): void {
  for (const assignment of assignments) {
    scheduler.start(assignment, now);
    started?.(assignment);
  }
}

function runScale(scale: Scale): ScaleReport {
  const random = createRandom(1, scale.nodes);
  const nodes = fleet(random, scale.nodes);
  const { estimates, gpuOf } = measuredEstimates(random, nodes);
  const scheduler = new Scheduler({ estimates });
  scheduler.setNodes(nodes);
  const made = new Map<string, { steps: number; checkpoint: string }>();
  const queued = new QueuedIds();
  const enqueue = (fresh: ReturnType<typeof task>, at: number) => {
    made.set(fresh.id, { steps: fresh.steps, checkpoint: fresh.spec.model.id });
    queued.add(fresh.id);
    scheduler.enqueue(fresh, at);
  };
  const fleetClock = new FleetClock(gpuOf, nodes);
  const nameOf = new Map(nodes.map((n) => [n.id, n.name]));
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const started = (now: number) => (assignment: Assignment) => {
    const { steps, checkpoint } = made.get(assignment.taskId)!;
    queued.remove(assignment.taskId);
    fleetClock.started(assignment.taskId, nameOf.get(assignment.nodeId)!, steps, checkpoint, now);
  };
  for (let i = 0; i < scale.tasks; i++) enqueue(task(random, i, CHECKPOINTS), NOW);
  const first = time(() => scheduler.assignments(NOW));
  startAll(scheduler, first.value, NOW, started(NOW));
  const report: ScaleReport = { ...scale, firstAssignMs: first.ms, firstEtaMs: null, perResult: null, perSubmit: null, perPoll: null, pollMeanMs: null, note: '' };
  if (first.ms > FIRST_MS) {
    report.note = `first assignments over ${FIRST_MS / 1000} s: events not run`;
    return report;
  }
  const middle = scheduler.queuedIds()[Math.floor(scheduler.queuedCount / 2)]!;
  report.firstEtaMs = time(() => scheduler.eta(middle, NOW)).ms;
  const results: number[] = [];
  const submits: number[] = [];
  const polls: number[] = [];
  let now = NOW;
  let spent = 0;
  let reclaimable = 0;
  for (let event = 0; event < WARMUP + EVENTS && spent < BUDGET_MS; event++) {
    const ended = fleetClock.next();
    if (!ended) break;
    now = Math.max(now, ended.end);
    // The node reports what it has loaded with its result.
    const node = nodeByName.get(ended.nodeName)!;
    if (ended.checkpoint !== null) node.loadedModel = CHECKPOINTS.find((c) => c.ref.id === ended.checkpoint)!.title;
    const result = time(() => {
      scheduler.settle({ taskId: ended.taskId }, { ok: true, elapsedMs: ended.elapsedMs, ...(ended.loadMs === undefined ? {} : { loadMs: ended.loadMs }) }, now);
      scheduler.setNodes(nodes);
      startAll(scheduler, scheduler.assignments(now), now, started(now));
      // As the dispatcher's pass does next: held tasks an idle node would finish sooner (counted, not moved:
      // with the queue this long, no node stands idle).
      reclaimable += scheduler.heldReclaims(now).length;
    });
    const fresh = task(random, scale.tasks + event, CHECKPOINTS);
    const submit = time(() => {
      enqueue(fresh, now);
      return scheduler.eta(fresh.id, now);
    });
    const asked = queued.pick(random);
    const poll = time(() => [scheduler.position(asked), scheduler.eta(asked, now)]);
    if (submit.value === null || poll.value.includes(null) || poll.value.includes(undefined)) report.note = 'some task had no position or ETA';
    spent += result.ms + submit.ms + poll.ms;
    if (event < WARMUP) continue;
    results.push(result.ms);
    submits.push(submit.ms);
    polls.push(poll.ms);
  }
  if (reclaimable > 0) report.note = `${reclaimable} held tasks an idle node would have taken (not moved here)`;
  if (spent >= BUDGET_MS) report.note = `events stopped after ${results.length}: over the ${BUDGET_MS / 1000} s budget`;
  report.perResult = spreadOf(results);
  report.perSubmit = spreadOf(submits);
  report.perPoll = spreadOf(polls);
  report.pollMeanMs = polls.reduce((a, b) => a + b, 0) / polls.length;
  return report;
}

const ms = (value: number | null) => (value === null ? '–' : value < 1 ? value.toFixed(3) : value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en'));

const spread = (value: Spread | null) => (value ? `${ms(value.p50)} / ${ms(value.p99)} / ${ms(value.max)}` : '–');

function toMarkdown(reports: readonly ScaleReport[]): string {
  const rows = reports.map(
    (r) =>
      `| ${r.nodes.toLocaleString('en')}, ${r.tasks.toLocaleString('en')} | ${ms(r.firstAssignMs)} | ${ms(r.firstEtaMs)} | ${spread(r.perResult)} | ${spread(r.perSubmit)} | ${spread(r.perPoll)} | ${ms(r.pollMeanMs)} | ${r.note} |`,
  );
  return [
    LOADS.standard ? '## Scheduler cost as the network grows' : `## Scheduler cost as the network grows, loads of ${LOADS.low}–${LOADS.high} s`,
    '',
    `Command: \`${LOADS.standard ? '' : `BENCH_LOADS=${LOADS.raw} `}npm run bench:plan-scale\` (the real \`Scheduler\` alone, single-slot nodes holding about half of 8 checkpoints and ${PREFETCH === 1 ? 'one task' : `${PREFETCH} tasks`} ready each (\`dan node --prefetch ${PREFETCH}\`, the default), speeds known, checkpoint loads of ${LOADS.low}–${LOADS.high} s; ${EVENTS} rounds per scale of a result (the next task to end, its node's times as the fleet's GPUs would take them), a submit with its ETA and a status poll, after ${WARMUP} not counted (V8 compiles a running gateway's code in those); Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Times in ms on the event loop; p50 / p99 / max. The whole plan is what a rebuild of the ETAs costs; polls and submits read them from a kept plan, remade once its keep time is over after a change (a rebuild is in the figures when one falls in the rounds measured: at 1,000 nodes and more they span less than a plan is kept).`,
    '',
    '| nodes, queued | first `assignments()` | whole plan (all ETAs) | per result | per submit (queue + ETA) | per status poll (position + ETA) | poll, mean | |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const reports: ScaleReport[] = [];
for (const scale of SCALES) {
  const overBudget = reports.some((r) => r.firstAssignMs !== null && r.firstAssignMs > FIRST_MS);
  const report: ScaleReport = overBudget
    ? { ...scale, firstAssignMs: null, firstEtaMs: null, perResult: null, perSubmit: null, perPoll: null, pollMeanMs: null, note: 'not run: a smaller scale was already over budget' }
    : runScale(scale);
  reports.push(report);
  console.log(JSON.stringify(report));
}
const markdown = toMarkdown(reports);
console.log(`\n${markdown}`);
if (process.env['BENCH_WRITE'] !== '0' && process.env['BENCH_SCALES'] === undefined && PREFETCH === nodeDefaults.prefetch) {
  writeBenchSection(LOADS.standard ? 'plan-scale' : 'plan-scale-loads-differ', markdown);
}
