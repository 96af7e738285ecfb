/**
 * The scheduler in a live network at unusual speeds: `npm run bench:speeds -- <scenario> …` (after the build,
 * which the script runs). Each scenario starts a real gateway, per GPU a sandbox
 * (bench/speeds-sandbox.mjs, whose speed may change mid-run) and a `dan node`, submits over HTTP and reads
 * the gateway's log (bench/speeds-harness.ts), then prints makespan against the bounds, waits, ETA errors,
 * per-node busy share and idle time beside work, what the gateway learned, and lost or repeated runs.
 * bench:live covers two standard scales; these are the fleets it does not: turbo GPUs (0.02-0.1 s tasks),
 * a very mixed fleet (a node 13x slower, one whose loads take 30 s), 30-60 s tasks among 1 s ones, nodes
 * that crash, drain or join mid-run, a GPU whose speed drops or rises, a node whose process stops for a
 * while, a checkpoint nobody has loaded in a burst. Nothing is written to BENCHMARKS.md (its figures there say which command made them).
 * TRIAL_KEEP_LOGS=dir keeps every process's log.
 */
import { rng, runScenario, type Scenario, type TrialNode, type TrialTask, unitsOf } from './speeds-harness.js';

const POP = [0.5, 0.3, 0.2];

function pickCkpt(r: () => number, pop = POP): number {
  let x = r();
  let c = 0;
  while (c < pop.length - 1 && x >= pop[c]!) x -= pop[c++]!;
  return c;
}

function tasks(count: number, seed: number, make: (r: () => number, i: number) => Omit<TrialTask, 'index' | 'arrival' | 'key'>, arrivals?: { rate: number }): TrialTask[] {
  const r = rng(seed);
  let at = 0;
  return Array.from({ length: count }, (_, index) => {
    const t = make(r, index);
    if (arrivals && index > 0) at += -Math.log(1 - r()) / arrivals.rate;
    return { ...t, index, key: `key-${1 + Math.floor(r() * 3)}`, arrival: arrivals ? at : 0 };
  });
}

/** Poisson arrivals at `load` of the fleet's capacity (units/s summed), for tasks made by `make`. */
function poisson(count: number, seed: number, nodes: TrialNode[], speed: number, load: number, make: Parameters<typeof tasks>[2]): TrialTask[] {
  const sample = tasks(count, seed, make);
  const meanUnits = sample.reduce((s, t) => s + unitsOf(t), 0) / count;
  const capacity = nodes.reduce((s, n) => s + n.itPerSecond * speed, 0);
  return tasks(count, seed, make, { rate: (load * capacity) / meanUnits });
}

// 1. Turbo GPUs: 2–4 steps at 40–100 it/s = 0.02–0.1 s a task, loads 0.2 s.
const turboFleet = (prefetch?: number): TrialNode[] => [
  { name: 'turbo-a', itPerSecond: 100, switchSeconds: 0.2, holds: [0, 1, 2], prefetch },
  { name: 'turbo-b', itPerSecond: 60, switchSeconds: 0.2, holds: [0, 1], prefetch },
  { name: 'turbo-c', itPerSecond: 60, switchSeconds: 0.2, holds: [1, 2], prefetch },
  { name: 'turbo-d', itPerSecond: 40, switchSeconds: 0.2, holds: [0, 2], prefetch },
];
const turboTask = (r: () => number) => ({ ckpt: pickCkpt(r), steps: 2 + Math.floor(r() * 3), side: 512 });
/** The same work (2–4 units) at 64², 40–80 steps: no PNG encoding worth the name (isolates HTTP / gateway / node overhead). */
const turbo64Task = (r: () => number) => ({ ckpt: pickCkpt(r), steps: 40 + Math.floor(r() * 41), side: 64 });

// 2. Very mixed fleet: three 20 it/s nodes loading in 2 s, one 1.5 it/s (13× slower), one 20 it/s whose loads take 30 s.
const mixedFleet: TrialNode[] = [
  { name: 'mix-fast-1', itPerSecond: 20, switchSeconds: 2, holds: [0, 1, 2] },
  { name: 'mix-fast-2', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'mix-fast-3', itPerSecond: 20, switchSeconds: 2, holds: [1, 2] },
  { name: 'mix-slow', itPerSecond: 1.5, switchSeconds: 2, holds: [0, 1, 2] },
  { name: 'mix-hdd', itPerSecond: 20, switchSeconds: 30, holds: [0, 1, 2] },
];
const mixedTask = (r: () => number) => ({ ckpt: pickCkpt(r), steps: 15 + Math.floor(r() * 26), side: 512 });

// 3. Big tasks: 1024² of 45–90 steps at 4 it/s (30–61 s) among 512² of 4–10 steps (1–2.5 s), 25 % big.
const bigFleet: TrialNode[] = [
  { name: 'big-a', itPerSecond: 4, switchSeconds: 3, holds: [0, 1] },
  { name: 'big-b', itPerSecond: 4, switchSeconds: 3, holds: [0, 1] },
  { name: 'big-c', itPerSecond: 4, switchSeconds: 3, holds: [0, 1] },
  { name: 'big-d', itPerSecond: 4, switchSeconds: 3, holds: [0, 1] },
];
const bigTask = (r: () => number) => (r() < 0.2 ? { ckpt: r() < 0.7 ? 0 : 1, steps: 45 + Math.floor(r() * 46), side: 1024 } : { ckpt: r() < 0.7 ? 0 : 1, steps: 4 + Math.floor(r() * 7), side: 512 });

// 4. Churn: 4 desktop nodes (1–2 s tasks, 2 s loads); one agent killed at +12 s, one node joins at +20 s.
const churnFleet = (signal: 'SIGKILL' | 'SIGTERM'): TrialNode[] => [
  { name: 'churn-a', itPerSecond: 20, switchSeconds: 2, holds: [0, 1, 2] },
  { name: 'churn-b', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'churn-c', itPerSecond: 20, switchSeconds: 2, holds: [1, 2] },
  { name: 'churn-gone', itPerSecond: 20, switchSeconds: 2, holds: [0, 2], killAt: 12, killSignal: signal },
  { name: 'churn-new', itPerSecond: 20, switchSeconds: 2, holds: [0, 1, 2], joinAt: 20 },
];
const churnTask = (r: () => number) => ({ ckpt: pickCkpt(r), steps: 20 + Math.floor(r() * 21), side: 512 });

// 5a. A node whose GPU drops from 20 to 4 it/s at +15 s (thermal throttling, a game started on it).
const dropFleet: TrialNode[] = [
  { name: 'drop-a', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'drop-b', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'drop-c', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'drop-hot', itPerSecond: 20, switchSeconds: 2, holds: [0, 1], speedAt: [{ at: 15, itPerSecond: 4 }] },
];
// 5b. A node measured slow (1.5 it/s: another process had its GPU) that becomes fast (20 it/s) as the run starts.
const upFleet: TrialNode[] = [
  { name: 'up-a', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'up-b', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'up-c', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'up-freed', itPerSecond: 1.5, switchSeconds: 2, holds: [0, 1], speedAt: [{ at: 0, itPerSecond: 20 }] },
];
// 5c. A node whose process stops for 12 s mid-run (a laptop asleep, a paused VM), its WebUI working on: the
// task it ran then takes 20 s more than its GPU did, and the gateway must not take that for its speed.
const pauseFleet: TrialNode[] = [
  { name: 'pause-a', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'pause-b', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'pause-c', itPerSecond: 20, switchSeconds: 2, holds: [0, 1] },
  { name: 'pause-asleep', itPerSecond: 20, switchSeconds: 2, holds: [0, 1], pauseAt: { at: 8, seconds: 12 } },
];
const dropTask = (r: () => number) => ({ ckpt: r() < 0.7 ? 0 : 1, steps: 20 + Math.floor(r() * 21), side: 512 });

// 6. A burst where one checkpoint (20 % of tasks) is held by every node but loaded by none.
const starveFleet: TrialNode[] = ['a', 'b', 'c', 'd'].map((x) => ({ name: `starve-${x}`, itPerSecond: 20, switchSeconds: 2, holds: [0, 1] }));
const starveTask = (r: () => number) => ({ ckpt: r() < 0.8 ? 0 : 1, steps: 20 + Math.floor(r() * 21), side: 512 });

const scenarios: Record<string, () => Scenario> = {
  turbo: () => ({ name: 'turbo', speed: 1, nodes: turboFleet(), warmup: tasks(200, 7, turboTask), tasks: tasks(1000, 1, turboTask) }),
  turbo64: () => ({ name: 'turbo64', speed: 1, nodes: turboFleet(), warmup: tasks(200, 7, turbo64Task), tasks: tasks(1000, 1, turbo64Task) }),
  'turbo64-p0': () => ({ name: 'turbo64-p0', speed: 1, nodes: turboFleet(0), warmup: tasks(200, 7, turbo64Task), tasks: tasks(1000, 1, turbo64Task) }),
  'turbo64-poisson': () => ({ name: 'turbo64-poisson', speed: 1, nodes: turboFleet(), warmup: tasks(200, 7, turbo64Task), tasks: poisson(1000, 1, turboFleet(), 1, 0.8, turbo64Task) }),
  'turbo-cold': () => ({ name: 'turbo-cold', speed: 1, nodes: turboFleet(), tasks: tasks(1000, 1, turboTask) }),
  'turbo-p0': () => ({ name: 'turbo-p0', speed: 1, nodes: turboFleet(0), warmup: tasks(200, 7, turboTask), tasks: tasks(1000, 1, turboTask) }),
  'turbo-p2': () => ({ name: 'turbo-p2', speed: 1, nodes: turboFleet(2), warmup: tasks(200, 7, turboTask), tasks: tasks(1000, 1, turboTask) }),
  'turbo-poisson': () => ({ name: 'turbo-poisson', speed: 1, nodes: turboFleet(), warmup: tasks(200, 7, turboTask), tasks: poisson(1000, 1, turboFleet(), 1, 0.8, turboTask) }),
  mixed: () => ({ name: 'mixed', speed: 1, nodes: mixedFleet, warmup: tasks(30, 7, mixedTask), tasks: tasks(150, 1, mixedTask) }),
  'mixed-cold': () => ({ name: 'mixed-cold', speed: 1, nodes: mixedFleet, tasks: tasks(150, 1, mixedTask) }),
  'mixed-poisson': () => ({ name: 'mixed-poisson', speed: 1, nodes: mixedFleet, warmup: tasks(30, 7, mixedTask), tasks: poisson(150, 1, mixedFleet, 1, 0.8, mixedTask) }),
  big: () => ({ name: 'big', speed: 1, nodes: bigFleet, warmup: [...tasks(8, 7, () => ({ ckpt: 0, steps: 6, side: 512 })), ...tasks(4, 8, () => ({ ckpt: 0, steps: 20, side: 1024 }))], tasks: poisson(60, 3, bigFleet, 1, 0.9, bigTask), pollMs: 2000 }),
  'big-burst': () => ({ name: 'big-burst', speed: 1, nodes: bigFleet, warmup: [...tasks(8, 7, () => ({ ckpt: 0, steps: 6, side: 512 })), ...tasks(4, 8, () => ({ ckpt: 0, steps: 20, side: 1024 }))], tasks: tasks(40, 3, bigTask), pollMs: 2000 }),
  churn: () => ({ name: 'churn', speed: 1, nodes: churnFleet('SIGKILL'), warmup: tasks(20, 7, churnTask), tasks: tasks(120, 1, churnTask) }),
  'churn-drain': () => ({ name: 'churn-drain', speed: 1, nodes: churnFleet('SIGTERM'), warmup: tasks(20, 7, churnTask), tasks: tasks(120, 1, churnTask) }),
  starve: () => ({ name: 'starve', speed: 1, nodes: starveFleet, warmup: tasks(12, 7, () => ({ ckpt: 0, steps: 30, side: 512 })), tasks: tasks(120, 1, starveTask), pollMs: 2000 }),
  'speed-up': () => ({ name: 'speed-up', speed: 1, nodes: upFleet, warmup: tasks(24, 7, dropTask), tasks: poisson(120, 1, upFleet.map((n) => ({ ...n, itPerSecond: 20 })), 1, 0.6, dropTask) }),
  pause: () => ({ name: 'pause', speed: 1, nodes: pauseFleet, warmup: tasks(20, 7, dropTask), tasks: tasks(160, 1, dropTask), pollMs: 2000 }),
  'speed-drop': () => ({ name: 'speed-drop', speed: 1, nodes: dropFleet, warmup: tasks(20, 7, dropTask), tasks: tasks(120, 1, dropTask), pollMs: 2000 }),
};

const wanted = process.argv.slice(2);
if (wanted.length === 0 || wanted.some((w) => !scenarios[w])) {
  console.error(`usage: node --import tsx bench/speeds.ts <${Object.keys(scenarios).join('|')}> …`);
  process.exit(2);
}
for (const name of wanted) console.log(await runScenario(scenarios[name]!()));
