/**
 * `npm run bench:plan-shapes`: what one scheduling pass that sends work costs the planner over a thousand
 * nodes, for queues of different shapes. bench:plan-scale drives the whole `Scheduler` through a steady
 * queue; a rule whose cost grows with the queue times the nodes hides there until a queue of another shape
 * comes (session 17: a queue with many urgent tasks made each pick compare every one of them against 500
 * nodes, 27 ms a pass). This drives the planner alone (`planTasks` up to now, as `Scheduler.assignments`
 * does) on made-up inputs: nodes that hold one task ready (`dan node`'s default), each holding about half
 * of 8 checkpoints, and the 2,000 tasks at the front of the queue (the horizon a pass plans).
 *
 * Shapes: a steady queue (waits falling from 60 s in service order); every task's promised start due;
 * waits spread at random up to 100 s (a tenth of the tasks left far behind: urgent, rule 0a); a checkpoint
 * only a handful of nodes hold (their work the long pole, rule 0b); a tenth of the nodes free; a short
 * queue (50 tasks, and 200); and 5,000 nodes. Per shape: 200 passes after 100 not counted, p50 / p99 / max in
 * ms, and how many tasks a pass sends; and the ETA plan of the same queue (`planTasks` to the end, as
 * eta-plans.ts has it made), 20 after 5 not counted. Each node's measured speed and fixed cost differ a little
 * from its peers', as learned figures do: where all are equal, the planner's bounds settle most questions
 * without looking at the nodes.
 *
 * Knobs: BENCH_PASSES=200 BENCH_PLANS=20 BENCH_WRITE=1|0
 */
import { PlanBuffers } from '../src/scheduler/plan-buffers.js';
import { planTasks } from '../src/scheduler/planner.js';
import type { PlanNode, PlanTask } from '../src/scheduler/plan-types.js';
import { writeBenchSection } from './benchmarks-file.js';
import { createRandom, type Random } from './schedule-random.js';
import { type Spread, spreadOf } from './schedule-stats.js';

const PASSES = Number(process.env['BENCH_PASSES'] ?? 200);
const WARMUP = 100;
const PLANS = Number(process.env['BENCH_PLANS'] ?? 20);
const PLAN_WARMUP = 5;
const CHECKPOINTS = 8;
/** The send-ahead window of a fleet whose loads take next to nothing (scheduler.ts `SEND_AHEAD_MIN_SECONDS`). */
const WINDOW_SECONDS = 0.25;

interface Shape {
  name: string;
  nodes: number;
  tasks: number;
  /** When the node's lane frees, seconds from now (0: free). */
  lane: (random: Random) => number;
  /** The wait of the task at place `i` in service order. */
  waited: (i: number, random: Random) => number;
  promisedAt?: (random: Random) => number | undefined;
  /** The share of the nodes that hold the last checkpoint (the others about half). */
  rareShare?: number;
}

const busy = (random: Random) => 0.1 + 2 * random.next();
const steady = (i: number) => 60 - 0.03 * i;

const SHAPES: Shape[] = [
  { name: 'steady queue', nodes: 1000, tasks: 2000, lane: busy, waited: steady },
  { name: 'every promise due', nodes: 1000, tasks: 2000, lane: busy, waited: steady, promisedAt: () => -1 },
  { name: 'waits spread to 100 s (a tenth urgent)', nodes: 1000, tasks: 2000, lane: busy, waited: (_, random) => 100 * random.next(), promisedAt: (random) => (random.chance(0.5) ? -5 * random.next() : undefined) },
  { name: 'a checkpoint only 5 nodes hold', nodes: 1000, tasks: 2000, lane: busy, waited: steady, rareShare: 0.005 },
  { name: 'a tenth of the nodes free', nodes: 1000, tasks: 2000, lane: (random) => (random.chance(0.1) ? 0 : busy(random)), waited: steady },
  { name: 'short queue (50 tasks)', nodes: 1000, tasks: 50, lane: busy, waited: (i) => 60 - i },
  { name: 'short queue (200 tasks)', nodes: 1000, tasks: 200, lane: busy, waited: (i) => 60 - 0.3 * i },
  { name: 'steady queue, 5,000 nodes', nodes: 5000, tasks: 2000, lane: busy, waited: steady },
];

function inputs(shape: Shape): { nodes: PlanNode[]; tasks: PlanTask[] } {
  const random = createRandom(1);
  const holders: number[][] = Array.from({ length: CHECKPOINTS }, () => []);
  const nodes: PlanNode[] = Array.from({ length: shape.nodes }, (_, n) => {
    const held = Array.from({ length: CHECKPOINTS }, (_, c) => c).filter((c) => random.chance(c === CHECKPOINTS - 1 && shape.rareShare !== undefined ? shape.rareShare : 0.5));
    for (const c of held) holders[c]!.push(n);
    const unitsPerSecond = 10 * (0.95 + 0.1 * random.next());
    const fixedSeconds = 0.05 * (0.9 + 0.2 * random.next());
    return { id: `n${n}`, unitsPerSecond, fixedSeconds, switchSeconds: 8, switchMeasured: true, lanes: [shape.lane(random)], sendAhead: 1, loaded: held.length > 0 ? `c${held[0]}` : null, available: true };
  });
  const tasks: PlanTask[] = Array.from({ length: shape.tasks }, (_, i) => {
    const drawn = random.int(0, CHECKPOINTS - 1);
    const checkpoint = holders[drawn]!.length > 0 ? drawn : 0;
    return { id: `t${i}`, units: 20, checkpoint: `c${checkpoint}`, capable: holders[checkpoint]!, waitedSeconds: shape.waited(i, random), promisedAt: shape.promisedAt?.(random) };
  });
  return { nodes, tasks };
}

function measure(shape: Shape): { spread: Spread; sent: number; plan: Spread } {
  const { nodes, tasks } = inputs(shape);
  const buffers = new PlanBuffers();
  const pass = () => planTasks(tasks, nodes, { sendAheadSeconds: WINDOW_SECONDS }, 0, buffers);
  const spread = timed(pass, WARMUP, PASSES);
  const plan = timed(() => planTasks(tasks, nodes, { sendAheadSeconds: WINDOW_SECONDS }), PLAN_WARMUP, PLANS);
  return { spread, sent: pass().assignments.length, plan };
}

function timed(run: () => unknown, warmup: number, count: number): Spread {
  for (let i = 0; i < warmup; i++) run();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    run();
    times.push(performance.now() - started);
  }
  return spreadOf(times);
}

const rows: string[] = [];
for (const shape of SHAPES) {
  const { spread, sent, plan } = measure(shape);
  console.error(`${shape.name}: p50 ${spread.p50.toFixed(2)} p99 ${spread.p99.toFixed(2)} max ${spread.max.toFixed(2)} ms, ${sent} sent; ETA plan p50 ${plan.p50.toFixed(1)} max ${plan.max.toFixed(1)} ms`);
  rows.push(`| ${shape.name} | ${shape.nodes.toLocaleString('en')} | ${shape.tasks.toLocaleString('en')} | ${spread.p50.toFixed(2)} / ${spread.p99.toFixed(2)} / ${spread.max.toFixed(2)} | ${sent} | ${plan.p50.toFixed(1)} / ${plan.max.toFixed(1)} |`);
}
const markdown = [
  '## A pass that sends work, by the shape of the queue',
  '',
  `Command: \`npm run bench:plan-shapes\` (the planner alone, \`planTasks\` up to now as a scheduling pass runs it, on made-up inputs: single-slot nodes holding about half of 8 checkpoints and room for one task ready, their speeds and fixed costs a few percent apart, a send-ahead window of ${WINDOW_SECONDS} s, the queue's first tasks; ${PASSES} passes per shape after ${WARMUP} not counted; the ETA plan of the same queue, to its end, ${PLANS} after ${PLAN_WARMUP} not counted; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Times in ms.`,
  '',
  '| queue | nodes | tasks planned | pass, p50 / p99 / max | tasks sent | ETA plan, p50 / max |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
console.log(markdown);
if (process.env['BENCH_WRITE'] !== '0') writeBenchSection('plan-shapes', markdown);
