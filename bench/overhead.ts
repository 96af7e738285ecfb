/**
 * Gateway overhead per task: `npm run bench`.
 *
 * Five processes (seven with the backlog run below): a real gateway (built CLI, SQLite store in a temp dir, its
 * log in a file as a service's would be: bench/quiet-process.ts), a
 * sandbox at full speed (no simulated GPU time), a node process
 * (bench/overhead-node.ts: a real node agent with the A1111 driver), and a
 * client (bench/overhead-client.ts); this one only starts them and reports.
 * Timestamps come from the machine-wide monotonic clock
 * (`process.hrtime`), so they compare across processes:
 *
 *   t0 client sends POST /api/sd/txt2img (sync)
 *   t1 the node agent receives the assignment       → submit overhead = t1 − t0
 *   t2 the node agent hands its result frame to the socket → result overhead = t3 − t2
 *   t3 the client has received the whole answer (before parsing it)
 *
 * What lies between t1 and t2 (the driver and the sandbox) is not the
 * gateway's and is left out. Beside these spans, the gateway's own times as it
 * measures them itself (GET /api/health → overheadMs, gateway/overhead-meter.ts):
 * request arrived → assignment sent, and result frame arrived → answer handed
 * to the socket; no hops, no other process. Each size runs on fresh processes.
 * Two result sizes: a 64×64 image (the gateway's
 * fixed cost) and a 512×512 one (~320 KiB of base64, what a real SD 1.5 image
 * weighs). Also the gateway process's CPU time per task, read from
 * /proc/<pid>/stat: steadier than latency percentiles on a shared machine.
 *
 * In a deployment the client and the node (with its WebUI) are other
 * machines; here they share the gateway's two cores, and each write the
 * gateway makes wakes one of them, which the kernel may then run on the
 * gateway's core in the middle of its work. So they run at a lower priority
 * (nice 10, BENCH_NICE): on a busy core the gateway goes first, as it would
 * on a machine of its own. BENCH_NICE=0 runs them all alike.
 *
 * Results go to BENCHMARKS.md. BENCH_TASKS, BENCH_WARMUP and BENCH_SIDES
 * (e.g. `64,512`) change the run.
 */
import { makeBenchKeys } from './bench-keys.js';
import { cpus } from 'node:os';
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { OverheadSummary } from '../src/gateway/overhead-meter.js';
import type { ClientReport } from './overhead-client.js';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { startQuiet } from './quiet-process.js';
import { writeBenchSection } from './benchmarks-file.js';
import { cpuSecondsOf } from './process-cpu.js';
import { niceAllThreads } from './process-priority.js';

const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 50);
const TASKS = Number(process.env['BENCH_TASKS'] ?? 2000);
const SIDES = (process.env['BENCH_SIDES'] ?? '64,512').split(',').map(Number);
const NICE = Number(process.env['BENCH_NICE'] ?? 10);
const BACKLOG = Number(process.env['BENCH_BACKLOG'] ?? 1000);
/** Backlog tasks are bigger than the timed node takes, so only the backlog node, busy with each for longer than the run, can run them. */
const BACKLOG_SPEC = { prompt: 'a long queue', model: 'clarity', steps: 50, width: 2048, height: 2048 };
const TIMED_NODE_MAX_PIXELS = 1024 * 1024;

interface Summary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function summary(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted.at(-1)!, mean: values.reduce((a, b) => a + b, 0) / values.length };
}

/** User + system CPU milliseconds the process has used so far. */
const cpuMs = (pid: number): number => cpuSecondsOf(pid) * 1000;

interface Run {
  side: number;
  /** Tasks waiting in the queue throughout (each scheduling pass goes over them). */
  backlog: number;
  submit: Summary;
  result: Summary;
  imageKiB: number;
  gatewayCpuMsPerTask: number;
  /** The gateway's own figures (GET /api/health → overheadMs), warm-up tasks included. */
  inside: { dispatch: OverheadSummary; relay: OverheadSummary };
}

/** One result size on a fresh gateway, sandbox and node, so the gateway's own figures are this size's alone. */
async function runSize(side: number, backlog: number): Promise<Run> {
  const data = tempDir('dan-bench-');
  // BENCH_GW_NODE_OPTIONS reaches the gateway alone, e.g. `--import ./my-profiler.mjs` to profile it.
  const gatewayOptions = process.env['BENCH_GW_NODE_OPTIONS'];
  const [gatewayPort, sandboxPort] = [await freePort(), await freePort()];
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  // Keys without limits of their own: the timed tasks' and the backlog's.
  const benchKeys = await makeBenchKeys(data.path, ['timed', 'backlog']);
  const gatewayArgs = ['gateway', '--port', String(gatewayPort), '--host', '127.0.0.1', '--data', data.path];
  const gateway = await startQuiet(gatewayArgs, {
    logFile: join(data.path, 'gateway.log'),
    readyUrl: `${gatewayUrl}/api/health`,
    env: gatewayOptions ? { NODE_OPTIONS: gatewayOptions } : {},
  });
  const sandbox = await startQuiet(['sandbox', '--port', String(sandboxPort), '--speed', '1e9'], {
    logFile: join(data.path, 'sandbox.log'),
    readyUrl: `${sandboxUrl}/sdapi/v1/progress`,
  });
  const node = forkNode(gatewayUrl, sandboxUrl, TIMED_NODE_MAX_PIXELS, 'bench-node');
  await new Promise((resolve) => node.once('message', resolve));
  const queue = backlog > 0 ? await startBacklog(gatewayUrl, data.path, backlog, benchKeys.get('backlog')!) : null;
  const client = fork(new URL('./overhead-client.ts', import.meta.url), [gatewayUrl, String(side), String(WARMUP), String(TASKS), benchKeys.get('timed')!], {
    execArgv: ['--import', 'tsx'],
  });
  // The processes that stand for other machines yield the cores to the gateway (see the top of this file).
  for (const pid of [sandbox.child.pid!, node.pid!, client.pid!, ...(queue?.pids ?? [])]) niceAllThreads(pid, NICE);
  let cpuStart = 0;
  const { sent, imageChars, inside } = await new Promise<ClientReport>((resolve, reject) => {
    client.on('message', (m: { type: 'warm' } | ClientReport) => (m.type === 'warm' ? (cpuStart = cpuMs(gateway.child.pid!)) : resolve(m)));
    client.once('exit', (code) => reject(new Error(`bench client exited (${code})`)));
  });
  const gatewayCpuMsPerTask = (cpuMs(gateway.child.pid!) - cpuStart) / TASKS;

  node.send({ type: 'report' });
  const times = await new Promise<{ received: Record<string, string>; settled: Record<string, string> }>((resolve) =>
    node.on('message', (m: { type: string; received: Record<string, string>; settled: Record<string, string> }) => m.type === 'report' && resolve(m)),
  );
  await gateway.stop();
  await sandbox.stop();
  await queue?.stop();
  data.remove();
  const ms = (from: string, to: string) => Number(BigInt(to) - BigInt(from)) / 1e6;
  return {
    side,
    backlog,
    imageKiB: imageChars / 1024,
    gatewayCpuMsPerTask,
    submit: summary(sent.map((s) => ms(s.t0, times.received[s.id]!))),
    result: summary(sent.map((s) => ms(times.settled[s.id]!, s.t3))),
    inside,
  };
}

function forkNode(gatewayUrl: string, sandboxUrl: string, maxPixels: number, name: string): ChildProcess {
  return fork(new URL('./overhead-node.ts', import.meta.url), [gatewayUrl, sandboxUrl, String(maxPixels), name], { execArgv: ['--import', 'tsx'] });
}

/**
 * A queue the timed tasks pass by: a second node on a slow sandbox, and
 * `count` tasks only it can run (2048² for a node that takes 1024² at most),
 * each of which keeps it busy longer than the run.
 */
async function startBacklog(gatewayUrl: string, dataDir: string, count: number, key: string): Promise<{ pids: number[]; stop(): Promise<void> }> {
  const port = await freePort();
  // At a twentieth of real GPU speed no backlog task ends during the run: its multi-MiB 2048² result
  // would be relayed and stored in the middle of the timed tasks, which is not what this run measures.
  const sandbox = await startQuiet(['sandbox', '--port', String(port), '--speed', '0.05'], {
    logFile: join(dataDir, 'backlog-sandbox.log'),
    readyUrl: `http://127.0.0.1:${port}/sdapi/v1/progress`,
  });
  const node = forkNode(gatewayUrl, `http://127.0.0.1:${port}`, 2048 * 2048, 'backlog-node');
  await new Promise((resolve) => node.once('message', resolve));
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  for (let i = 0; i < count; i++) {
    const answer = await fetch(`${gatewayUrl}/api/sd/txt2img/async`, { method: 'POST', headers, body: JSON.stringify({ ...BACKLOG_SPEC, seed: i }) });
    if (!answer.ok) throw new Error(`backlog task refused: ${await answer.text()}`);
  }
  return {
    pids: [sandbox.child.pid!, node.pid!],
    stop: async () => {
      node.kill();
      await sandbox.stop();
    },
  };
}

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (const side of SIDES) runs.push(await runSize(side, 0));
  if (BACKLOG > 0) runs.push(await runSize(SIDES[0]!, BACKLOG));
  report(runs);
}

function report(runs: Run[]): void {
  const f = (n: number) => n.toFixed(2);
  const row = (name: string, s: Summary | OverheadSummary) =>
    `| ${name} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.p99)} | ${f(s.max)} | ${'mean' in s ? f(s.mean) : '–'} |`;
  const lines = [
    '<!-- overhead:start -->',
    '## Gateway overhead per task',
    '',
    `Command: \`npm run bench\` (${TASKS} sequential sync txt2img tasks per size after ${WARMUP} warm-up; sandbox at full ` +
      `speed; client, node and sandbox at nice ${NICE}; ${cpus().length} cores, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}).`,
    '',
  ];
  for (const run of runs) {
    lines.push(
      `### ${run.side}×${run.side} result (${run.imageKiB.toFixed(0)} KiB of base64)${run.backlog > 0 ? `, ${run.backlog} tasks waiting in the queue` : ''}`,
      '',
      '| span (ms) | p50 | p95 | p99 | max | mean |',
      '| --- | --- | --- | --- | --- | --- |',
      row('submit → node receives the task', run.submit),
      row('node sends the result → client has the answer', run.result),
      row('inside the gateway: request arrived → task sent to the node', run.inside.dispatch),
      row('inside the gateway: result frame arrived → answer handed to the socket', run.inside.relay),
      '',
      `Gateway CPU time per task: ${f(run.gatewayCpuMsPerTask)} ms.`,
      '',
    );
  }
  lines.push('<!-- overhead:end -->');
  const section = lines.join('\n');
  console.log(section);
  writeBenchSection('overhead', section);
}

await main();
