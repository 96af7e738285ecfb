/**
 * @module bench/live-trace
 *
 * The fleet and the tasks of `npm run bench:live`, and the reference figures
 * computed on the same trace: the lower bounds on the makespan, and the
 * original deployment's round-robin and an earliest-free FIFO queue,
 * simulated (bench/schedule-sim.ts) with the sandbox's time model.
 *
 * Four GPUs of three speeds over three checkpoints; only the fastest holds all
 * three. Tasks are 512² txt2img of 15–40 steps (work = steps, in it at 512²),
 * the checkpoints drawn 50 / 30 / 20 %. Times are modelled seconds; a scale's
 * `speed` divides them (the sandbox's time compression), so "fast GPUs" and
 * "desktop GPUs" are the same trace at two time scales.
 */
import { catalogModels } from '../src/domain/catalog.js';
import type { Txt2ImgSpec } from '../src/domain/spec.js';
import { type Checkpoint, makeSimNode, type SimNodeSpec } from './schedule-nodes.js';
import { createRandom, Streams } from './schedule-random.js';
import { type SimPolicyName, simulate } from './schedule-sim.js';
import type { SimTask } from './schedule-tasks.js';

/** Modelled seconds a checkpoint load takes on every node. */
export const SWITCH_SECONDS = 4;
export const SIDE_PX = 512;

export interface LiveNode {
  name: string;
  itPerSecond: number;
  holds: readonly Checkpoint[];
}

export interface LiveScale {
  name: 'fast' | 'desktop';
  /** Sandbox time compression: wall seconds = modelled seconds ÷ speed. */
  speed: number;
  taskCount: number;
}

export const SCALES: readonly LiveScale[] = [
  // Loads of 0.5 s, tasks of 0.06–0.5 s.
  { name: 'fast', speed: 8, taskCount: 300 },
  // Loads of 5 s, tasks of 0.6–5 s.
  { name: 'desktop', speed: 0.8, taskCount: 160 },
];

const checkpoint = (index: number): Checkpoint => {
  const entry = catalogModels[index]!;
  const short = entry.sha256.slice(0, 10);
  return { name: entry.name, title: `${entry.name}.safetensors [${short}]`, ref: { id: entry.sha256, name: entry.name } };
};
export const CHECKPOINTS: readonly Checkpoint[] = [checkpoint(0), checkpoint(1), checkpoint(2)];
const [A, B, C] = CHECKPOINTS as [Checkpoint, Checkpoint, Checkpoint];
const POPULARITY = [0.5, 0.3, 0.2];

export const FLEET: readonly LiveNode[] = [
  { name: 'gpu-fast', itPerSecond: 30, holds: [A, B, C] },
  { name: 'gpu-mid-1', itPerSecond: 20, holds: [A, B] },
  { name: 'gpu-mid-2', itPerSecond: 20, holds: [B, C] },
  { name: 'gpu-slow', itPerSecond: 10, holds: [A, C] },
];

export interface LiveTask {
  index: number;
  apiKey: string;
  checkpoint: Checkpoint;
  steps: number;
  /** Modelled seconds after the first arrival (0 for all at once). */
  arrivalSeconds: number;
}

export function makeTasks(count: number, seed = 1): LiveTask[] {
  const random = createRandom(seed, Streams.tasks);
  return Array.from({ length: count }, (_, index) => {
    let pick = random.next();
    let c = 0;
    while (c < POPULARITY.length - 1 && pick >= POPULARITY[c]!) pick -= POPULARITY[c++]!;
    return { index, apiKey: `key-${random.int(1, 3)}`, checkpoint: CHECKPOINTS[c]!, steps: random.int(15, 40), arrivalSeconds: 0 };
  });
}

/** The same tasks arriving as a Poisson process at `load` × the fleet's capacity (modelled seconds). */
export function withPoissonArrivals(tasks: readonly LiveTask[], load: number, seed = 1): LiveTask[] {
  const random = createRandom(seed, Streams.arrivals);
  const meanWork = tasks.reduce((sum, t) => sum + t.steps, 0) / tasks.length;
  const rate = (load * totalSpeed()) / meanWork;
  let at = 0;
  return tasks.map((task, i) => {
    if (i > 0) at += random.exponential(rate);
    return { ...task, arrivalSeconds: at };
  });
}

export const totalSpeed = (): number => FLEET.reduce((sum, n) => sum + n.itPerSecond, 0);

/**
 * A lower bound on the makespan (modelled seconds), counting a fixed cost of `fixedModelled` on every task:
 * VAE decoding, PNG encoding and HTTP, which no placement avoids. Node n spends `fixed + steps ÷ v_n`
 * on a task. Within makespan T, node n can give T·v_n steps' worth (a) and T seconds (b), so for any
 * β ≥ 0 the sum of (a) + β·(b) over the holders must cover each task's cheapest
 * `steps + fixed·v_n + β·(fixed + steps ÷ v_n)`: T ≥ Σ_tasks min_n(…) ÷ Σ_holders (v_n + β) (weak
 * duality; β = 0 and β → ∞ are the two obvious bounds, the best β lies between). Taken over the fleet
 * and over every set of checkpoints with the nodes that hold any of them; plus one load. Without a
 * fixed cost (β = 0) it is Σ work ÷ Σ speed over those sets, the bound of the sandbox's time model.
 */
export function makespanBoundSeconds(tasks: readonly LiveTask[], fixedModelled = 0): number {
  let worst = 0;
  const betas = [0, ...Array.from({ length: 41 }, (_, k) => 10 ** (k / 8 - 1))];
  for (let set = 1; set < 1 << CHECKPOINTS.length; set++) {
    const inSet = (c: Checkpoint) => (set & (1 << CHECKPOINTS.indexOf(c))) !== 0;
    const mine = tasks.filter((t) => inSet(t.checkpoint));
    const holders = FLEET.filter((n) => n.holds.some(inSet));
    for (const beta of betas) {
      let need = 0;
      for (const task of mine) {
        let cheapest = Infinity;
        for (const n of holders) {
          if (!n.holds.includes(task.checkpoint)) continue;
          cheapest = Math.min(cheapest, task.steps + fixedModelled * n.itPerSecond + beta * (fixedModelled + task.steps / n.itPerSecond));
        }
        need += cheapest;
      }
      worst = Math.max(worst, need / holders.reduce((sum, n) => sum + n.itPerSecond + beta, 0));
    }
  }
  return worst + SWITCH_SECONDS;
}

export function specOf(task: LiveTask): Txt2ImgSpec {
  return {
    kind: 'txt2img',
    prompt: `live bench task ${task.index}`,
    negativePrompt: '',
    seed: task.index,
    sampler: 'Euler a',
    steps: task.steps,
    cfgScale: 7,
    width: SIDE_PX,
    height: SIDE_PX,
    model: task.checkpoint.ref,
    loras: [],
    controlNet: [],
    hires: null,
  };
}

/** The HTTP body that asks for `task`. */
export function requestOf(task: LiveTask): Record<string, unknown> {
  return { prompt: `live bench task ${task.index}`, model: task.checkpoint.ref.id, steps: task.steps, width: SIDE_PX, height: SIDE_PX, sampler_name: 'Euler a', seed: task.index };
}

export function simNodes(): SimNodeSpec[] {
  return FLEET.map((n) => makeSimNode({ id: n.name, speedClass: 'mid', itPerSecond: n.itPerSecond, switchSeconds: SWITCH_SECONDS, checkpoints: n.holds }));
}

/** A policy's simulated makespan on the trace, in modelled seconds (every node starts with its first checkpoint unloaded). */
export function simulatedMakespan(policy: SimPolicyName, tasks: readonly LiveTask[]): number {
  const simTasks: SimTask[] = tasks.map((t) => ({ id: `t${t.index}`, apiKey: t.apiKey, spec: specOf(t), arrivalMs: t.arrivalSeconds * 1000 }));
  const run = simulate(policy, simNodes(), simTasks, { primeEstimates: true, positionChecksPerEvent: 0 });
  return run.endMs / 1000;
}
