/**
 * The ComfyUI sandbox's time model by model family, on a fake clock: a step
 * of a family costs its `stepCosts` figure times an SD 1.5 step at the same
 * size, the gateway's first guesses unless the sandbox is given others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Txt2ImgSpec } from '../../src/domain/spec.js';
import { buildGraph } from '../../src/node/backends/comfyui/graph-builder.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { PRIOR_STEP_COSTS } from '../../src/domain/work-units.js';
import { startComfyWorld, type ComfyWorld } from '../helpers/comfy-world.js';
import { clarity, txt2img } from '../helpers/specs.js';
import { ModelledTime } from './modelled-time.js';

/** Modelled time runs this much faster on the sandbox's clock. */
const SPEED = 10;
const IT_PER_SECOND = 15;
const STEPS = 4;
const SIDE = 256;
/** Clock milliseconds of the sampling waits of `STEPS` steps at `SIDE`², each step `cost` SD 1.5 steps. */
const samplingMs = (cost: number) => (STEPS * ((SIDE * SIDE) / 512 ** 2) ** 0.72 * cost * 1000) / IT_PER_SECOND / SPEED;

let world: ComfyWorld;
beforeAll(async () => {
  // Discovery and bindings come from a sandbox of its own; the graphs run on the timed ones.
  world = await startComfyWorld();
});
afterAll(() => world.sandbox.close());

/** Runs `spec`'s graph on `sandbox` and answers the milliseconds of its sampling waits. */
async function samplingOf(time: ModelledTime, sandbox: Sandbox, spec: Txt2ImgSpec): Promise<number> {
  const { graph } = buildGraph(spec, world.bind(spec), world.discovery.inventory, {}, 7);
  const queued = fetch(`${sandbox.url}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: graph.nodes }) });
  const { waits } = await time.finish(
    (async () => {
      const { prompt_id: id } = (await (await queued).json()) as { prompt_id: string };
      for (;;) {
        const history = (await (await fetch(`${sandbox.url}/history/${id}`)).json()) as Record<string, unknown>;
        if (history[id]) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })(),
  );
  return waits.filter((w) => w.kind === 'sampling').reduce((sum, w) => sum + w.ms, 0);
}

describe('ComfyUI sandbox: a step costs by model family', () => {
  const sd15 = () => txt2img({ model: clarity, width: SIDE, height: SIDE, steps: STEPS, sampler: 'Euler' });
  const flux2 = () => txt2img({ model: world.model('flux2_dev_fp8mixed.safetensors'), negativePrompt: '', cfgScale: 1, guidance: 4, width: SIDE, height: SIDE, steps: STEPS, sampler: 'Euler' });

  it('charges the gateway\'s first guesses by default, and the figures it is given otherwise', async () => {
    const time = new ModelledTime();
    const guessed = await time.start({ flavor: 'comfyui', speed: SPEED, itPerSecond: IT_PER_SECOND, switchSeconds: 0 });
    const given = await time.start({ flavor: 'comfyui', speed: SPEED, itPerSecond: IT_PER_SECOND, switchSeconds: 0, stepCosts: { flux2: 30 } });
    try {
      expect(await samplingOf(time, guessed, sd15())).toBeCloseTo(samplingMs(1), 6);
      expect(await samplingOf(time, guessed, flux2())).toBeCloseTo(samplingMs(PRIOR_STEP_COSTS.flux2), 6);
      expect(await samplingOf(time, given, sd15())).toBeCloseTo(samplingMs(1), 6);
      expect(await samplingOf(time, given, flux2())).toBeCloseTo(samplingMs(30), 6);
    } finally {
      await Promise.all([guessed.close(), given.close()]);
    }
  });
});
