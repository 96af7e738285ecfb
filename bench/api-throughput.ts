/**
 * Requests per second the gateway answers, next to a bare Fastify hello world
 * measured in the same run on the same machine (run by `npm run bench`, after
 * the overhead benchmark):
 * - status (`GET /api/sd/task/{id}`) without a key, with a key (through the
 *   rate limiter), and with `--auth off` (no caller to decide, no rate limit);
 * - async submit (`POST /api/sd/txt2img/async`) without and with a key. Tasks
 *   pile up: the sandbox behind the node runs 10,000× slower than real time.
 * The cost of auth and rate limiting per request is the difference of the
 * time per request with a key and with `--auth off`. autocannon drives each
 * for BENCH_SECONDS (default 6) with BENCH_CONNECTIONS (default 32) connections,
 * in this process: client and server share the machine's 2 cores, as they
 * share them for the hello world. BENCH_CPU_PROF=<dir> writes each gateway's
 * CPU profile there.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { makeBenchKeys } from './bench-keys.js';
import { cpuSecondsOf } from './process-cpu.js';
import { writeBenchSection } from './benchmarks-file.js';
import { startQuiet, type QuietProcess } from './quiet-process.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 6);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
/** Rounds of the hello world and status runs, taken in turn; each row is its median round. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
/** BENCH_STATUS_ONLY=1: the status rows only (to try a change quickly); nothing is written. */
const STATUS_ONLY = process.env['BENCH_STATUS_ONLY'] === '1';
/** A directory to write each gateway's CPU profile into (`<name>.cpuprofile`, on exit), to see where its time goes. */
const PROFILE_DIR = process.env['BENCH_CPU_PROF'];

interface Run {
  label: string;
  requestsPerSecond: number;
  /** CPU time the answering server process spent per request (µs), user + system. */
  serverCpuUs: number;
  p50: number;
  p99: number;
  non2xx: number;
}

/**
 * `options`' requests for SECONDS; `serverPid`: the process answering, whose CPU time per request is
 * taken too. Requests per second at saturation depend on the client as much as the server (they share
 * the 2 cores, and autocannon parses answers in JavaScript); the server's CPU per request is its own cost.
 */
async function load(label: string, serverPid: number, options: autocannon.Options): Promise<Run> {
  const cpuBefore = cpuSecondsOf(serverPid);
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options });
  const serverCpuUs = ((cpuSecondsOf(serverPid) - cpuBefore) / Math.max(1, result.requests.total)) * 1e6;
  return { label, requestsPerSecond: result.requests.average, serverCpuUs, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx };
}

/** The run of median requests per second among `runs`. */
function median(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(runs.length / 2)]!;
}

async function helloServer(): Promise<{ url: string; pid: number; stop(): void }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./hello-server.ts', import.meta.url).pathname, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill() };
}

async function gatewayWith(dir: string, name: string, args: string[]): Promise<{ url: string; process: QuietProcess }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const profile = PROFILE_DIR ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}.cpuprofile`] } : {};
  const process = await startQuiet(['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir, name), '--log-level', 'warn', ...args], { logFile: join(dir, `${name}.log`), readyUrl: `${url}/api/health`, ...profile });
  return { url, process };
}

async function main(): Promise<void> {
  const temp = tempDir('dan-throughput-');
  const dir = temp.path;
  // A key through the rate limiter: a limit it never reaches, not 0 (which skips the limiter).
  const keys = await makeBenchKeys(join(dir, 'optional'), ['client'], { requestsPerMinute: 1_000_000 });
  const optional = await gatewayWith(dir, 'optional', ['--anonymous-rpm', '0', '--anonymous-max-tasks', '0']);
  const off = await gatewayWith(dir, 'off', ['--auth', 'off']);
  const sandboxPort = await freePort();
  const sandbox = await startQuiet(['sandbox', '--port', String(sandboxPort), '--speed', '0.0001'], { logFile: join(dir, 'sandbox.log'), readyUrl: `http://127.0.0.1:${sandboxPort}/sdapi/v1/progress` });
  const nodes = [
    await startQuiet(['node', '--gateway', optional.url, '--webui', `http://127.0.0.1:${sandboxPort}`, '--name', 'slow-1'], { logFile: join(dir, 'node-1.log'), readyUrl: `${optional.url}/api/health` }),
    await startQuiet(['node', '--gateway', off.url, '--webui', `http://127.0.0.1:${sandboxPort}`, '--name', 'slow-2'], { logFile: join(dir, 'node-2.log'), readyUrl: `${off.url}/api/health` }),
  ];
  const hello = await helloServer();
  const key = keys.get('client')!;
  const body = JSON.stringify({ prompt: 'a lighthouse', model: 'clarity', steps: 20 });
  const submitOnce = async (url: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const answer = (await response.json()) as { data?: { taskId: string } };
    if (!answer.data) throw new Error(`submit refused: ${JSON.stringify(answer)}`);
    return answer.data.taskId;
  };
  // Wait until the nodes are in: a submit needs a node that can serve it.
  for (const url of [optional.url, off.url]) {
    for (let i = 0; i < 100 && !(((await (await fetch(`${url}/api/health`)).json()) as { data: { canServe: boolean } }).data.canServe); i++) await new Promise((r) => setTimeout(r, 100));
  }
  const anonymousTask = await submitOnce(optional.url);
  const keyTask = await submitOnce(optional.url, { authorization: `Bearer ${key}` });
  const offTask = await submitOnce(off.url);
  const json = { 'content-type': 'application/json' };

  // The hello world and the status requests take turns, ROUNDS times, and each row is its median round:
  // the machine's speed drifts by ±10 % over a minute (other work on it, CPU boost), and a ratio of two
  // runs a minute apart would measure the drift.
  const offPid = off.process.child.pid!;
  const optionalPid = optional.process.child.pid!;
  const statusLoads: [string, number, autocannon.Options][] = [
    ['bare Fastify hello world', hello.pid, { url: `${hello.url}/hello` }],
    ['status, --auth off', offPid, { url: `${off.url}/api/sd/task/${offTask}` }],
    ['status, no key', optionalPid, { url: `${optional.url}/api/sd/task/${anonymousTask}` }],
    ['status, with a key', optionalPid, { url: `${optional.url}/api/sd/task/${keyTask}`, headers: { authorization: `Bearer ${key}` } }],
  ];
  const rounds = new Map<string, Run[]>(statusLoads.map(([label]) => [label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, pid, options] of statusLoads) rounds.get(label)!.push(await load(label, pid, options));
  }
  const runs: Run[] = [...rounds.values()].map(median);
  if (!STATUS_ONLY) {
    runs.push(await load('async submit, --auth off', offPid, { url: `${off.url}/api/sd/txt2img/async`, method: 'POST', headers: json, body }));
    runs.push(await load('async submit, no key', optionalPid, { url: `${optional.url}/api/sd/txt2img/async`, method: 'POST', headers: json, body }));
    runs.push(await load('async submit, with a key', optionalPid, { url: `${optional.url}/api/sd/txt2img/async`, method: 'POST', headers: { ...json, authorization: `Bearer ${key}` }, body }));
  }

  hello.stop();
  for (const p of [...nodes, sandbox, optional.process, off.process]) await p.stop();
  temp.remove();

  const bare = runs[0]!.requestsPerSecond;
  const rps = (label: string) => runs.find((r) => r.label === label)!.requestsPerSecond;
  /** The gateway's time per request more in `a` than in `b`: at saturation a request costs 1/rps of its time. */
  const perRequestUs = (a: string, b: string) => Math.round((1 / rps(a) - 1 / rps(b)) * 1e6);
  const cpuOf = (label: string) => runs.find((r) => r.label === label)!.serverCpuUs;
  const cpuMore = (a: string, b: string) => (cpuOf(a) - cpuOf(b)).toFixed(1);
  const bareCpu = runs[0]!.serverCpuUs;
  const rows = runs.map(
    (r) =>
      `| ${r.label} | ${Math.round(r.requestsPerSecond).toLocaleString('en')} | ${(r.requestsPerSecond / bare).toFixed(2)} | ${r.serverCpuUs.toFixed(1)} | ${(bareCpu / r.serverCpuUs).toFixed(2)} | ${r.p50} / ${r.p99} | ${r.non2xx} |`,
  );
  const markdown = [
    '## Requests per second',
    '',
    `Command: \`npm run bench\` (bench/api-throughput.ts, after the overhead table; autocannon, ${CONNECTIONS} connections, ${SECONDS} s each; the hello world and the status rows take turns ${ROUNDS} times and each shows its median round; in the same process as the client of every row; gateway processes with \`--anonymous-rpm 0 --anonymous-max-tasks 0\` and with \`--auth off\`; the key has limits it never reaches, so its requests go through the rate limiter; submits pile up tasks behind a node 10,000× slower than real time; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}).`,
    '',
    '| requests | per second | ÷ hello world | server CPU per request (µs) | hello world\'s ÷ this | latency p50 / p99 (ms) | not 2xx |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `Auth and rate limiting cost the gateway ${cpuMore('status, with a key', 'status, --auth off')} µs of CPU per status request with a key and ${cpuMore('status, no key', 'status, --auth off')} µs without one (its CPU per request against \`--auth off\`); counted as 1/rps at saturation, where the client's work on the same 2 cores counts too (autocannon parses each answer's headers in JavaScript), ${perRequestUs('status, with a key', 'status, --auth off')} µs and ${perRequestUs('status, no key', 'status, --auth off')} µs. Status answers at ${(rps('status, with a key') / bare).toFixed(2)} × the hello world's requests per second with a key.`,
    '',
    `Every round, requests per second (hello world, off, no key, key): ${[...rounds.values()].map((list) => list.map((r) => Math.round(r.requestsPerSecond).toLocaleString('en')).join(' / ')).join('; ')}.`,
  ].join('\n');
  console.log(markdown);
  if (process.env['BENCH_WRITE'] !== '0' && !STATUS_ONLY) writeBenchSection('throughput', markdown);
}

await main();
