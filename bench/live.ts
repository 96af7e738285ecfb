/**
 * The scheduler in a real network: `npm run bench:live`.
 *
 * Real processes: one gateway (built CLI, SQLite in a temp dir, its log in a
 * file), and per GPU of the trace (bench/live-trace.ts) a sandbox with that
 * GPU's speed and checkpoints plus a node agent (`dan node`). This process is
 * the client: it submits the tasks over HTTP (async) and waits for them.
 * Times: submits on the client's clock; each task's dispatch ('task assigned')
 * and end ('task succeeded') from the gateway's log, on the same machine clock.
 *
 * Per time scale ("fast GPUs": loads 0.5 s, tasks 0.06–0.5 s; "desktop GPUs":
 * loads 5 s, tasks 0.6–5 s), on fresh processes:
 * 1. cold, all at once: no node has run a task, the gateway knows no cost;
 * 2. warm, all at once: the same trace again on the same network;
 * 3. warm, Poisson arrivals at 80 % of capacity.
 * Each run reports its makespan against the lower bound and against
 * round-robin and earliest-free FIFO simulated on the same trace, waits, ETA
 * accuracy (the ETA the async submit answered against the actual wait; within
 * max(25 %, 1 s)), switches, and the longest time a node stood idle while a
 * task it could run waited (judged against one load time).
 *
 * Knobs: BENCH_SCALES=fast,desktop  BENCH_TASKS_FAST=300  BENCH_TASKS_DESKTOP=160
 *        BENCH_PREFETCH=n (each node's `--prefetch`; default the node's own, 1)
 *        BENCH_WRITE=1|0 (default 1: BENCHMARKS.md)  BENCH_KEEP_LOGS=dir (every process's log, per scale;
 *        and, printed, each stretch of half a load or more a node stood idle beside work, with that work)
 */
import { makeBenchKeys } from './bench-keys.js';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { writeBenchSection } from './benchmarks-file.js';
import {
  FLEET,
  type LiveScale,
  type LiveTask,
  makespanBoundSeconds,
  makeTasks,
  requestOf,
  SCALES,
  simulatedMakespan,
  SWITCH_SECONDS,
  withPoissonArrivals,
} from './live-trace.js';
import { type QuietProcess, startQuiet } from './quiet-process.js';
import { longestStretch, spreadOf } from './schedule-stats.js';

interface Submitted {
  task: LiveTask;
  taskId: string;
  submittedAt: number;
  /** Seconds to its start, as the submit answered (0 when it was sent at once). */
  eta: number | null;
}

interface RunFigures {
  label: string;
  tasks: number;
  makespan: number;
  bound: number;
  /** The bound with the sandbox's fixed cost per task counted (calibrated before the runs). */
  boundWithFixed: number;
  /** The sandbox's fixed cost per task it was calibrated with. */
  fixedSeconds: number;
  roundRobin: number;
  fifo: number;
  waits: ReturnType<typeof spreadOf>;
  etaWithin: number;
  switches: number;
  /** Longest stretch a node stood idle while a task it could run waited, seconds. */
  idleWithWork: number;
  /** Such stretches of half a load or more, a line each, for kept runs (`idleReport`). */
  idleReport: string[];
  /**
   * The share of the makespan the GPUs held their WebUI's queue lock (loading or sampling, as the sandbox
   * counts it), over all nodes: what is left is time a GPU had nothing to do.
   */
  gpuBusy: number;
  loadSeconds: number;
  /** What the gateway measured on each node after the run (GET /api/nodes). */
  measured: { name: string; itPerSecond: number | null; fixedSeconds: number | null; switchSeconds: number | null }[];
}

interface Network {
  gateway: string;
  logFile: string;
  /** Each trace key's secret (bench-keys.ts). */
  keys: Map<string, string>;
  /** The sandbox's own cost per 512² task beyond its modelled time, measured on an idle sandbox (wall seconds). */
  fixedSeconds: number;
  /** Each GPU's sandbox URL. */
  webuis: string[];
  stop(): Promise<void>;
}

async function startNetwork(scale: LiveScale, dir: string): Promise<Network> {
  const processes: QuietProcess[] = [];
  const webuis: string[] = [];
  const keys = await makeBenchKeys(join(dir, 'data'), ['key-1', 'key-2', 'key-3']);
  const port = await freePort();
  const gateway = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'gateway.log');
  processes.push(
    await startQuiet(['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir, 'data'), '--log-level', 'debug'], {
      logFile,
      readyUrl: `${gateway}/api/health`,
    }),
  );
  for (const node of FLEET) {
    const config = join(dir, `${node.name}.json`);
    const models = node.holds.map((c) => ({ fileName: `${c.name}.safetensors`, sha256: c.ref.id }));
    writeFileSync(config, JSON.stringify({ models, loadedModel: models[0]!.fileName }));
    const sandboxPort = await freePort();
    const webui = `http://127.0.0.1:${sandboxPort}`;
    webuis.push(webui);
    const sandboxArgs = ['sandbox', '--port', String(sandboxPort), '--speed', String(scale.speed), '--config', config, '--it-per-second', String(node.itPerSecond), '--switch-seconds', String(SWITCH_SECONDS)];
    processes.push(await startQuiet(sandboxArgs, { logFile: join(dir, `${node.name}-sandbox.log`), readyUrl: `${webui}/sdapi/v1/options` }));
    // A node has no port of its own: it is ready once the gateway lists it (below).
    const prefetch = process.env['BENCH_PREFETCH'] ? ['--prefetch', process.env['BENCH_PREFETCH']] : [];
    processes.push(await startQuiet(['node', '--gateway', gateway, '--webui', webui, '--name', node.name, ...prefetch], { logFile: join(dir, `${node.name}.log`), readyUrl: `${webui}/sdapi/v1/options` }));
  }
  await waitFor(async () => ((await getJson(`${gateway}/api/nodes`)).data as unknown[]).length === FLEET.length, 30_000, 'every node connected');
  const fixedSeconds = await calibrateFixedSeconds(scale, dir);
  const stop = async (): Promise<void> => {
    for (const p of processes.reverse()) await p.stop();
  };
  return { gateway, logFile, keys, fixedSeconds, webuis, stop };
}

/**
 * What a 512² task costs a sandbox beyond its modelled sampling time (it renders and encodes a real
 * PNG, as a WebUI runs the VAE and encodes one): the least excess over a few direct requests to a
 * sandbox of its own, before any load. Under load it only grows, so the bound built on it stays a bound.
 */
async function calibrateFixedSeconds(scale: LiveScale, dir: string): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const itPerSecond = 20;
  const sandbox = await startQuiet(['sandbox', '--port', String(port), '--speed', String(scale.speed), '--it-per-second', String(itPerSecond)], {
    logFile: join(dir, 'calibration-sandbox.log'),
    readyUrl: `${url}/sdapi/v1/options`,
  });
  try {
    let least = Infinity;
    for (const steps of [15, 40, 15, 40, 15, 40]) {
      const started = performance.now();
      const response = await fetch(`${url}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', steps, width: 512, height: 512, sampler_name: 'Euler a' }) });
      await response.arrayBuffer();
      least = Math.min(least, (performance.now() - started) / 1000 - steps / itPerSecond / scale.speed);
    }
    return Math.max(0, least);
  } finally {
    await sandbox.stop();
  }
}

/** Milliseconds the GPUs' sandboxes have held their queue lock, summed. */
async function busyMs(network: Network): Promise<number> {
  const stats = await Promise.all(network.webuis.map(async (url) => (await (await fetch(`${url}/sandbox/stats`)).json()) as { busyMs: number }));
  return stats.reduce((sum, s) => sum + s.busyMs, 0);
}

async function getJson(url: string): Promise<{ code: number; data: unknown }> {
  return (await (await fetch(url)).json()) as { code: number; data: unknown };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function submit(network: Network, task: LiveTask): Promise<Submitted> {
  const submittedAt = Date.now();
  const authorization = `Bearer ${network.keys.get(task.apiKey)}`;
  const response = await fetch(`${network.gateway}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(requestOf(task)) });
  const body = (await response.json()) as { code: number; data: { taskId: string; status: number; eta?: number | null } };
  if (body.code !== 200) throw new Error(`submit refused: ${JSON.stringify(body)}`);
  const { taskId, status, eta } = body.data;
  return { task, taskId, submittedAt, eta: status === 0 ? (eta ?? null) : 0 };
}

/** Submits every task at its arrival (modelled seconds ÷ speed after the first), then waits until the gateway has none left. */
async function play(network: Network, tasks: readonly LiveTask[], speed: number): Promise<Submitted[]> {
  const start = Date.now();
  const pending: Promise<Submitted>[] = [];
  for (const task of tasks) {
    const due = start + (task.arrivalSeconds * 1000) / speed;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(submit(network, task));
  }
  const submitted = await Promise.all(pending);
  await waitFor(async () => {
    const health = (await getJson(`${network.gateway}/api/health`)).data as { queued: number; running: number };
    return health.queued === 0 && health.running === 0;
  }, 30 * 60_000, 'the queue to drain');
  return submitted;
}

interface LogEvent {
  time: number;
  msg: string;
  task?: string;
  node?: string;
  switched?: boolean;
}

function readLog(file: string): LogEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogEvent);
}

function figuresOf(label: string, scale: LiveScale, submitted: readonly Submitted[], events: readonly LogEvent[], trace: readonly LiveTask[], fixedSeconds: number): Omit<RunFigures, 'measured' | 'gpuBusy'> {
  const ids = new Set(submitted.map((s) => s.taskId));
  const assigned = new Map<string, LogEvent>();
  const succeeded = new Map<string, LogEvent>();
  for (const event of events) {
    if (!event.task || !ids.has(event.task)) continue;
    if (event.msg === 'task assigned' && !assigned.has(event.task)) assigned.set(event.task, event);
    if (event.msg === 'task succeeded') succeeded.set(event.task, event);
  }
  const began = beganAt(submitted, assigned, succeeded);
  const idle = idleBesideWork(submitted, assigned, began, succeeded);
  const firstSubmit = Math.min(...submitted.map((s) => s.submittedAt));
  const lastEnd = Math.max(...[...succeeded.values()].map((e) => e.time));
  const waits = submitted.map((s) => (began.get(s.taskId)! - s.submittedAt) / 1000);
  const within = submitted.filter((s, i) => s.eta !== null && Math.abs(s.eta - waits[i]!) <= Math.max(0.25 * waits[i]!, 1)).length;
  const toWall = (modelled: number) => modelled / scale.speed;
  return {
    label,
    tasks: submitted.length,
    makespan: (lastEnd - firstSubmit) / 1000,
    bound: toWall(makespanBoundSeconds(trace)),
    boundWithFixed: toWall(makespanBoundSeconds(trace, fixedSeconds * scale.speed)),
    fixedSeconds,
    roundRobin: toWall(simulatedMakespan('baseline', trace)),
    fifo: toWall(simulatedMakespan('fifo', trace)),
    waits: spreadOf(waits),
    etaWithin: within / submitted.length,
    switches: [...assigned.values()].filter((e) => e.switched).length,
    idleWithWork: Math.max(0, ...idle.map((s) => (s.to - s.from) / 1000)),
    loadSeconds: toWall(SWITCH_SECONDS),
    idleReport: idleReport(idle, toWall(SWITCH_SECONDS), firstSubmit, assigned, began),
  };
}

/** The tasks sent to the GPU named `name`, in the order they were sent (the order they ran: one slot each). */
function sentTo(name: string, submitted: readonly Submitted[], assigned: Map<string, LogEvent>): Submitted[] {
  return submitted.filter((s) => assigned.get(s.taskId)!.node!.startsWith(`${name}-`)).sort((a, b) => assigned.get(a.taskId)!.time - assigned.get(b.taskId)!.time);
}

/**
 * When each task began on its node (epoch ms): when it was sent, or, for one sent ahead to wait behind the
 * node's running task (`dan node --prefetch`), when that one's result came. Every node of the trace has
 * one slot, so its tasks run in the order they were sent.
 */
function beganAt(submitted: readonly Submitted[], assigned: Map<string, LogEvent>, succeeded: Map<string, LogEvent>): Map<string, number> {
  const began = new Map<string, number>();
  for (const node of FLEET) {
    const mine = sentTo(node.name, submitted, assigned);
    let freeAt = -Infinity;
    for (const { taskId } of mine) {
      began.set(taskId, Math.max(assigned.get(taskId)!.time, freeAt));
      freeAt = succeeded.get(taskId)?.time ?? freeAt;
    }
  }
  return began;
}

/** A stretch over which a node stood idle while tasks it could run waited (queued, or held on another node). */
interface IdleStretch {
  node: string;
  /** Epoch ms. */
  from: number;
  to: number;
  waiting: readonly Submitted[];
}

/**
 * Per node, the gaps between the end of one of its tasks (or the first submit) and when its next began;
 * within a gap, the longest stretch during which a task it could run was waiting, and those tasks.
 */
function idleBesideWork(submitted: readonly Submitted[], assigned: Map<string, LogEvent>, began: Map<string, number>, succeeded: Map<string, LogEvent>): IdleStretch[] {
  const firstSubmit = Math.min(...submitted.map((s) => s.submittedAt));
  const found: IdleStretch[] = [];
  for (const node of FLEET) {
    const mine = sentTo(node.name, submitted, assigned);
    const capable = submitted.filter((s) => node.holds.includes(s.task.checkpoint));
    let freeAt = firstSubmit;
    for (const next of [...mine, null]) {
      const busyAt = next ? began.get(next.taskId)! : Infinity;
      // Each task it could run waited over [its submit, its start]: the node stood idle beside work over
      // the union of those within the gap, and the longest stretch of that union counts (a gap in which one
      // task waited at its start and another at its end was not idle beside work in between).
      const spans = capable.map((s) => ({ task: s, from: Math.max(freeAt, s.submittedAt), to: Math.min(busyAt, began.get(s.taskId)!) }));
      const longest = longestStretch(spans);
      if (longest) found.push({ node: node.name, ...longest, waiting: spans.filter((w) => w.to > w.from && w.from < longest.to && w.to > longest.from).map((w) => w.task) });
      if (next) freeAt = succeeded.get(next.taskId)?.time ?? busyAt;
    }
  }
  return found;
}

/**
 * The idle stretches of at least half a load, for a run kept with BENCH_KEEP_LOGS: when, and each task that
 * waited meanwhile, where it went (held ready on a node before the stretch ended, or sent later).
 */
function idleReport(stretches: readonly IdleStretch[], loadSeconds: number, firstSubmit: number, assigned: Map<string, LogEvent>, began: Map<string, number>): string[] {
  const at = (ms: number) => f1((ms - firstSubmit) / 1000);
  return stretches
    .filter((s) => s.to - s.from >= (loadSeconds * 1000) / 2)
    .sort((a, b) => a.from - b.from)
    .map((s) => {
      const waiting = s.waiting.map((w) => {
        const sent = assigned.get(w.taskId)!;
        const where = `${sent.node!.replace(/-[0-9a-f]+$/, '')}${sent.time < s.to ? ' (held there)' : ''}`;
        return `${w.task.checkpoint.name} ${at(w.submittedAt)}→${at(began.get(w.taskId)!)} on ${where}`;
      });
      return `  ${s.node} idle ${at(s.from)}–${at(s.to)} s (${f1((s.to - s.from) / 1000)} s) beside: ${waiting.join('; ')}`;
    });
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

function toMarkdown(runs: readonly { scale: LiveScale; figures: RunFigures[] }[], command: string): string {
  const lines = [
    '## Scheduler in a live network',
    '',
    `Command: \`${command}\` (${new Date().toISOString().slice(0, 10)}; 2 cores, Node ${process.version}). A real gateway, and per GPU a sandbox and a \`dan node\` agent: ${FLEET.map((n) => `${n.name} ${n.itPerSecond} it/s (${n.holds.map((c) => c.name).join(', ')})`).join('; ')}. 512² txt2img of 15–40 steps, checkpoints 50/30/20 %, a load costs ${SWITCH_SECONDS} modelled s. Submitted over HTTP (async) by this process; dispatch and end times from the gateway's log (each node holds ${process.env['BENCH_PREFETCH'] ?? 1} task(s) ready behind its running one, \`--prefetch\`: such a task begins when the one before it ends). Round-robin (the original deployment) and earliest-free FIFO are simulated on the same trace with the sandbox's time model (no HTTP, no fixed costs). Seconds are wall seconds.`,
    '',
  ];
  for (const { scale, figures } of runs) {
    lines.push(`### ${scale.name === 'fast' ? 'Fast GPUs' : 'Desktop GPUs'} (sandbox speed ${scale.speed}: a load takes ${f1(SWITCH_SECONDS / scale.speed)} s)`, '');
    const fixedMs = Math.round((figures[0]?.fixedSeconds ?? 0) * 1000);
    lines.push(
      `The sandbox's own cost per task beyond its modelled time (rendering and encoding the PNG, HTTP) is ${fixedMs} ms on an idle sandbox; "÷ bound + fixed" counts it on every task (a node that holds the next task ready hides most of it behind the next generation: then it is below 1). "GPUs busy": the share of the makespan the sandboxes held their queue lock (loads and sampling, on their own clock, so a timer that fires late on a busy CPU counts as busy), over all GPUs.`,
      '',
    );
    lines.push('| run | tasks | makespan s | ÷ bound | ÷ bound + fixed | ÷ round-robin | ÷ FIFO | GPUs busy | wait p50 / p95 / p99 / max s | ETA within 25 % or 1 s | switches | longest idle with work s (÷ load) |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of figures) {
      const w = r.waits;
      // Under Poisson arrivals the makespan follows the arrivals: only waits and ETAs say something.
      const ratio = (reference: number) => (r.label.includes('Poisson') ? '–' : `${f2(r.makespan / reference)} (${f1(reference)})`);
      lines.push(
        `| ${r.label} | ${r.tasks} | ${f1(r.makespan)} | ${ratio(r.bound)} | ${ratio(r.boundWithFixed)} | ${ratio(r.roundRobin)} | ${ratio(r.fifo)} | ${(r.gpuBusy * 100).toFixed(0)} % | ${f1(w.p50)} / ${f1(w.p95)} / ${f1(w.p99)} / ${f1(w.max)} | ${(r.etaWithin * 100).toFixed(0)} % | ${r.switches} | ${f1(r.idleWithWork)} (${f2(r.idleWithWork / r.loadSeconds)}) |`,
      );
    }
    const last = figures.at(-1);
    if (last) {
      const truth = (name: string) => (FLEET.find((n) => n.name === name)?.itPerSecond ?? 0) * scale.speed;
      const nodes = last.measured.map((n) => `${n.name} ${n.itPerSecond ?? '?'} it/s (sandbox: ${f1(truth(n.name))}) + ${n.fixedSeconds ?? '?'} s per task, loads ${n.switchSeconds ?? '?'} s`);
      lines.push('', `Costs the gateway measured by the end: ${nodes.join('; ')}.`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

async function runScale(scale: LiveScale): Promise<RunFigures[]> {
  const dir = tempDir();
  mkdirSync(join(dir.path, 'data'), { recursive: true });
  const network = await startNetwork(scale, dir.path);
  const figures: RunFigures[] = [];
  try {
    const burst = makeTasks(scale.taskCount);
    const poisson = withPoissonArrivals(burst, 0.8);
    for (const [label, trace] of [['cold, all at once', burst], ['warm, all at once', burst], ['warm, Poisson 80 %', poisson]] as const) {
      console.error(`${scale.name}: ${label} (${trace.length} tasks)`);
      const busyBefore = await busyMs(network);
      const submitted = await play(network, trace, scale.speed);
      const busy = (await busyMs(network)) - busyBefore;
      const measured = (await getJson(`${network.gateway}/api/nodes`)).data as RunFigures['measured'];
      const found = figuresOf(label, scale, submitted, readLog(network.logFile), trace, network.fixedSeconds);
      const run = { ...found, gpuBusy: busy / 1000 / (network.webuis.length * found.makespan), measured };
      console.error(`  makespan ${f1(run.makespan)} s = ${f2(run.makespan / run.bound)} × bound, ${f2(run.makespan / run.roundRobin)} × round-robin; ETA ok ${(run.etaWithin * 100).toFixed(0)} %`);
      // Kept runs are for looking into: where a node stood idle beside work, and what that work was.
      if (process.env['BENCH_KEEP_LOGS']) for (const line of run.idleReport) console.error(line);
      figures.push(run);
    }
  } finally {
    await network.stop();
    const keep = process.env['BENCH_KEEP_LOGS'];
    if (keep) cpSync(dir.path, join(keep, scale.name), { recursive: true });
    dir.remove();
  }
  return figures;
}

async function main(): Promise<void> {
  const wanted = (process.env['BENCH_SCALES'] ?? 'fast,desktop').split(',');
  const scales = SCALES.filter((s) => wanted.includes(s.name)).map((s) => {
    const count = Number(process.env[`BENCH_TASKS_${s.name.toUpperCase()}`] ?? s.taskCount);
    return { ...s, taskCount: count };
  });
  const runs: { scale: LiveScale; figures: RunFigures[] }[] = [];
  for (const scale of scales) runs.push({ scale, figures: await runScale(scale) });
  const standard = scales.length === SCALES.length && scales.every((s, i) => s.taskCount === SCALES[i]!.taskCount) && !process.env['BENCH_PREFETCH'];
  const changed = scales.filter((s) => s.taskCount !== SCALES.find((d) => d.name === s.name)?.taskCount);
  const knobs = [
    process.env['BENCH_SCALES'] ? `BENCH_SCALES=${process.env['BENCH_SCALES']}` : '',
    process.env['BENCH_PREFETCH'] ? `BENCH_PREFETCH=${process.env['BENCH_PREFETCH']}` : '',
    ...changed.map((s) => `BENCH_TASKS_${s.name.toUpperCase()}=${s.taskCount}`),
  ];
  const command = [...knobs.filter(Boolean), 'npm run bench:live'].join(' ');
  const section = toMarkdown(runs, command);
  console.log(section);
  if ((process.env['BENCH_WRITE'] ?? (standard ? '1' : '0')) === '1') writeBenchSection('live', section);
}

await main();
