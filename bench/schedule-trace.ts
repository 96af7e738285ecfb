/**
 * @module bench/schedule-trace
 *
 * The standard trace of the scheduler issue, from a seed: the fleet, the
 * tasks, and the figures both the arrival rate and the makespan bound rest on.
 *
 * Work is measured as the sandbox model's seconds at 1 it/s (512², first
 * order): a task's work W runs W / itPerSecond seconds on a node, switch
 * aside. Hence:
 * - capacity (tasks/s) = Σ node itPerSecond / mean task work, switches
 *   ignored; the Poisson rate is `load` × capacity;
 * - lower bound on the makespan = Σ task work / Σ node itPerSecond + one
 *   checkpoint load (every node starts empty);
 * - a tighter bound that respects which node holds which checkpoint: for
 *   every set S of checkpoints, the work of S's tasks over the speed of the
 *   nodes that hold any of S (those tasks can run nowhere else), plus one load.
 *   Switches aside and work divisible, this is the exact optimum (max-flow
 *   min-cut: the cuts of the checkpoint → node network are these sets). On
 *   seeds 1–10 of the standard trace it equals the first bound: the fleet's
 *   holdings do not force idle speed, so a makespan above the bound is the
 *   scheduler's (the other limits, pixels, ControlNet, LoRAs, are the same on
 *   every simulated node).
 */
import { bindSpec } from '../src/domain/binding.js';
import type { ModelFamily } from '../src/domain/families.js';
import type { StepCosts } from '../src/sandbox/time-model.js';
import { toA1111Request } from '../src/node/backends/a1111/translate.js';
import { type Checkpoint, makeCheckpoints, makeStandardNodes, type SimNodeSpec, timingOf } from './schedule-nodes.js';
import { samplingSeconds } from './schedule-node-time.js';
import { createRandom, Streams, zipfWeights } from './schedule-random.js';
import { type ArrivalPattern, makeStandardTasks, type SimTask, withArrivals } from './schedule-tasks.js';

export interface TraceOptions {
  seed: number;
  taskCount: number;
  /** Poisson arrival rate as a share of capacity. */
  load: number;
  switchSeconds: number;
  /** The checkpoints' families, most popular first (absent: none declared, all planned as SD 1.5). */
  families?: readonly ModelFamily[];
  /** What a step of each family takes on every node's GPU (absent: the gateway's first guesses). */
  stepCosts?: StepCosts;
}

/** The standard trace of bench:schedule (seed 1); bench:schedule-seeds runs it over other seeds. */
export const STANDARD_TRACE: TraceOptions = { seed: 1, taskCount: 2000, load: 0.8, switchSeconds: 8 };

export const CHECKPOINT_COUNT = 8;
export const ZIPF_EXPONENT = 1.1;

export interface Trace {
  options: TraceOptions;
  checkpoints: Checkpoint[];
  /** Zipf probability of each checkpoint. */
  popularity: number[];
  nodes: SimNodeSpec[];
  /** The tasks, all arriving at 0 (see `arrivalsOf`). */
  tasks: SimTask[];
  /** Work of each task: modelled seconds at 1 it/s. */
  workById: Map<string, number>;
  totalWork: number;
  totalSpeed: number;
  capacityPerSecond: number;
  ratePerSecond: number;
}

/** The modelled seconds of `task` at 1 it/s, as the first node that can serve it would be asked. */
export function workOf(task: SimTask, nodes: readonly SimNodeSpec[]): number {
  for (const node of nodes) {
    const outcome = bindSpec(task.spec, node.offering);
    if (!outcome.ok) continue;
    return samplingSeconds(toA1111Request(task.spec, outcome.binding), timingOf(node, 1));
  }
  throw new Error(`no node can serve task ${task.id}`);
}

export function makeStandardTrace(options: TraceOptions): Trace {
  const checkpoints = makeCheckpoints(CHECKPOINT_COUNT, options.families);
  const popularity = zipfWeights(CHECKPOINT_COUNT, ZIPF_EXPONENT);
  const { stepCosts } = options;
  const nodes = makeStandardNodes(createRandom(options.seed, Streams.nodes), checkpoints, popularity, options.switchSeconds).map((n) => (stepCosts ? { ...n, stepCosts } : n));
  const tasks = makeStandardTasks(createRandom(options.seed, Streams.tasks), checkpoints, popularity, options.taskCount);
  const workById = new Map(tasks.map((t) => [t.id, workOf(t, nodes)]));
  const totalWork = [...workById.values()].reduce((a, b) => a + b, 0);
  const totalSpeed = nodes.reduce((a, n) => a + n.itPerSecond, 0);
  const capacityPerSecond = totalSpeed / (totalWork / tasks.length);
  return { options, checkpoints, popularity, nodes, tasks, workById, totalWork, totalSpeed, capacityPerSecond, ratePerSecond: options.load * capacityPerSecond };
}

export function arrivalsOf(trace: Trace, pattern: ArrivalPattern): SimTask[] {
  return withArrivals(trace.tasks, pattern, createRandom(trace.options.seed, Streams.arrivals), trace.ratePerSecond);
}

/** Σ work / Σ speed + one load. */
export function makespanBoundSeconds(trace: Trace): number {
  return trace.totalWork / trace.totalSpeed + trace.options.switchSeconds;
}

/** The bound over every set of checkpoints (see the module comment); ≥ `makespanBoundSeconds`. */
export function holdingsBoundSeconds(trace: Trace): number {
  const workByCheckpoint = trace.checkpoints.map((c) => trace.tasks.filter((t) => t.spec.model.id === c.ref.id).reduce((a, t) => a + trace.workById.get(t.id)!, 0));
  let worst = trace.totalWork / trace.totalSpeed;
  for (let set = 1; set < 1 << trace.checkpoints.length; set++) {
    const inSet = (i: number) => (set & (1 << i)) !== 0;
    const work = workByCheckpoint.reduce((a, w, i) => (inSet(i) ? a + w : a), 0);
    const speed = trace.nodes.filter((n) => trace.checkpoints.some((c, i) => inSet(i) && n.checkpoints.includes(c))).reduce((a, n) => a + n.itPerSecond, 0);
    if (speed > 0) worst = Math.max(worst, work / speed);
  }
  return worst + trace.options.switchSeconds;
}
