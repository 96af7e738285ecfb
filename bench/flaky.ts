/**
 * Nodes on flaky links: `npm run bench:flaky`.
 *
 * Real processes: one gateway, and per GPU a sandbox and a node agent that reaches the gateway through a
 * TCP proxy this process cuts now and then (every connection dropped, new ones refused, for `CUT_MS`),
 * as a home link that drops does. The same tasks run twice on fresh networks: with the nodes coming back
 * for their work (`--resume-grace-s 10`, the default) and without (`--resume-grace-s 0`: a dropped
 * connection ends the node's tasks, retried elsewhere, as before protocol 4). Reported: the makespan,
 * the images the WebUIs made (beyond one per task: work done twice), attempts that failed, tasks that
 * failed.
 *
 * Knobs: BENCH_TASKS=45  BENCH_GPUS=3  BENCH_CUT_EVERY_MS=10000  BENCH_CUT_MS=2000  BENCH_WRITE=1|0
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogModels } from '../src/domain/catalog.js';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.js';
import { writeBenchSection } from './benchmarks-file.js';
import { getJson, postJson, until } from './http-json.js';
import { type QuietProcess, startQuiet } from './quiet-process.js';

const TASKS = Number(process.env['BENCH_TASKS'] ?? 45);
const GPUS = Number(process.env['BENCH_GPUS'] ?? 3);
const CUT_EVERY_MS = Number(process.env['BENCH_CUT_EVERY_MS'] ?? 10_000);
const CUT_MS = Number(process.env['BENCH_CUT_MS'] ?? 2_000);
/** 30 steps at 10 it/s: 3 s a task, long enough for a cut to land in the middle of one. */
const STEPS = 30;
const IT_PER_SECOND = 10;
const MODEL = catalogModels[1]!;

interface Figures {
  graceSeconds: number;
  makespan: number;
  made: number;
  failedAttempts: number;
  failedTasks: number;
  cuts: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(graceSeconds: number): Promise<Figures> {
  const dir = tempDir('dan-bench-flaky-').path;
  const processes: QuietProcess[] = [];
  const proxies: TcpProxy[] = [];
  const sandboxes: string[] = [];
  try {
    const port = await freePort();
    const gateway = `http://127.0.0.1:${port}`;
    const gatewayLog = join(dir, 'gateway.log');
    processes.push(await startQuiet(['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir, 'data'), '--resume-grace-s', String(graceSeconds), '--anonymous-max-tasks', '0', '--anonymous-rpm', '0'], { logFile: gatewayLog, readyUrl: `${gateway}/api/health` }));
    for (let i = 0; i < GPUS; i++) {
      const config = join(dir, `gpu-${i}.json`);
      writeFileSync(config, JSON.stringify({ models: [{ fileName: `${MODEL.name}.safetensors`, sha256: MODEL.sha256 }], loadedModel: `${MODEL.name}.safetensors` }));
      const sandboxPort = await freePort();
      const webui = `http://127.0.0.1:${sandboxPort}`;
      sandboxes.push(webui);
      processes.push(await startQuiet(['sandbox', '--port', String(sandboxPort), '--speed', '1', '--it-per-second', String(IT_PER_SECOND), '--config', config], { logFile: join(dir, `gpu-${i}-sandbox.log`), readyUrl: `${webui}/sdapi/v1/options` }));
      const proxy = await startTcpProxy({ host: '127.0.0.1', port });
      proxies.push(proxy);
      processes.push(await startQuiet(['node', '--gateway', `http://127.0.0.1:${proxy.port}`, '--webui', webui, '--name', `gpu-${i}`], { logFile: join(dir, `gpu-${i}.log`), readyUrl: `${webui}/sdapi/v1/options` }));
    }
    await until(async () => ((await getJson(`${gateway}/api/nodes`)).data as unknown[]).length === GPUS, 30_000);
    const started = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const answer = await postJson(`${gateway}/api/sd/txt2img/async`, { prompt: `flaky ${i}`, model: MODEL.sha256, steps: STEPS, seed: i });
      const taskId = (answer.data as { taskId?: string } | undefined)?.taskId;
      if (!taskId) throw new Error(`submit refused: ${JSON.stringify(answer)}`);
      ids.push(taskId);
    }
    // Each link drops for CUT_MS every CUT_EVERY_MS, the links out of step with one another.
    let cuts = 0;
    let done = false;
    const cutting = (async () => {
      while (!done) {
        for (const proxy of proxies) {
          if (done) break;
          await sleep(CUT_EVERY_MS / proxies.length);
          if (done) break;
          await proxy.cut();
          cuts += 1;
          void sleep(CUT_MS).then(() => proxy.restore());
        }
      }
    })();
    const ends = new Map<string, number>();
    await until(async () => {
      for (const id of ids) {
        if (ends.has(id)) continue;
        const status = (await getJson(`${gateway}/api/sd/task/${id}`)).data as { status: number };
        if (status.status >= 2) ends.set(id, status.status);
      }
      return ends.size === ids.length;
    }, 600_000, 500);
    const makespan = (performance.now() - started) / 1000;
    done = true;
    await cutting;
    const made = (await Promise.all(sandboxes.map(async (url) => ((await getJson(`${url}/sandbox/requests`)) as unknown as { requests: { path: string }[] }).requests.filter((r) => r.path === '/sdapi/v1/txt2img').length))).reduce((a, b) => a + b, 0);
    const log = readFileSync(gatewayLog, 'utf8').split('\n');
    const failedAttempts = log.filter((line) => line.includes('"msg":"task attempt failed"')).length;
    const failedTasks = [...ends.values()].filter((status) => status !== 2).length;
    return { graceSeconds, makespan, made, failedAttempts, failedTasks, cuts };
  } finally {
    for (const proxy of proxies) await proxy.close();
    for (const p of processes.reverse()) await p.stop();
  }
}

const figures: Figures[] = [];
for (const grace of [10, 0]) {
  const result = await run(grace);
  figures.push(result);
  console.log(JSON.stringify(result));
}
const ideal = (TASKS * STEPS) / IT_PER_SECOND / GPUS;
const rows = figures.map(
  (f) => `| ${f.graceSeconds === 0 ? 'given up at a drop (`--resume-grace-s 0`)' : `come back for it (\`--resume-grace-s ${f.graceSeconds}\`)`} | ${f.makespan.toFixed(1)} s | ${f.made} (${f.made - TASKS} twice) | ${f.failedAttempts} | ${f.failedTasks} | ${f.cuts} |`,
);
const section = [
  `**Nodes on flaky links** (\`npm run bench:flaky\`, ${new Date().toISOString().slice(0, 10)}): ${TASKS} txt2img tasks of ${STEPS / IT_PER_SECOND} s at once on ${GPUS} sandbox GPUs, each node behind a proxy that drops its connections for ${CUT_MS / 1000} s every ${CUT_EVERY_MS / 1000} s (the links out of step); the work alone takes ${ideal.toFixed(0)} s. Fresh processes per row.`,
  '',
  '| a node whose connection drops | makespan | images the WebUIs made | attempts failed | tasks failed | cuts |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
if (process.env['BENCH_WRITE'] !== '0') writeBenchSection('flaky', section);
console.log(section);
