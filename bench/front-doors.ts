/**
 * What each front door costs over DAN's own endpoint: `npm run bench:front-doors`
 * (also the last part of `npm run bench`).
 *
 * Fresh processes: a gateway (SQLite), a sandbox at full speed (no simulated
 * GPU time) and a node agent. One client in this process sends sequential sync
 * requests for the same 64×64 txt2img over one kept-alive connection, in
 * rounds that alternate the doors (DAN `POST /api/sd/txt2img`, OpenAI
 * `POST /v1/images/generations`, WebUI `POST /sdapi/v1/txt2img`), so every
 * door meets the same machine. Each
 * request's time is the client's, from send to the whole answer: the door's
 * overhead is its p50 (and p99) against DAN's in the same run. The GPU part is
 * the same for all and near zero at this speed, so what differs is the doors'
 * own work: translating the request, and the answer's shape.
 *
 * BENCH_ROUNDS and BENCH_PER_ROUND change the run.
 */
import { Agent } from 'node:http';
import { join } from 'node:path';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { makeBenchKeys } from './bench-keys.js';
import { writeBenchSection } from './benchmarks-file.js';
import { startQuiet } from './quiet-process.js';
import { wholeAnswer } from './whole-answer.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 6);
const PER_ROUND = Number(process.env['BENCH_PER_ROUND'] ?? 150);
const WARMUP = 50;

interface Door {
  name: string;
  path: string;
  body: unknown;
  /** Whether the answer holds an image (the door answered as it should). */
  answered: (json: unknown) => boolean;
}

const prompt = { prompt: 'a red fox', steps: 20, seed: 42 };
const DOORS: Door[] = [
  { name: 'DAN `POST /api/sd/txt2img`', path: '/api/sd/txt2img', body: { ...prompt, model: 'clarity', width: 64, height: 64 }, answered: (j) => (j as { data?: { images?: unknown[] } }).data?.images?.length === 1 },
  { name: 'OpenAI `POST /v1/images/generations`', path: '/v1/images/generations', body: { ...prompt, model: 'clarity', size: '64x64' }, answered: (j) => (j as { data?: { b64_json?: string }[] }).data?.[0]?.b64_json !== undefined },
  {
    name: 'WebUI `POST /sdapi/v1/txt2img`',
    path: '/sdapi/v1/txt2img',
    body: { ...prompt, width: 64, height: 64, override_settings: { sd_model_checkpoint: 'clarity' } },
    answered: (j) => (j as { images?: unknown[] }).images?.length === 1,
  },
];

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

async function timeDoor(gateway: string, door: Door, count: number, key: string): Promise<number[]> {
  const body = JSON.stringify(door.body);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const answer = await wholeAnswer(`${gateway}${door.path}`, { agent, key, body });
    times.push(performance.now() - t0);
    const json = JSON.parse(answer.toString('utf8')) as unknown;
    if (!door.answered(json)) throw new Error(`${door.name} did not answer with an image: ${answer.toString('utf8').slice(0, 300)}`);
  }
  return times;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<void> {
  const data = tempDir('dan-bench-doors-');
  const [gatewayPort, sandboxPort] = [await freePort(), await freePort()];
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  const sandbox = `http://127.0.0.1:${sandboxPort}`;
  const key = (await makeBenchKeys(data.path, ['doors'])).get('doors')!;
  const processes = [
    await startQuiet(['gateway', '--port', String(gatewayPort), '--host', '127.0.0.1', '--data', data.path], { logFile: join(data.path, 'gateway.log'), readyUrl: `${gateway}/api/health` }),
    await startQuiet(['sandbox', '--port', String(sandboxPort), '--speed', '1e9'], { logFile: join(data.path, 'sandbox.log'), readyUrl: `${sandbox}/sdapi/v1/progress` }),
  ];
  processes.push(await startQuiet(['node', '--gateway', gateway, '--webui', sandbox, '--name', 'bench'], { logFile: join(data.path, 'node.log'), readyUrl: `${gateway}/readyz` }));
  try {
    for (const door of DOORS) await timeDoor(gateway, door, WARMUP, key);
    const times = new Map<Door, number[]>(DOORS.map((door) => [door, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Each round in another order: neither door always runs first after the other's garbage.
      const order = DOORS.map((_, i) => DOORS[(i + round) % DOORS.length]!);
      for (const door of order) times.get(door)!.push(...(await timeDoor(gateway, door, PER_ROUND, key)));
    }
    const rows = DOORS.map((door) => {
      const sorted = times.get(door)!.sort((a, b) => a - b);
      return { door, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
    });
    const base = rows[0]!;
    const table = rows.map((row) => {
      const over = row === base ? '–' : `${(row.p50 - base.p50).toFixed(2)} ms (${(row.p50 / base.p50).toFixed(2)} ×)`;
      return `| ${row.door.name} | ${row.p50.toFixed(2)} / ${row.p99.toFixed(2)} | ${over} |`;
    });
    const section = [
      '## Front doors: what the OpenAI- and WebUI-compatible APIs cost over DAN\'s own',
      '',
      `Command: \`npm run bench:front-doors\` (fresh processes: a gateway on SQLite, a sandbox at full speed, a node; one client sends sequential sync requests for the same 64×64 txt2img over one kept-alive connection, ${ROUNDS} rounds of ${PER_ROUND} per door alternating, after ${WARMUP} each to warm up; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Client time from send to the whole answer, ms.`,
      '',
      '| door | p50 / p99 | over DAN\'s, p50 |',
      '| --- | --- | --- |',
      ...table,
    ].join('\n');
    console.log(section);
    writeBenchSection('front-doors', section);
  } finally {
    for (const process of processes.reverse()) await process.stop();
    data.remove();
  }
}

await main();
