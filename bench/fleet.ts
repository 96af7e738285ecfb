/**
 * A gateway with a large fleet: `npm run bench:fleet`.
 *
 * Real processes: one gateway (built CLI, SQLite in a temp dir, its log in a
 * file), one process playing the fleet (bench/fleet-nodes.ts: N light nodes,
 * each on its own WebSocket, running its tasks one at a time for a fixed time
 * and answering each with a 64×64 PNG, 3 of 8 checkpoints each, holding one
 * task ready as `dan node` does by default), and one playing the client
 * (bench/fleet-client.ts): it submits the tasks over HTTP (async, 64 at a time,
 * 5 API keys), polls the status of random tasks all along (every 20 ms) and the
 * gateway's health (every 2 s). The fleet and the client run at a lower
 * priority (nice 10, every thread of theirs): in a real network they are other
 * machines.
 *
 * Per fleet: the results per second the gateway reached while every node had
 * work (from when 10 % of results were in, or the last submit, to 90 %)
 * against the fleet's capacity (nodes ÷ task time); the gateway's event loop
 * delay (`/api/health` → `eventLoopDelayMs`, its latest 30 s, read when 90 %
 * of results were in) and its CPU share over the same window; the event loop's
 * p99 while the tasks were being submitted and after, until 90 % of results
 * were in (serving), and over the whole run (the first submit to 90 % of results),
 * from scrapes of its Prometheus histogram
 * (loop-delay-scrape.ts: a burst of submits saturates the gateway, and the
 * latest 30 s mix the two); status-poll and
 * submit latencies; nothing lost (every task succeeded).
 *
 * A fleet whose spec ends in `p` is paced: two tasks per node submitted at once, then the rest at the
 * fleet's capacity (the gateway taking new work as fast as the fleet ends it); its "submitting" span is
 * the paced part.
 *
 * Knobs: BENCH_FLEETS='10x200x2000,100x500x8000,1000x2000x20000,1000x2000x20000p' (nodes × task
 * ms × tasks, `p`: paced), BENCH_PREFETCH=n (tasks each node holds ready; default `dan node`'s, 1; written only
 * then), BENCH_WRITE=1|0, BENCH_KEEP_LOGS=dir, BENCH_GATEWAY_NODE_ARGS.
 */
import { makeBenchKeys } from './bench-keys.js';
import { nodeDefaults } from '../src/config/node-config.js';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { OverheadSummary } from '../src/gateway/overhead-meter.js';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { writeBenchSection } from './benchmarks-file.js';
import { fleetReport, startFleet } from './fleet-process.js';
import { type CpuReading, runClient } from './fleet-client.js';
import { getData } from './http-json.js';
import { type LoopDelaySpan, loopDelayBetween } from './loop-delay-scrape.js';
import { startQuiet } from './quiet-process.js';
import { type Spread, spreadOf } from './schedule-stats.js';

interface Fleet {
  nodes: number;
  taskMs: number;
  tasks: number;
  /**
   * Submits at the fleet's capacity (after a backlog of two tasks per node) instead of all at once: the
   * gateway keeping up with a busy fleet, taking new work as fast as the fleet ends it.
   */
  paced: boolean;
}

interface FleetFigures extends Fleet {
  capacityPerSecond: number;
  resultsPerSecond: number;
  /** Seconds of the window the rate was measured over. */
  windowSeconds: number;
  /** Results the fleet sent. */
  succeeded: number;
  /** Tasks that reached their node while it ran another (held ready). */
  held: number;
  /** Of a sample of 500 tasks, those not succeeded at the end. */
  failed: number;
  eventLoop: OverheadSummary | null;
  /**
   * The event loop's delay while the tasks were being submitted (paced: from the end of the backlog to the
   * last submit), and from then until 90 % of results were in.
   */
  loopSubmitting: LoopDelaySpan;
  loopServing: LoopDelaySpan;
  /** The event loop's delay from the first submit until 90 % of results were in: the gateway working through the tasks. */
  loopWhole: LoopDelaySpan;
  /** The gateway's CPU time over the window ÷ its length (one core = 1). */
  gatewayCpu: number;
  /** The same, from the last submit until 90 % of results were in. */
  servingCpu: number;
  poll: Spread;
  submit: Spread;
  submitsPerSecond: number;
}

/** Tasks each node holds ready beyond its slot: `dan node`'s default unless set. */
const PREFETCH = Number(process.env['BENCH_PREFETCH'] ?? nodeDefaults.prefetch);
const FLEETS: Fleet[] = (process.env['BENCH_FLEETS'] ?? '10x200x2000,100x500x8000,1000x2000x20000,1000x2000x20000p').split(',').map((s) => {
  const [nodes, taskMs, tasks] = s.replace(/p$/, '').split('x').map(Number);
  return { nodes: nodes!, taskMs: taskMs!, tasks: tasks!, paced: s.endsWith('p') };
});
const KEYS = ['fleet-key-1', 'fleet-key-2', 'fleet-key-3', 'fleet-key-4', 'fleet-key-5'];
const SUBMIT_CONCURRENCY = 64;
/** The client's priority: below the gateway's, as the fleet's is (fleet-process.ts). */
const CLIENT_NICE = 10;

/** The gateway's CPU (one core = 1) between two readings, or NaN when they are not apart. */
function cpuShare(from: CpuReading, to: CpuReading): number {
  return to.at > from.at ? (to.cpu - from.cpu) / ((to.at - from.at) / 1000) : Number.NaN;
}

async function runFleet(fleet: Fleet): Promise<FleetFigures> {
  const temp = tempDir(`dan-fleet-${fleet.nodes}-`);
  const dir = temp.path;
  const port = await freePort();
  const gateway = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'gateway.log');
  const secrets = await makeBenchKeys(join(dir, 'data'), KEYS);
  const gatewayProcess = await startQuiet(['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir, 'data')], {
    logFile,
    readyUrl: `${gateway}/api/health`,
    // e.g. BENCH_GATEWAY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the gateway under the fleet.
    nodeArgs: process.env['BENCH_GATEWAY_NODE_ARGS']?.split(' ').filter(Boolean) ?? [],
  });
  const fleetProcess = await startFleet([gateway], { ...fleet, prefetch: PREFETCH });
  try {
    const capacityPerSecond = (fleet.nodes * 1000) / fleet.taskMs;
    /** Paced: the tasks submitted at once before the rest follow at the fleet's capacity. */
    const backlog = fleet.paced ? Math.min(fleet.tasks, 2 * fleet.nodes) : fleet.tasks;
    const keySecrets = KEYS.map((key) => secrets.get(key)!);
    const client = await runClient(
      { gateway, gatewayPid: gatewayProcess.child.pid!, tasks: fleet.tasks, backlog, capacityPerSecond, secrets: keySecrets, concurrency: SUBMIT_CONCURRENCY },
      CLIENT_NICE,
    );
    const { ids, owners, health, started, pacedFrom, submitsDoneAt } = client;
    const authOf = (i: number) => ({ authorization: `Bearer ${keySecrets[owners[i]!]}` });
    const report = await fleetReport(fleetProcess);
    const sentAt = report.sentAt.sort((a, b) => a - b);
    const states = new Map<string, number>();
    for (let i = 0; i < ids.length; i += Math.max(1, Math.floor(ids.length / 500))) {
      const task = await getData<{ status: number }>(`${gateway}/api/sd/task/${ids[i]}`, authOf(i));
      states.set(ids[i]!, task.status);
    }
    const from = Math.max(sentAt[Math.floor(sentAt.length * 0.1)]!, started);
    const to = sentAt[Math.floor(sentAt.length * 0.9)]!;
    const inWindow = sentAt.filter((t) => t >= from && t <= to).length;
    const atEnd = health.reduce((best, h) => (Math.abs(h.at - to) < Math.abs(best.at - to) ? h : best));
    const atStart = health.reduce((best, h) => (Math.abs(h.at - from) < Math.abs(best.at - from) ? h : best));
    const succeeded = [...states.values()].filter((s) => s === 2).length;
    return {
      ...fleet,
      capacityPerSecond,
      resultsPerSecond: inWindow / ((to - from) / 1000),
      windowSeconds: (to - from) / 1000,
      succeeded: sentAt.length,
      held: report.held,
      failed: states.size - succeeded,
      eventLoop: atEnd.eventLoop,
      loopSubmitting: loopDelayBetween(client.beforeSubmits, client.afterSubmits),
      loopServing: loopDelayBetween(client.afterSubmits, client.atNinety),
      loopWhole: loopDelayBetween(client.atStart, client.atNinety),
      gatewayCpu: cpuShare(atStart, atEnd),
      servingCpu: cpuShare(client.cpuAfterSubmits, client.cpuAtNinety),
      poll: spreadOf(client.pollMs),
      submit: spreadOf(client.submitMs),
      submitsPerSecond: (fleet.tasks - (fleet.paced ? backlog : 0)) / ((submitsDoneAt - (fleet.paced ? pacedFrom : started)) / 1000),
    };
  } finally {
    fleetProcess.kill();
    await gatewayProcess.stop();
    if (process.env['BENCH_KEEP_LOGS']) cpSync(logFile, join(process.env['BENCH_KEEP_LOGS'], `gateway-${fleet.nodes}.log`));
    temp.remove();
  }
}

const ms = (value: number) => (value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString('en'));

function toMarkdown(figures: readonly FleetFigures[]): string {
  const rows = figures.map((f) => {
    const loop = f.eventLoop ? `${ms(f.eventLoop.p50)} / ${ms(f.eventLoop.p99)} / ${ms(f.eventLoop.max)}` : '–';
    const span = (s: LoopDelaySpan) => `${ms(s.p99)} (${(100 * s.over20ms).toFixed(1)} %)`;
    const submitSeconds = (f.tasks - (f.paced ? Math.min(f.tasks, 2 * f.nodes) : 0)) / f.submitsPerSecond;
    const passes = submitSeconds > 0 ? `${Math.round(f.loopSubmitting.passes / submitSeconds)}, ${ms(f.loopSubmitting.passMeanMs)} / ${ms(f.loopSubmitting.passP99Ms)}` : '–';
    return `| ${f.nodes.toLocaleString('en')} × ${f.taskMs} ms${f.paced ? ', paced' : ''} | ${f.tasks.toLocaleString('en')} | ${Math.round(f.capacityPerSecond)} | ${Math.round(f.resultsPerSecond)} (${(f.resultsPerSecond / f.capacityPerSecond).toFixed(2)}) | ${loop} | ${span(f.loopSubmitting)} | ${passes} | ${span(f.loopServing)} | ${span(f.loopWhole)} | ${Math.round(f.gatewayCpu * 100)} % | ${Math.round(f.servingCpu * 100)} % | ${ms(f.poll.p50)} / ${ms(f.poll.p99)} | ${ms(f.submit.p50)} / ${ms(f.submit.p99)} | ${Math.round(f.submitsPerSecond)} | ${f.succeeded.toLocaleString('en')}, ${f.failed} failed of the sampled | ${Math.round((100 * f.held) / Math.max(1, f.succeeded))} % |`;
  });
  return [
    '## A gateway with a large fleet',
    '',
    `Command: \`npm run bench:fleet\` (a real gateway process; one process playing N nodes over real WebSockets, each running its tasks one at a time for a fixed time, answering each with a 64×64 PNG, and holding ${PREFETCH} ready behind (\`dan node --prefetch ${PREFETCH}\`), 3 of 8 checkpoints per node; tasks submitted async over HTTP, 64 at a time by a client process (paced: two per node, then the rest at the fleet's capacity), with status polls every 20 ms; the client and the fleet at nice 10, every thread; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Results per second while every node had work (10 % to 90 % of results), against the fleet's capacity; the gateway's event loop delay over its latest 30 s when 90 % of results were in, and its CPU over the window; its event loop delay's p99 (and the share of samples over 20 ms) while the tasks were being submitted, and from then until 90 % of results were in (serving), and over the whole run (from the first submit to 90 % of results: the gateway working through the tasks), from its \`dan_event_loop_delay_seconds\` histogram, interpolated within buckets as Prometheus does, and its CPU while serving; the scheduling passes it ran while the tasks were being submitted (\`dan_scheduling_pass_seconds\`): how many a second, and how long each took; "held ready": the share of tasks that reached their node while it ran another. Times in ms, p50 / p99 (/ max).`,
    '',
    '| fleet | tasks | capacity /s | results /s (share) | event loop delay | loop p99 submitting | passes submitting: /s, mean / p99 | loop p99 serving | loop p99, whole run | gateway CPU | CPU serving | status poll | submit | submits /s | results sent | held ready |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const figures: FleetFigures[] = [];
for (const fleet of FLEETS) {
  const result = await runFleet(fleet);
  console.log(JSON.stringify(result));
  figures.push(result);
}
const markdown = toMarkdown(figures);
console.log(`\n${markdown}`);
if (process.env['BENCH_WRITE'] !== '0' && process.env['BENCH_FLEETS'] === undefined && PREFETCH === nodeDefaults.prefetch) writeBenchSection('fleet', markdown);
