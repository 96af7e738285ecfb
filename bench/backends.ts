/**
 * What each backend driver costs per task: `npm run bench:backends`.
 *
 * In this process, the A1111 driver against the A1111 sandbox and the ComfyUI
 * driver against the ComfyUI sandbox, both at full speed (no simulated GPU
 * time), run the same txt2img tasks one after another, in rounds that
 * alternate the two so both meet the same machine. A task's time is the
 * driver's `run`, from the spec to the result's PNG: for A1111 one HTTP
 * request; for ComfyUI a websocket opened, the graph queued, its events
 * followed, the history read and the image fetched. Both sandboxes render the
 * same pattern PNG, so the difference is the drivers' and the protocols' own
 * work. Two sizes: 512² (an SD 1.5 task) and 1024² (SDXL).
 *
 * BENCH_ROUNDS and BENCH_PER_ROUND change the run.
 */
import type { BackendDriver } from '../src/node/backend-driver.js';
import { A1111Driver } from '../src/node/backends/a1111/a1111-driver.js';
import { ComfyUIDriver } from '../src/node/backends/comfyui/comfyui-driver.js';
import { bindSpec } from '../src/domain/binding.js';
import { toNodeOffering } from '../src/domain/offering.js';
import type { Txt2ImgSpec } from '../src/domain/spec.js';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { writeBenchSection } from './benchmarks-file.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4);
const PER_ROUND = Number(process.env['BENCH_PER_ROUND'] ?? 40);
const WARMUP = 10;

interface Backend {
  name: string;
  sandbox: Sandbox;
  driver: BackendDriver;
  run(seed: number, side: number): Promise<void>;
}

async function backend(name: string, flavor: 'a1111' | 'comfyui'): Promise<Backend> {
  const sandbox = await startSandbox({ flavor, speed: Infinity });
  const options = { baseUrl: sandbox.url, maxPixels: 2048 * 2048 };
  const driver: BackendDriver = flavor === 'comfyui' ? new ComfyUIDriver(options) : new A1111Driver(options);
  const offering = toNodeOffering((await driver.discover()).capabilities);
  const model = [...offering.models.values()].find((m) => m.ref.name === 'clarity')!.ref;
  const base: Txt2ImgSpec = { kind: 'txt2img', prompt: 'a red fox', negativePrompt: '', seed: 1, sampler: 'Euler a', steps: 20, cfgScale: 7, width: 512, height: 512, model, loras: [], controlNet: [], hires: null };
  const bound = bindSpec(base, offering);
  if (!bound.ok) throw new Error(`${name}: cannot bind: ${bound.missing.join(', ')}`);
  return {
    name,
    sandbox,
    driver,
    async run(seed, side) {
      const { result } = await driver.run({ ...base, seed, width: side, height: side }, bound.binding);
      if (result.kind !== 'images' || result.images.length !== 1) throw new Error(`${name}: no image`);
    },
  };
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<void> {
  const backends = [await backend('A1111 driver → A1111 sandbox', 'a1111'), await backend('ComfyUI driver → ComfyUI sandbox', 'comfyui')];
  try {
    const rows: string[] = [];
    for (const side of [512, 1024]) {
      const times = new Map<string, number[]>(backends.map((b) => [b.name, []]));
      let seed = 1000;
      for (const b of backends) for (let i = 0; i < WARMUP; i++) await b.run(seed++, side);
      for (let round = 0; round < ROUNDS; round++) {
        for (const b of backends) {
          for (let i = 0; i < PER_ROUND; i++) {
            const started = performance.now();
            await b.run(seed++, side);
            times.get(b.name)!.push(performance.now() - started);
          }
        }
      }
      const a1111 = [...times.values()][0]!.sort((x, y) => x - y);
      for (const b of backends) {
        const sorted = times.get(b.name)!.sort((x, y) => x - y);
        const extra = quantile(sorted, 0.5) - quantile(a1111, 0.5);
        rows.push(`| ${side}² | ${b.name} | ${sorted.length} | ${quantile(sorted, 0.5).toFixed(1)} | ${quantile(sorted, 0.99).toFixed(1)} | ${b === backends[0] ? '–' : `${extra >= 0 ? '+' : ''}${extra.toFixed(1)}`} |`);
      }
    }
    const section = [
      '## Backend drivers: what a task costs the node, A1111 and ComfyUI',
      '',
      `\`npm run bench:backends\` (${new Date().toISOString().slice(0, 10)}): each driver runs txt2img tasks one after another against its sandbox at full speed`,
      `(no GPU time), ${ROUNDS} rounds of ${PER_ROUND} tasks alternating the two, after ${WARMUP} to warm up. Times in ms, from the spec to the result's`,
      'PNG, as the node agent sees them; both sandboxes render the same pattern, so the difference is the drivers\' and protocols\' own work',
      '(ComfyUI: a websocket per task, the graph queued and followed, the history read, the image fetched; A1111: one request).',
      '',
      '| size | driver → backend | tasks | p50 | p99 | p50 over A1111 |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
    console.log(section);
    writeBenchSection('backends', section);
  } finally {
    for (const b of backends) await b.sandbox.close();
  }
}

await main();
