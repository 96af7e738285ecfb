/**
 * Live trials of the scheduler at unusual speeds: a real gateway (built CLI, SQLite, debug JSON log in a
 * file), per GPU a trial sandbox (bench/speeds-sandbox.mjs: `dan sandbox` plus a route to change its speed)
 * and a `dan node` agent. Nodes may join late, be killed (SIGKILL: a crash; SIGTERM: a drain), or change
 * speed mid-run. Tasks go in over HTTP (async); dispatch / end times come from the gateway's log, as in
 * bench/live.ts. Reports makespan against lower bounds (capacity over time, per set of checkpoints, with
 * and without the sandbox's calibrated fixed cost per task), per-node idle time beside work it could run,
 * ETA errors (submit answer, and status polls), lost / duplicated tasks (sandbox job counts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogModels } from '../src/domain/catalog.js';
import { makeBenchKeys } from './bench-keys.js';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { type QuietProcess, startQuiet } from './quiet-process.js';
import { longestCovered, percentile } from './schedule-stats.js';
import { cpuSecondsOf } from './process-cpu.js';

const SANDBOX = fileURLToPath(new URL('./speeds-sandbox.mjs', import.meta.url));

export const CKPTS = catalogModels.slice(0, 4).map((m) => ({ name: m.name, sha256: m.sha256, file: `${m.name}.safetensors` }));

export interface TrialNode {
  name: string;
  itPerSecond: number;
  /** Default load time (modelled s) on this node. */
  switchSeconds: number;
  /** Checkpoint indices (CKPTS); the first is loaded at start. */
  holds: number[];
  prefetch?: number;
  /** Wall seconds after the run's start when the node is started (absent: before the run). */
  joinAt?: number;
  /** Wall seconds after the run's start when its agent is killed, and how. */
  killAt?: number;
  killSignal?: 'SIGKILL' | 'SIGTERM';
  /** Wall seconds after the run's start when its GPU speed changes. */
  speedAt?: { at: number; itPerSecond: number }[];
  /**
   * Wall seconds after the run's start when its agent's process is stopped (SIGSTOP: a laptop asleep, a
   * paused VM), and for how long before it goes on (SIGCONT). Its WebUI goes on working meanwhile.
   */
  pauseAt?: { at: number; seconds: number };
}

export interface TrialTask {
  index: number;
  ckpt: number;
  steps: number;
  side: number;
  key: string;
  /** Wall seconds after the run's start. */
  arrival: number;
}

export interface Scenario {
  name: string;
  speed: number;
  nodes: TrialNode[];
  tasks: TrialTask[];
  /** Tasks run (and waited for) before the measured run, so the gateway has measured costs. */
  warmup?: TrialTask[];
  /** Wall seconds to sleep between the warm-up and the run. */
  pauseAfterWarmup?: number;
  /** Poll every queued task's status this often (ms) and keep (time, position, eta). */
  pollMs?: number;
  gatewayArgs?: string[];
}

export const unitsOf = (t: { steps: number; side: number }) => t.steps * ((t.side * t.side) / (512 * 512)) ** 0.72;

interface Running {
  spec: TrialNode;
  webui: string;
  sandbox: ChildProcess;
  agent?: QuietProcess;
  /** Epoch ms when the gateway listed it, and when its agent was killed. */
  connectedAt?: number;
  killedAt?: number;
  /** Epoch ms when its agent was stopped and went on (`TrialNode.pauseAt`). */
  pausedFrom?: { from: number; to: number };
}

interface Submitted {
  task: TrialTask;
  taskId: string;
  submittedAt: number;
  eta: number | null;
}

interface LogEvent {
  time: number;
  msg: string;
  task?: string;
  node?: string;
  attempt?: number;
  switched?: boolean;
  elapsedMs?: number;
  tasks?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A key's secret for the harness's own GETs (anonymous callers are held to 120 requests a minute). */
let harnessKey: string | undefined;

async function getJson(url: string): Promise<{ code: number; data: unknown }> {
  const headers: Record<string, string> = harnessKey ? { authorization: `Bearer ${harnessKey}` } : {};
  const body = (await (await fetch(url, { headers })).json()) as { code: number; data: unknown };
  if (body.code !== 200) throw new Error(`${url}: ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function startSandbox(dir: string, spec: TrialNode, speed: number, loadedFirst = true): Promise<{ webui: string; child: ChildProcess }> {
  const config = join(dir, `${spec.name}.json`);
  const models = spec.holds.map((i) => ({ fileName: CKPTS[i]!.file, sha256: CKPTS[i]!.sha256 }));
  writeFileSync(config, JSON.stringify({ models, ...(loadedFirst ? { loadedModel: models[0]!.fileName } : {}) }));
  const port = await freePort();
  const webui = `http://127.0.0.1:${port}`;
  const fd = openSync(join(dir, `${spec.name}-sandbox.log`), 'a');
  const child = spawn(process.execPath, [SANDBOX, '--port', String(port), '--speed', String(speed), '--it-per-second', String(spec.itPerSecond), '--switch-seconds', String(spec.switchSeconds), '--config', config], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  await waitFor(async () => fetch(`${webui}/sdapi/v1/options`).then((r) => r.ok, () => false), 20_000, `sandbox ${spec.name}`);
  return { webui, child };
}

async function startAgent(dir: string, gateway: string, r: Running): Promise<void> {
  const prefetch = r.spec.prefetch === undefined ? [] : ['--prefetch', String(r.spec.prefetch)];
  r.agent = await startQuiet(['node', '--gateway', gateway, '--webui', r.webui, '--name', r.spec.name, '--key-file', join(dir, `${r.spec.name}.key`), ...prefetch], {
    logFile: join(dir, `${r.spec.name}.log`),
    readyUrl: `${r.webui}/sdapi/v1/options`,
  });
  children.add(r.agent.child);
}

async function nodeList(gateway: string): Promise<{ id: string; name: string; [k: string]: unknown }[]> {
  return (await getJson(`${gateway}/api/nodes`)).data as { id: string; name: string }[];
}

/** The sandbox's fixed cost per task of side `side` beyond its modelled time (least of a few), wall s. */
async function calibrate(dir: string, speed: number, side: number): Promise<number> {
  const spec: TrialNode = { name: `calibrate-${side}`, itPerSecond: 20, switchSeconds: 0, holds: [0] };
  const { webui, child } = await startSandbox(dir, spec, speed);
  try {
    let least = Infinity;
    for (const steps of [4, 10, 4, 10, 4, 10]) {
      const started = performance.now();
      const response = await fetch(`${webui}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', steps, width: side, height: side, sampler_name: 'Euler a' }) });
      await response.arrayBuffer();
      least = Math.min(least, (performance.now() - started) / 1000 - unitsOf({ steps, side }) / 20 / speed);
    }
    return Math.max(0, least);
  } finally {
    child.kill('SIGTERM');
  }
}

async function startQuietTracked(...args: Parameters<typeof startQuiet>): Promise<QuietProcess> {
  const p = await startQuiet(...args);
  children.add(p.child);
  return p;
}

export interface Result {
  text: string;
}

/** Every child process started, killed on exit whatever happens (a harness crash must leave none behind). */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

export async function runScenario(s: Scenario): Promise<string> {
  const dir = tempDir(`trial-${s.name}-`);
  mkdirSync(join(dir.path, 'data'), { recursive: true });
  const keyNames = [...new Set([...s.tasks, ...(s.warmup ?? [])].map((t) => t.key))];
  const keys = await makeBenchKeys(join(dir.path, 'data'), [...keyNames, 'harness']);
  harnessKey = keys.get('harness');
  const running: Running[] = [];
  let gatewayProcess: QuietProcess | undefined;
  const out: string[] = [];
  const say = (line: string) => {
    out.push(line);
    console.error(line);
  };
  try {
    const sides = [...new Set(s.tasks.map((t) => t.side))];
    const fixed = new Map<number, number>();
    for (const side of sides) fixed.set(side, await calibrate(dir.path, s.speed, side));
    const port = await freePort();
    const gateway = `http://127.0.0.1:${port}`;
    const logFile = join(dir.path, 'gateway.log');
    gatewayProcess = await startQuietTracked(['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir.path, 'data'), '--log-level', 'debug', ...(s.gatewayArgs ?? [])], { logFile, readyUrl: `${gateway}/api/health` });
    for (const spec of s.nodes) {
      const { webui, child } = await startSandbox(dir.path, spec, s.speed);
      const r: Running = { spec, webui, sandbox: child };
      running.push(r);
      if (spec.joinAt === undefined) await startAgent(dir.path, gateway, r);
    }
    const initial = running.filter((r) => r.spec.joinAt === undefined);
    await waitFor(async () => (await nodeList(gateway)).length === initial.length, 30_000, 'nodes connected');
    const t0list = Date.now();
    for (const r of initial) r.connectedAt = t0list;

    const submit = async (task: TrialTask): Promise<Submitted> => {
      const submittedAt = Date.now();
      const body = { prompt: `trial task ${task.index}`, model: CKPTS[task.ckpt]!.sha256, steps: task.steps, width: task.side, height: task.side, sampler_name: 'Euler a', seed: task.index };
      const response = await fetch(`${gateway}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.get(task.key)}` }, body: JSON.stringify(body) });
      const answer = (await response.json()) as { code: number; data: { taskId: string; status: number; eta?: number | null } };
      if (answer.code !== 200) throw new Error(`submit refused: ${JSON.stringify(answer)}`);
      return { task, taskId: answer.data.taskId, submittedAt, eta: answer.data.status === 0 ? (answer.data.eta ?? null) : 0 };
    };
    const drain = async () =>
      waitFor(async () => {
        const h = (await getJson(`${gateway}/api/health`)).data as { queued: number; running: number };
        return h.queued === 0 && h.running === 0;
      }, 15 * 60_000, 'the queue to drain');

    if (s.warmup?.length) {
      say(`warm-up: ${s.warmup.length} tasks`);
      await Promise.all(s.warmup.map((t) => submit(t)));
      await drain();
      if (s.pauseAfterWarmup) await sleep(s.pauseAfterWarmup * 1000);
    }
    const jobsBefore = await Promise.all(running.map(async (r) => ((await (await fetch(`${r.webui}/sandbox/stats`)).json()) as { jobs: number }).jobs));
    const busyBefore = await Promise.all(running.map(async (r) => ((await (await fetch(`${r.webui}/sandbox/stats`)).json()) as { busyMs: number }).busyMs));
    const logOffset = readFileSync(logFile, 'utf8').length;
    const cpuOf = () => ({
      gateway: cpuSecondsOf(gatewayProcess!.child.pid!),
      agents: running.reduce((sum, r) => sum + (r.agent && r.agent.child.exitCode === null && r.agent.child.signalCode === null ? cpuSecondsOf(r.agent.child.pid!) : 0), 0),
      sandboxes: running.reduce((sum, r) => sum + cpuSecondsOf(r.sandbox.pid!), 0),
    });
    const cpuBefore = cpuOf();

    // The run.
    const start = Date.now();
    const events: Promise<void>[] = [];
    for (const r of running) {
      if (r.spec.joinAt !== undefined) {
        events.push(
          (async () => {
            await sleep(r.spec.joinAt! * 1000);
            const before = (await nodeList(gateway)).length;
            const asked = Date.now();
            await startAgent(dir.path, gateway, r);
            await waitFor(async () => (await nodeList(gateway)).some((n) => n.name === r.spec.name), 30_000, `${r.spec.name} listed`);
            r.connectedAt = Date.now();
            say(`  ${r.spec.name} started at +${((asked - start) / 1000).toFixed(1)} s, listed at +${((r.connectedAt - start) / 1000).toFixed(1)} s (${before} nodes before)`);
          })(),
        );
      }
      if (r.spec.killAt !== undefined) {
        events.push(
          (async () => {
            await sleep(r.spec.killAt! * 1000);
            r.killedAt = Date.now();
            r.agent?.child.kill(r.spec.killSignal ?? 'SIGKILL');
            say(`  ${r.spec.name} agent ${r.spec.killSignal ?? 'SIGKILL'} at +${((r.killedAt - start) / 1000).toFixed(1)} s`);
          })(),
        );
      }
      const pause = r.spec.pauseAt;
      if (pause !== undefined) {
        events.push(
          (async () => {
            await sleep(pause.at * 1000);
            r.agent?.child.kill('SIGSTOP');
            const stoppedAt = Date.now();
            await sleep(pause.seconds * 1000);
            r.agent?.child.kill('SIGCONT');
            r.pausedFrom = { from: stoppedAt, to: Date.now() };
            say(`  ${r.spec.name} agent paused from +${((stoppedAt - start) / 1000).toFixed(1)} s to +${((Date.now() - start) / 1000).toFixed(1)} s`);
          })(),
        );
      }
      for (const change of r.spec.speedAt ?? []) {
        events.push(
          (async () => {
            await sleep(change.at * 1000);
            await fetch(`${r.webui}/trial/timing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ itPerSecond: change.itPerSecond }) });
            say(`  ${r.spec.name} speed → ${change.itPerSecond} it/s at +${((Date.now() - start) / 1000).toFixed(1)} s`);
          })(),
        );
      }
    }
    const pending: Promise<Submitted>[] = [];
    const polls: { at: number; taskId: string; status: number; position: number; eta: number | null }[] = [];
    let polling = true;
    // What the gateway believes of each node over the run (GET /api/nodes every 250 ms).
    const beliefs = new Map<string, number[]>();
    /** The same, with when each was read: the paused nodes' recovery. */
    const beliefsAt = new Map<string, { at: number; v: number }[]>();
    const believer = (async () => {
      while (polling) {
        await sleep(250);
        for (const n of await nodeList(gateway).catch(() => [] as Awaited<ReturnType<typeof nodeList>>)) {
          const v = n['itPerSecond'];
          if (typeof v !== 'number') continue;
          beliefs.set(n.name, [...(beliefs.get(n.name) ?? []), v]);
          beliefsAt.set(n.name, [...(beliefsAt.get(n.name) ?? []), { at: Date.now(), v }]);
        }
      }
    })();
    const submittedIds: string[] = [];
    const keyOf = new Map<string, string>();
    const poller = (async () => {
      if (!s.pollMs) return;
      while (polling) {
        await sleep(s.pollMs);
        try {
        const ids = [...submittedIds];
        for (const taskId of ids) {
          const at = Date.now();
          // A caller sees only its own tasks: each is asked with its own key.
          const r = (await (await fetch(`${gateway}/api/sd/task/status`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.get(keyOf.get(taskId)!)}` }, body: JSON.stringify({ taskId }) })).json()) as { code: number; data?: { status: number; queuePosition: number; eta?: number | null } };
          if (r.code === 200 && r.data && r.data.status === 0) polls.push({ at, taskId, status: r.data.status, position: r.data.queuePosition, eta: r.data.eta ?? null });
        }
        } catch (error) {
          console.error(`status poll failed: ${String(error)}`);
        }
      }
    })();
    for (const task of [...s.tasks].sort((a, b) => a.arrival - b.arrival)) {
      const wait = start + task.arrival * 1000 - Date.now();
      if (wait > 1) await sleep(wait);
      const p = submit(task);
      pending.push(p);
      void p.then((x) => {
        keyOf.set(x.taskId, x.task.key);
        submittedIds.push(x.taskId);
      });
    }
    const submitted = await Promise.all(pending);
    const submitsDone = Date.now();
    await Promise.all(events);
    await drain();
    polling = false;
    await poller;
    await believer;
    const cpuAfter = cpuOf();
    const wall = (Date.now() - start) / 1000;
    say(`CPU over the run (${f1(wall)} s wall, 2 cores): gateway ${f1(cpuAfter.gateway - cpuBefore.gateway)} s, agents ${f1(cpuAfter.agents - cpuBefore.agents)} s, sandboxes ${f1(cpuAfter.sandboxes - cpuBefore.sandboxes)} s (agents that exited not counted)`);
    say(`gateway's learned it/s during the run (p10 / p50 / p90 of 250 ms samples): ${[...beliefs].map(([name, v]) => `${name} ${f1(percentile(v, 10))} / ${f1(percentile(v, 50))} / ${f1(percentile(v, 90))}`).join('; ')}`);
    for (const r of running) {
      if (!r.pausedFrom) continue;
      // What the gateway believed of it after the pause: its lowest, and how long until it believed at least half its speed again.
      const after = (beliefsAt.get(r.spec.name) ?? []).filter((b) => b.at >= r.pausedFrom!.to);
      const truth = r.spec.itPerSecond * s.speed;
      const low = after.length > 0 ? Math.min(...after.map((b) => b.v)) : NaN;
      const lowAt = after.find((b) => b.v === low)?.at ?? NaN;
      const back = after.find((b) => b.at >= lowAt && b.v >= truth / 2)?.at;
      const recovery = low >= truth / 2 ? 'never under half its speed' : back === undefined ? 'never back to half its speed in the run' : `back to half its speed ${f1((back - r.pausedFrom.to) / 1000)} s after it went on`;
      say(`${r.spec.name} after its pause: the gateway's lowest belief ${f1(low)} it/s (truth ${f1(truth)}), ${recovery}`);
    }
    const measured = await nodeList(gateway);
    const stats = await Promise.all(running.map(async (r) => (await (await fetch(`${r.webui}/sandbox/stats`)).json()) as { jobs: number; busyMs: number; checkpointSwitches: number }));
    const locks = await Promise.all(running.map(async (r) => (await (await fetch(`${r.webui}/trial/lock`)).json()) as { queued: number; queuedBehind: number }));
    say(`jobs that asked for the lock while another job held it (run-level overlap): ${running.map((r, i) => `${r.spec.name} ${locks[i]!.queuedBehind}/${locks[i]!.queued}`).join(', ')} (warm-up included)`);
    // Final status of every task.
    const finals = await Promise.all(
      submitted.map(async (x) => ((await (await fetch(`${gateway}/api/sd/task/status`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.get(x.task.key)}` }, body: JSON.stringify({ taskId: x.taskId }) })).json()) as { data: { status: number } }).data.status),
    );
    const log = readFileSync(logFile, 'utf8').slice(logOffset);
    writeFileSync(join(dir.path, 'submitted.json'), JSON.stringify({ start, submitted, polls }, null, 0));
    say(analyse(s, start, submitsDone, submitted, parseLog(log), running, fixed, finals, polls, stats.map((st, i) => ({ ...st, jobs: st.jobs - jobsBefore[i]!, busyMs: st.busyMs - busyBefore[i]! })), measured));
  } finally {
    for (const r of running) await r.agent?.stop();
    await gatewayProcess?.stop();
    for (const r of running) {
      if (r.sandbox.exitCode === null) {
        const exited = new Promise((resolve) => r.sandbox.once('exit', resolve));
        r.sandbox.kill('SIGTERM');
        await exited;
      }
    }
    const keep = process.env['TRIAL_KEEP_LOGS'];
    if (keep) cpSync(dir.path, join(keep, s.name), { recursive: true });
    dir.remove();
  }
  return out.join('\n');
}

function parseLog(text: string): LogEvent[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEvent);
}

interface Attempt {
  taskId: string;
  node: string;
  attempt: number;
  sentAt: number;
  begunAt: number;
  endAt: number | null;
  ok: boolean;
  switched: boolean;
}

function nodeNameOf(nodeId: string, nodes: readonly TrialNode[]): string {
  return nodes.map((n) => n.name).find((name) => nodeId.startsWith(`${name}-`) || nodeId === name) ?? nodeId;
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : String(n));
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : String(n));

function analyse(
  s: Scenario,
  start: number,
  submitsDone: number,
  submitted: readonly Submitted[],
  events: readonly LogEvent[],
  running: readonly Running[],
  fixed: Map<number, number>,
  finals: readonly number[],
  polls: readonly { at: number; taskId: string; position: number; eta: number | null }[],
  stats: readonly { jobs: number; busyMs: number; checkpointSwitches: number }[],
  measured: readonly Record<string, unknown>[],
): string {
  const ids = new Map(submitted.map((x) => [x.taskId, x]));
  const lines: string[] = [];
  // Attempts, in log order.
  const attempts: Attempt[] = [];
  const open = new Map<string, Attempt>();
  const requeuedAt = new Map<string, number[]>();
  const other = new Map<string, number>();
  for (const e of events) {
    if (e.task && !ids.has(e.task)) continue;
    if (e.msg === 'task assigned' && e.task && e.node) {
      const a: Attempt = { taskId: e.task, node: nodeNameOf(e.node, s.nodes), attempt: e.attempt ?? 0, sentAt: e.time, begunAt: e.time, endAt: null, ok: false, switched: e.switched ?? false };
      attempts.push(a);
      open.set(e.task, a);
      continue;
    }
    if (!e.task) {
      if (/node|dropped|back/.test(e.msg)) other.set(e.msg, (other.get(e.msg) ?? 0) + 1);
      continue;
    }
    const a = open.get(e.task);
    if (e.msg === 'task succeeded') {
      if (a) [a.endAt, a.ok] = [e.time, true];
      open.delete(e.task);
    } else if (e.msg === 'task attempt failed' || /back in the queue/.test(e.msg)) {
      if (a) a.endAt = e.time;
      open.delete(e.task);
      requeuedAt.set(e.task, [...(requeuedAt.get(e.task) ?? []), e.time]);
      other.set(e.msg, (other.get(e.msg) ?? 0) + 1);
    } else if (e.msg !== 'task assigned') other.set(e.msg, (other.get(e.msg) ?? 0) + 1);
  }
  // When each attempt began: one slot per node, so after the attempt before it there ended.
  const byNode = new Map<string, Attempt[]>();
  for (const a of attempts) byNode.set(a.node, [...(byNode.get(a.node) ?? []), a]);
  for (const list of byNode.values()) {
    let freeAt = -Infinity;
    for (const a of list) {
      a.begunAt = Math.max(a.sentAt, freeAt);
      if (a.endAt !== null) freeAt = a.endAt;
    }
  }
  const okAttempt = new Map(attempts.filter((a) => a.ok).map((a) => [a.taskId, a]));
  const firstBegin = new Map<string, number>();
  for (const a of attempts) if (!firstBegin.has(a.taskId)) firstBegin.set(a.taskId, a.begunAt);
  const succeeded = submitted.filter((x) => okAttempt.has(x.taskId));
  const firstSubmit = Math.min(...submitted.map((x) => x.submittedAt));
  const lastEnd = Math.max(...[...okAttempt.values()].map((a) => a.endAt!));
  const makespan = (lastEnd - firstSubmit) / 1000;

  // Node availability (s after firstSubmit) and speed over time, for the bounds.
  const rel = (ms: number) => (ms - firstSubmit) / 1000;
  const segments = running.map((r) => {
    const from = r.connectedAt === undefined ? Infinity : Math.max(0, rel(r.connectedAt));
    const to = r.killedAt === undefined ? Infinity : rel(r.killedAt);
    const changes = (r.spec.speedAt ?? []).map((c) => ({ at: rel(start + c.at * 1000), v: c.itPerSecond * s.speed }));
    return { spec: r.spec, from, to, v0: r.spec.itPerSecond * s.speed, changes };
  });
  // ∫_0^T speed of node (units), and available seconds.
  const unitsBy = (seg: (typeof segments)[number], T: number) => {
    let total = 0;
    let t = seg.from;
    let v = seg.v0;
    const end = Math.min(T, seg.to);
    for (const c of seg.changes) {
      if (c.at <= t) {
        v = c.v;
        continue;
      }
      if (c.at >= end) break;
      total += (c.at - t) * v;
      [t, v] = [c.at, c.v];
    }
    return total + Math.max(0, end - t) * v;
  };
  const secondsBy = (seg: (typeof segments)[number], T: number) => Math.max(0, Math.min(T, seg.to) - seg.from);
  const solve = (enough: (T: number) => boolean) => {
    let lo = 0;
    let hi = 1;
    while (!enough(hi)) if ((hi *= 2) > 1e6) return Infinity;
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2;
      if (enough(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  };
  const ckptSet = [...new Set(s.tasks.map((t) => t.ckpt))];
  let bound = 0;
  let boundFixed = 0;
  let boundWhy = '';
  for (let mask = 1; mask < 1 << ckptSet.length; mask++) {
    const inSet = (c: number) => (mask & (1 << ckptSet.indexOf(c))) !== 0;
    const mine = s.tasks.filter((t) => inSet(t.ckpt));
    const holders = segments.filter((g) => g.spec.holds.some(inSet));
    const need = mine.reduce((sum, t) => sum + unitsOf(t), 0);
    // β = 0 (units) and β → ∞ (seconds) forms with the fixed cost; see live-trace.ts.
    const needFixedUnits = mine.reduce((sum, t) => sum + Math.min(...holders.filter((g) => g.spec.holds.includes(t.ckpt)).map((g) => unitsOf(t) + fixed.get(t.side)! * g.v0)), 0);
    const needFixedSeconds = mine.reduce((sum, t) => sum + Math.min(...holders.filter((g) => g.spec.holds.includes(t.ckpt)).map((g) => fixed.get(t.side)! + unitsOf(t) / g.v0)), 0);
    const T0 = solve((T) => holders.reduce((sum, g) => sum + unitsBy(g, T), 0) >= need);
    const T1 = Math.max(
      solve((T) => holders.reduce((sum, g) => sum + unitsBy(g, T), 0) >= needFixedUnits),
      // Only where speeds do not change over time (the seconds form takes v0).
      segments.some((g) => g.changes.length) ? 0 : solve((T) => holders.reduce((sum, g) => sum + secondsBy(g, T), 0) >= needFixedSeconds),
    );
    if (T0 > bound) [bound, boundWhy] = [T0, ckptSet.filter(inSet).map((c) => CKPTS[c]!.name.slice(0, 8)).join('+')];
    boundFixed = Math.max(boundFixed, T1);
  }
  // Per task: its arrival + its cheapest run (plus a load where no holder starts with it loaded).
  let taskBound = 0;
  for (const t of s.tasks) {
    const arrival = rel(start + t.arrival * 1000);
    let best = Infinity;
    for (const g of segments) {
      if (!g.spec.holds.includes(t.ckpt) || g.from === Infinity) continue;
      const load = g.spec.holds[0] === t.ckpt ? 0 : g.spec.switchSeconds / s.speed;
      best = Math.min(best, Math.max(arrival, g.from) + load + unitsOf(t) / g.v0 + fixed.get(t.side)!);
    }
    taskBound = Math.max(taskBound, best);
  }
  const lb = Math.max(bound, taskBound);
  const lbFixed = Math.max(boundFixed, taskBound);
  lines.push(`## ${s.name}`);
  lines.push(
    `tasks ${submitted.length} (submits took ${f1((submitsDone - firstSubmit) / 1000)} s), succeeded ${succeeded.length}, final statuses ${JSON.stringify(countBy(finals))}; attempts ${attempts.length} (retried/put back ${[...requeuedAt.values()].reduce((a, b) => a + b.length, 0)})`,
  );
  lines.push(
    `makespan ${f2(makespan)} s; lower bound ${f2(lb)} s (capacity ${f2(bound)} on ${boundWhy}, per-task ${f2(taskBound)}) → ${f2(makespan / lb)}×; with the sandbox's fixed cost/task (${[...fixed].map(([side, v]) => `${side}²: ${(v * 1000).toFixed(0)} ms`).join(', ')}) ${f2(lbFixed)} s → ${f2(makespan / lbFixed)}×`,
  );
  const totalJobs = stats.reduce((a, b) => a + b.jobs, 0);
  lines.push(`sandbox jobs ${totalJobs} for ${submitted.length} tasks (duplicates / lost runs: ${totalJobs - succeeded.length}); switches ${stats.reduce((a, b) => a + b.checkpointSwitches, 0)} (gateway-logged switched=true: ${attempts.filter((a) => a.switched).length})`);
  // Waits and ETAs.
  const waits = submitted.map((x) => ((okAttempt.get(x.taskId)?.begunAt ?? NaN) - x.submittedAt) / 1000);
  const within = submitted.filter((x, i) => x.eta !== null && Math.abs(x.eta - waits[i]!) <= Math.max(0.25 * waits[i]!, 1)).length;
  const queued = submitted.map((x, i) => ({ x, w: waits[i]! })).filter((q) => q.x.eta !== 0 && q.x.eta !== null);
  const errors = queued.map((q) => q.x.eta! - q.w);
  lines.push(
    `wait p50/p95/max ${f1(percentile(waits, 50))} / ${f1(percentile(waits, 95))} / ${f1(Math.max(...waits))} s; submit ETA within max(25 %,1 s): ${((within / submitted.length) * 100).toFixed(0)} %; queued at submit ${queued.length}, ETA−actual p5/p50/p95 ${f1(percentile(errors, 5))} / ${f1(percentile(errors, 50))} / ${f1(percentile(errors, 95))} s; null ETAs ${submitted.filter((x) => x.eta === null).length}`,
  );
  if (polls.length) {
    const pollErr = polls.filter((p) => p.eta !== null && okAttempt.has(p.taskId)).map((p) => ({ p, err: (p.at + p.eta! * 1000 - okAttempt.get(p.taskId)!.begunAt) / 1000 }));
    const abs = pollErr.map((e) => Math.abs(e.err));
    lines.push(`status polls of queued tasks: ${polls.length}, ETA (start) error p50/p90/max |${f1(percentile(abs, 50))}| / |${f1(percentile(abs, 90))}| / |${f1(Math.max(...abs))}| s, bias p50 ${f1(percentile(pollErr.map((e) => e.err), 50))} s; null ${polls.filter((p) => p.eta === null).length}`);
    // Position going up without (obvious) cause.
    let ups = 0;
    const last = new Map<string, number>();
    for (const p of polls) {
      const before = last.get(p.taskId);
      if (before !== undefined && p.position > before) ups += 1;
      last.set(p.taskId, p.position);
    }
    lines.push(`  queue position rose between polls ${ups} times`);
  }
  // Per node: tasks, busy share, idle beside work it could run.
  lines.push(`| node | it/s×speed | load s | tasks ok | units | GPU busy (sandbox) | idle-with-work total / longest s | gateway learned |`);
  lines.push(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const [i, r] of running.entries()) {
    const g = segments[i]!;
    const mine = (byNode.get(r.spec.name) ?? []).sort((a, b) => a.begunAt - b.begunAt);
    const ok = mine.filter((a) => a.ok);
    const units = ok.reduce((sum, a) => sum + unitsOf(ids.get(a.taskId)!.task), 0);
    // Waiting intervals of tasks this node could run: submit (or requeue) → next begin anywhere.
    const capable = submitted.filter((x) => r.spec.holds.includes(x.task.ckpt));
    const waitsOf: { from: number; to: number }[] = [];
    for (const x of capable) {
      const mineAttempts = attempts.filter((a) => a.taskId === x.taskId);
      let from = x.submittedAt;
      for (const a of mineAttempts) {
        waitsOf.push({ from, to: a.begunAt });
        from = a.endAt !== null && !a.ok ? (requeuedAt.get(x.taskId)?.find((t) => t >= a.endAt! - 1) ?? a.endAt) : Infinity;
        if (a.ok) break;
      }
    }
    const alive = { from: r.connectedAt ?? Infinity, to: r.killedAt ?? Infinity };
    let total = 0;
    let longest = 0;
    let freeAt = Math.max(firstSubmit, alive.from);
    for (const next of [...mine, null]) {
      const busyAt = Math.min(next ? next.begunAt : Infinity, alive.to);
      const stretches = waitsOf.map((w) => ({ from: Math.max(freeAt, w.from), to: Math.min(busyAt, w.to) }));
      const covered = unionLength(stretches);
      total += covered / 1000;
      longest = Math.max(longest, longestCovered(stretches) / 1000);
      if (next) freeAt = Math.max(freeAt, next.endAt ?? busyAt);
      if (freeAt >= alive.to) break;
    }
    const span = Math.min(lastEnd, alive.to) - Math.max(firstSubmit, alive.from);
    const m = measured.find((n) => n['name'] === r.spec.name);
    const figure = (value: unknown) => (typeof value === 'number' ? String(value) : '?');
    const learned = m ? `${figure(m['itPerSecond'])} it/s + ${figure(m['fixedSeconds'])} s, load ${JSON.stringify(m['loadSeconds'] ?? m['switchSeconds'] ?? '?')}` : 'gone';
    const speeds = [g.v0, ...g.changes.map((c) => c.v)].join('→');
    lines.push(`| ${r.spec.name} | ${speeds} | ${f1(r.spec.switchSeconds / s.speed)} | ${ok.length} | ${units.toFixed(0)} | ${((stats[i]!.busyMs / Math.max(1, span)) * 100).toFixed(0)} % | ${f1(total)} / ${f1(longest)} | ${learned} |`);
  }
  const notable = [...other].filter(([m]) => m !== 'task succeeded');
  if (notable.length) lines.push(`other log events: ${notable.map(([m, n]) => `${n}× "${m}"`).join('; ')}`);
  // Node churn figures.
  for (const r of running) {
    if (r.killedAt !== undefined) {
      const lost = attempts.filter((a) => a.node === r.spec.name && !a.ok && a.endAt !== null);
      const requeueDelays = lost.map((a) => (a.endAt! - r.killedAt!) / 1000);
      const rerun = lost.map((a) => ((attempts.find((b) => b.taskId === a.taskId && b.sentAt > a.sentAt)?.begunAt ?? NaN) - r.killedAt!) / 1000);
      const hanging = attempts.filter((a) => a.node === r.spec.name && a.endAt === null).length;
      lines.push(`${r.spec.name} killed: ${lost.length} of its attempts ended after the kill, at +${requeueDelays.map(f1).join(', ')} s; began again elsewhere at +${rerun.map(f1).join(', ')} s; attempts never ended: ${hanging}; sent to it after the kill: ${attempts.filter((a) => a.node === r.spec.name && a.sentAt > r.killedAt!).length}`);
    }
    if (r.spec.joinAt !== undefined && r.connectedAt !== undefined) {
      const first = attempts.filter((a) => a.node === r.spec.name).sort((a, b) => a.sentAt - b.sentAt)[0];
      lines.push(`${r.spec.name} joined (listed) at +${f1(rel(r.connectedAt))} s; first task sent +${first ? f1((first.sentAt - r.connectedAt) / 1000) : 'never'} s after (switched: ${first?.switched}); ran ${attempts.filter((a) => a.node === r.spec.name && a.ok).length} tasks`);
    }
  }
  return lines.join('\n');
}

function unionLength(stretches: readonly { from: number; to: number }[]): number {
  const sorted = stretches.filter((x) => x.to > x.from).sort((a, b) => a.from - b.from);
  let total = 0;
  let cur: { from: number; to: number } | undefined;
  for (const x of sorted) {
    if (cur && x.from <= cur.to) cur.to = Math.max(cur.to, x.to);
    else {
      if (cur) total += cur.to - cur.from;
      cur = { ...x };
    }
  }
  return total + (cur ? cur.to - cur.from : 0);
}

function countBy(values: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** A small seeded random (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
