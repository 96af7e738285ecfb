/**
 * `npm run bench:scale`: one network on 1, 2 and 3 gateway processes sharing
 * one PostgreSQL database, and on one gateway with SQLite as the reference.
 * Per setup, fresh processes: the gateways (`--auth off`: the store and the
 * dispatch are measured, not keys), and one process playing light nodes over
 * real WebSockets (bench/fleet-nodes.ts), spread over the gateways. The client
 * sends to every gateway in turn.
 *
 * 1. Dispatch latency: tasks submitted async one every 20 ms while nodes are
 *    free; from the client's send to the assignment reaching the node (both
 *    clocks of this machine), and the gateways' own part of it (/api/health,
 *    `overheadMs.dispatch`: submit's arrival → task sent).
 * 2. Throughput: tasks submitted as fast as 64 clients can, while the nodes
 *    (more than the gateways can keep busy) answer each after a fixed time;
 *    submits a second, and results a second while every node had work (10 % to
 *    90 % of the results). Every task must be answered exactly once: more
 *    answers than tasks would be a task run twice.
 *
 * Knobs: BENCH_SETUPS='sqlite:1,postgres:1,postgres:2,postgres:3' BENCH_NODES=60 BENCH_TASK_MS=100
 *        BENCH_TASKS=3000 BENCH_LATENCY_TASKS=300 BENCH_WRITE=1|0 DAN_TEST_DATABASE_URL
 */
import { join } from 'node:path';
import type { OverheadSummary } from '../src/gateway/overhead-meter.js';
import { freshSchema } from '../test/helpers/postgres.js';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { writeBenchSection } from './benchmarks-file.js';
import { fleetReport, startFleet } from './fleet-process.js';
import { type QuietProcess, startQuiet } from './quiet-process.js';
import { makeCheckpoints } from './schedule-nodes.js';
import { type Spread, spreadOf } from './schedule-stats.js';

interface Setup {
  store: 'sqlite' | 'postgres';
  gateways: number;
}

interface Figures extends Setup {
  /** Client send → assignment at the node, ms. */
  dispatch: Spread;
  /** The gateways' own dispatch time (their overhead meter), ms: p50 and p99 of the gateway with the highest p50. */
  overhead: { p50: number; p99: number } | null;
  submitsPerSecond: number;
  resultsPerSecond: number;
  tasks: number;
  answered: number;
}

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const SETUPS: Setup[] = env('BENCH_SETUPS', 'sqlite:1,postgres:1,postgres:2,postgres:3')
  .split(',')
  .map((s) => {
    const [store, gateways] = s.split(':');
    return { store: store as Setup['store'], gateways: Number(gateways) };
  });
const NODES = Number(env('BENCH_NODES', '60'));
const TASK_MS = Number(env('BENCH_TASK_MS', '100'));
const TASKS = Number(env('BENCH_TASKS', '3000'));
const LATENCY_TASKS = Number(env('BENCH_LATENCY_TASKS', '300'));
const CONCURRENCY = 64;
const CHECKPOINTS = makeCheckpoints(8);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.timeOrigin + performance.now();

async function submit(gateway: string, index: number): Promise<string> {
  const checkpoint = CHECKPOINTS[index % CHECKPOINTS.length]!;
  const body = { prompt: `scale task ${index}`, model: checkpoint.ref.id, steps: 20, width: 64, height: 64, seed: index };
  const response = await fetch(`${gateway}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await response.json()) as { code: number; data: { taskId: string } };
  if (answer.code !== 200) throw new Error(`submit refused by ${gateway}: ${JSON.stringify(answer)}`);
  return answer.data.taskId;
}

async function health(gateway: string): Promise<{ queued: number; running: number; overheadMs: { dispatch: OverheadSummary | null } }> {
  return ((await (await fetch(`${gateway}/api/health`)).json()) as { data: { queued: number; running: number; overheadMs: { dispatch: OverheadSummary | null } } }).data;
}

async function untilIdle(gateways: readonly string[]): Promise<void> {
  for (;;) {
    const all = await Promise.all(gateways.map(health));
    if (all.every((h) => h.queued === 0 && h.running === 0)) return;
    await sleep(200);
  }
}

async function runSetup(setup: Setup): Promise<Figures> {
  const temp = tempDir(`dan-scale-${setup.store}-${setup.gateways}-`);
  const schema = setup.store === 'postgres' ? await freshSchema() : null;
  const processes: QuietProcess[] = [];
  const gateways: string[] = [];
  try {
    for (let g = 0; g < setup.gateways; g++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const args = ['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(temp.path, `data-${g}`), '--auth', 'off'];
      if (schema) args.push('--database', schema.url);
      processes.push(await startQuiet(args, { logFile: join(temp.path, `gateway-${g}.log`), readyUrl: `${url}/api/health` }));
      gateways.push(url);
    }
    const fleet = await startFleet(gateways, { nodes: NODES, taskMs: TASK_MS });
    try {
      // Every gateway knows every node before the first submit (the others' reach it through the database).
      await sleep(setup.gateways > 1 ? 3_000 : 500);
      const sentAtClient = new Map<string, number>();
      for (let i = 0; i < LATENCY_TASKS; i++) {
        const t0 = now();
        sentAtClient.set(await submit(gateways[i % gateways.length]!, i), t0);
        await sleep(20);
      }
      await untilIdle(gateways);
      const overheads = (await Promise.all(gateways.map(health))).map((h) => h.overheadMs.dispatch).filter((o): o is OverheadSummary => o !== null);
      const worst = overheads.sort((a, b) => b.p50 - a.p50)[0];

      const started = Date.now();
      let next = LATENCY_TASKS;
      const end = LATENCY_TASKS + TASKS;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < end) {
            const index = next++;
            await submit(gateways[index % gateways.length]!, index);
          }
        }),
      );
      const submitSeconds = (Date.now() - started) / 1000;
      await untilIdle(gateways);
      const report = await fleetReport(fleet);
      const dispatch = [...sentAtClient].map(([id, t0]) => (report.assignedAt[id] ?? Number.NaN) - t0);
      const results = report.sentAt.filter((t) => t >= started).sort((a, b) => a - b);
      const from = results[Math.floor(results.length * 0.1)]!;
      const to = results[Math.floor(results.length * 0.9)]!;
      return {
        ...setup,
        dispatch: spreadOf(dispatch.filter(Number.isFinite)),
        overhead: worst ? { p50: worst.p50, p99: worst.p99 } : null,
        submitsPerSecond: TASKS / submitSeconds,
        resultsPerSecond: results.filter((t) => t >= from && t <= to).length / ((to - from) / 1000),
        tasks: LATENCY_TASKS + TASKS,
        answered: report.sentAt.length,
      };
    } finally {
      fleet.kill();
    }
  } finally {
    for (const p of processes.reverse()) await p.stop();
    await schema?.drop();
    temp.remove();
  }
}

const fixed = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));

function toMarkdown(figures: readonly Figures[]): string {
  const reference = figures.find((f) => f.store === 'sqlite' && f.gateways === 1);
  const rows = figures.map((f) => {
    const ratio = reference?.overhead && f.overhead && f !== reference ? ` (${(f.overhead.p50 / reference.overhead.p50).toFixed(2)} × SQLite)` : '';
    const once = f.answered === f.tasks ? 'each once' : `${f.answered} answers for ${f.tasks} tasks`;
    return `| ${f.store === 'sqlite' ? 'SQLite' : 'PostgreSQL'} | ${f.gateways} | ${fixed(f.dispatch.p50)} / ${fixed(f.dispatch.p99)} | ${f.overhead ? `${fixed(f.overhead.p50)} / ${fixed(f.overhead.p99)}${ratio}` : '–'} | ${Math.round(f.submitsPerSecond)} | ${Math.round(f.resultsPerSecond)} | ${f.tasks.toLocaleString('en')}, ${once} |`;
  });
  return [
    '## Several gateways on one database',
    '',
    `Command: \`npm run bench:scale\` (per row, fresh processes: the gateways, \`--auth off\`, on SQLite or on one PostgreSQL database (a schema of its own), and one process playing ${NODES} nodes over real WebSockets, spread over the gateways, each answering after ${TASK_MS} ms (capacity ${Math.round((NODES * 1000) / TASK_MS)} results/s); the client sends to every gateway in turn; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Dispatch: ${LATENCY_TASKS} tasks submitted async one every 20 ms while nodes are free, from the client's send to the assignment at the node, and the gateways' own part of it (their overhead meter; the gateway with the highest p50). Throughput: ${TASKS.toLocaleString('en')} tasks sent by ${CONCURRENCY} clients at once; results a second while every node had work (10 % to 90 % of the results). Times in ms, p50 / p99.`,
    '',
    '| store | gateways | dispatch, client → node | gateway\'s own dispatch time | submits /s | results /s | tasks answered |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const figures: Figures[] = [];
for (const setup of SETUPS) {
  const result = await runSetup(setup);
  console.log(JSON.stringify(result));
  figures.push(result);
}
const markdown = toMarkdown(figures);
console.log(`\n${markdown}`);
if (env('BENCH_WRITE', '1') === '1') writeBenchSection('scale', markdown);
