/**
 * A gateway dies under load: `npm run bench:failover`.
 *
 * Real processes: two gateways sharing a PostgreSQL database (a schema of its own, dropped after), and per GPU
 * a sandbox and a node agent told both gateways (`--gateway A,B`: every node starts on A). Clients submit
 * every task to B. Once the first tasks run on A's nodes, A is killed (SIGKILL) in the middle of them. The
 * same tasks run twice on fresh networks: with the nodes carrying their work through the drop
 * (`--resume-grace-s 20`, the default: the node takes it to B, which takes it over) and without
 * (`--resume-grace-s 0`: the nodes give their tasks up at the drop, and A's running attempts are run again
 * once the database counts A gone). Reported: the makespan against the work alone, the images the WebUIs
 * made (beyond one per task: work done twice), the tasks B took over, tasks failed.
 *
 * Needs PostgreSQL (`DAN_TEST_DATABASE_URL`, else postgres://postgres@127.0.0.1:5432/test).
 * Knobs: BENCH_TASKS=24  BENCH_GPUS=3  BENCH_GRACES=20,0  BENCH_WRITE=1|0
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogModels } from '../src/domain/catalog.js';
import { freshSchema } from '../test/helpers/postgres.js';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { writeBenchSection } from './benchmarks-file.js';
import { getJson, postJson, until } from './http-json.js';
import { type QuietProcess, startQuiet } from './quiet-process.js';

const TASKS = Number(process.env['BENCH_TASKS'] ?? 24);
const GPUS = Number(process.env['BENCH_GPUS'] ?? 3);
const GRACES = (process.env['BENCH_GRACES'] ?? '20,0').split(',').map(Number);
/** 40 steps at 10 it/s: 4 s a task, long enough for the kill to land in the middle of one on every node. */
const STEPS = 40;
const IT_PER_SECOND = 10;
const MODEL = catalogModels[1]!;

interface Figures {
  graceSeconds: number;
  makespan: number;
  made: number;
  takenOver: number;
  failedTasks: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(graceSeconds: number): Promise<Figures> {
  const dir = tempDir('dan-bench-failover-').path;
  const schema = await freshSchema();
  const processes: QuietProcess[] = [];
  const sandboxes: string[] = [];
  try {
    const gateways: { url: string; log: string; process: QuietProcess }[] = [];
    for (const name of ['a', 'b']) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const log = join(dir, `gateway-${name}.log`);
      const args = ['gateway', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir, `data-${name}`), '--database', schema.url, '--resume-grace-s', String(graceSeconds), '--anonymous-max-tasks', '0', '--anonymous-rpm', '0'];
      const started = await startQuiet(args, { logFile: log, readyUrl: `${url}/api/health` });
      processes.push(started);
      gateways.push({ url, log, process: started });
    }
    const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    for (let i = 0; i < GPUS; i++) {
      const config = join(dir, `gpu-${i}.json`);
      writeFileSync(config, JSON.stringify({ models: [{ fileName: `${MODEL.name}.safetensors`, sha256: MODEL.sha256 }], loadedModel: `${MODEL.name}.safetensors` }));
      const sandboxPort = await freePort();
      const webui = `http://127.0.0.1:${sandboxPort}`;
      sandboxes.push(webui);
      processes.push(await startQuiet(['sandbox', '--port', String(sandboxPort), '--speed', '1', '--it-per-second', String(IT_PER_SECOND), '--config', config], { logFile: join(dir, `gpu-${i}-sandbox.log`), readyUrl: `${webui}/sdapi/v1/options` }));
      processes.push(await startQuiet(['node', '--gateway', `${a.url},${b.url}`, '--webui', webui, '--name', `gpu-${i}`], { logFile: join(dir, `gpu-${i}.log`), readyUrl: `${webui}/sdapi/v1/options` }));
    }
    await until(async () => ((await getJson(`${a.url}/api/nodes`)).data as { gateway?: string | null }[]).filter((n) => !n.gateway).length === GPUS, 30_000);
    const started = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const answer = await postJson(`${b.url}/api/sd/txt2img/async`, { prompt: `failover ${i}`, model: MODEL.sha256, steps: STEPS, seed: i });
      const taskId = (answer.data as { taskId?: string } | undefined)?.taskId;
      if (!taskId) throw new Error(`submit refused: ${JSON.stringify(answer)}`);
      ids.push(taskId);
    }
    // The first round of tasks runs on A's nodes; A dies halfway through the second.
    await sleep((1.5 * STEPS * 1000) / IT_PER_SECOND);
    a.process.child.kill('SIGKILL');
    const ends = new Map<string, number>();
    await until(async () => {
      for (const id of ids) {
        if (ends.has(id)) continue;
        const status = (await getJson(`${b.url}/api/sd/task/${id}`)).data as { status: number };
        if (status.status >= 2) ends.set(id, status.status);
      }
      return ends.size === ids.length;
    }, 600_000, 250);
    const makespan = (performance.now() - started) / 1000;
    const made = (await Promise.all(sandboxes.map(async (url) => ((await getJson(`${url}/sandbox/requests`)) as unknown as { requests: { path: string }[] }).requests.filter((r) => r.path === '/sdapi/v1/txt2img').length))).reduce((x, y) => x + y, 0);
    const takenOver = readFileSync(b.log, 'utf8').split('\n').filter((line) => line.includes('"msg":"task taken over from another gateway: its node brought it here"')).length;
    const failedTasks = [...ends.values()].filter((status) => status !== 2).length;
    return { graceSeconds, makespan, made, takenOver, failedTasks };
  } finally {
    for (const p of processes.reverse()) await p.stop();
    await schema.drop();
  }
}

const figures: Figures[] = [];
for (const grace of GRACES) {
  const result = await run(grace);
  figures.push(result);
  console.log(JSON.stringify(result));
}
const work = (TASKS * STEPS) / IT_PER_SECOND / GPUS;
const rows = figures.map(
  (f) =>
    `| ${f.graceSeconds === 0 ? 'given up at the drop (`--resume-grace-s 0`)' : `carried to the other gateway (\`--resume-grace-s ${f.graceSeconds}\`)`} | ${f.makespan.toFixed(1)} s | ${f.made} (${f.made - TASKS} twice) | ${f.takenOver} | ${f.failedTasks} |`,
);
const section = [
  `**A gateway dies under load** (\`npm run bench:failover\`, ${new Date().toISOString().slice(0, 10)}): two gateways on one PostgreSQL database, ${GPUS} sandbox GPUs whose nodes start on the first (\`--gateway A,B\`), ${TASKS} txt2img tasks of ${STEPS / IT_PER_SECOND} s submitted to the second; the first is killed (SIGKILL) halfway through the second round of tasks. The work alone takes ${work.toFixed(0)} s. Fresh processes per row.`,
  '',
  '| what a node does with its work when its gateway dies | makespan | images the WebUIs made | tasks taken over | tasks failed |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
if (process.env['BENCH_WRITE'] !== '0') writeBenchSection('failover', section);
console.log(section);
