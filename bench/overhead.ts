/**
 * Gateway overhead per task: `npm run bench`.
 *
 * A real gateway process (built CLI, SQLite store in a temp dir), a real node
 * agent with the A1111 driver, and a sandbox at full speed (no simulated GPU
 * time) — agent and sandbox in this process so that every timestamp comes
 * from one clock:
 *
 *   t0 client sends POST /api/sd/txt2img (sync)
 *   t1 the node agent receives the assignment       → submit overhead = t1 − t0
 *   t2 the node agent has sent the result           → result overhead = t3 − t2
 *   t3 the client has received the whole response body (before parsing it)
 *
 * What lies between t1 and t2 (the driver and the sandbox) is not the
 * gateway's and is left out. Results go to BENCHMARKS.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { pino } from 'pino';
import { NodeAgent } from '../src/node/agent.js';
import { A1111Driver } from '../src/node/backends/a1111/a1111-driver.js';
import { startSandbox } from '../src/sandbox/index.js';
import { startGatewayProcess, tempDir } from '../test/helpers/processes.js';

const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 50);
const TASKS = Number(process.env['BENCH_TASKS'] ?? 500);

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.at(-1)!, mean };
}

async function main(): Promise<void> {
  const data = tempDir('dan-bench-');
  const sandbox = await startSandbox({ speed: Infinity });
  const gateway = await startGatewayProcess({ dataDir: data.path });
  const log = pino({ level: 'warn' });
  const driver = new A1111Driver({ baseUrl: sandbox.url, maxPixels: 2048 * 2048, progressIntervalMs: 60_000 });
  const agent = new NodeAgent({ gatewayUrl: gateway.url, name: 'bench-node', token: null, driver, log });
  const welcomed = new Promise((resolve) => agent.once('welcomed', resolve));
  await agent.start();
  await welcomed;

  const received = new Map<string, number>();
  const settled = new Map<string, number>();
  agent.on('task:received', (id) => received.set(id, performance.now()));
  agent.on('task:settled', (id) => settled.set(id, performance.now()));

  const body = JSON.stringify({ prompt: 'a red fox', model: 'clarity', steps: 20, width: 512, height: 512, seed: 42 });
  const submit: number[] = [];
  const result: number[] = [];
  let imageBytes = 0;
  for (let i = 0; i < WARMUP + TASKS; i++) {
    const t0 = performance.now();
    const response = await fetch(`${gateway.url}/api/sd/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const bytes = await response.arrayBuffer();
    const t3 = performance.now();
    const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as { code: number; data: { taskId: string; images: string[] } };
    if (json.code !== 200) throw new Error(`task failed: ${JSON.stringify(json).slice(0, 300)}`);
    const id = json.data.taskId;
    imageBytes = json.data.images[0]!.length;
    if (i < WARMUP) continue;
    submit.push(received.get(id)! - t0);
    result.push(t3 - settled.get(id)!);
  }

  await agent.stop();
  await gateway.proc.stop();
  await sandbox.close();
  data.remove();
  report({ submit: summary(submit), result: summary(result), imageBytes });
}

function report(r: { submit: ReturnType<typeof summary>; result: ReturnType<typeof summary>; imageBytes: number }): void {
  const f = (n: number) => n.toFixed(2);
  const row = (name: string, s: ReturnType<typeof summary>) => `| ${name} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.p99)} | ${f(s.max)} | ${f(s.mean)} |`;
  const section = [
    '<!-- overhead:start -->',
    '## Gateway overhead per task',
    '',
    `Command: \`npm run bench\` (${TASKS} sequential sync txt2img tasks after ${WARMUP} warm-up; 512×512 result, ` +
      `${Math.round(r.imageBytes / 1024)} KiB of base64; sandbox at full speed; ${cpus().length} cores, Node ${process.version}; ` +
      `${new Date().toISOString().slice(0, 10)}).`,
    '',
    '| span (ms) | p50 | p95 | p99 | max | mean |',
    '| --- | --- | --- | --- | --- | --- |',
    row('submit → node receives the task', r.submit),
    row('node sends the result → client has the answer', r.result),
    '',
    'Target: p99 under 5 ms for each span.',
    '<!-- overhead:end -->',
  ].join('\n');
  console.log(section);
  let doc = '# Benchmarks\n\nFigures measured on the project\'s CI machine; each section names the command that produced it.\n';
  try {
    doc = readFileSync('BENCHMARKS.md', 'utf8');
  } catch {
    // first run
  }
  const pattern = /<!-- overhead:start -->[\s\S]*<!-- overhead:end -->/;
  doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync('BENCHMARKS.md', doc);
}

await main();
