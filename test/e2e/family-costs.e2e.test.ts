/**
 * What a step of each model family costs, learned by a real gateway from a real node beside the ComfyUI
 * sandbox, whose GPU takes a Flux.2 step at twice the gateway's first guess (`dan sandbox --step-costs`):
 * once the node has run both families a few times, the gateway prices Flux.2 work at what it costs there,
 * and the node's speed is not dragged down by its Flux.2 runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';
import { PRIOR_STEP_COSTS } from '../../src/domain/work-units.js';

const ADMIN = 'family-costs-admin-token';
/** What the sandbox's GPU takes for a Flux.2 step, in SD 1.5 steps at the same size: twice the first guess. */
const FLUX2_COST = 2 * PRIOR_STEP_COSTS.flux2;
const IT_PER_SECOND = 40;
/** Modelled time three times faster than real: an SD task's 0.74 s takes 250 ms, well over the node's fixed part. */
const SPEED = 3;

let gateway: string;
const processes: DanProcess[] = [];
const dir = tempDir();

beforeAll(async () => {
  const [sandbox, gw] = await Promise.all([
    startSandboxProcess({ flavor: 'comfyui', speed: SPEED, args: ['--it-per-second', String(IT_PER_SECOND), '--switch-seconds', '1', '--step-costs', `flux2=${FLUX2_COST}`] }),
    startGatewayProcess({ dataDir: `${dir.path}/data`, args: ['--admin-token', ADMIN] }),
  ]);
  const node = await startNodeProcess({ gateway: gw.url, comfyui: sandbox.url, name: 'mixed-gpu' });
  processes.push(sandbox.proc, gw.proc, node.proc);
  gateway = gw.url;
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  dir.remove();
});

async function stepCost(family: string): Promise<number> {
  const text = await (await fetch(`${gateway}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  return Number(new RegExp(`dan_family_step_cost\\{family="${family}"\\} (\\S+)`).exec(text)?.[1]);
}

// Images of one size: the node's time beyond sampling (rendering, PNG, transfer) grows with the pixels.
const sd = { prompt: 'a lighthouse', model: 'clarity', width: 256, height: 256, steps: 80, sampler_name: 'Euler' };
const flux2 = { prompt: 'a poster that reads DAN', model: 'flux2_dev_fp8mixed', width: 256, height: 256, steps: 6 };

describe('step costs by family, learned from a node that runs two', () => {
  it('prices Flux.2 at what its steps take on the GPU, SD 1.5 staying the unit', async () => {
    expect(await stepCost('flux2')).toBe(PRIOR_STEP_COSTS.flux2);
    // Three SD runs measure the node; then both families, each a few times (every run after a switch times its load apart).
    for (const body of [sd, sd, sd, flux2, flux2, sd, sd, flux2, flux2, sd, flux2]) {
      const answer = await postJson(`${gateway}/api/sd/txt2img`, body);
      expect(answer.status, JSON.stringify(answer.body).slice(0, 300)).toBe(200);
    }
    const learned = await stepCost('flux2');
    expect(learned).toBeGreaterThan(0.75 * FLUX2_COST);
    expect(learned).toBeLessThan(1.25 * FLUX2_COST);
    expect(await stepCost('sd15')).toBe(1);
    // The node's speed is its SD 1.5 it/s at 512² (its modelled GPU's, times the sandbox's speed), not an average
    // dragged down by steps that cost it twice what was guessed.
    const [node] = (await getJson(`${gateway}/api/nodes`)).body.data;
    expect(node.itPerSecond).toBeGreaterThan(0.7 * IT_PER_SECOND * SPEED);
  }, 60_000);
});
