/**
 * A LoRA the gateway's catalog does not list, whose family its file's metadata tells (as a WebUI lists it):
 * real gateway, node and sandbox processes, the node speaking protocol 5. A request that pairs it with a
 * model of another family is refused naming it; one of its own family runs.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const processes: DanProcess[] = [];
const dir = tempDir();
let gateway: string;

beforeAll(async () => {
  const config = `${dir.path}/offerings.json`;
  writeFileSync(config, JSON.stringify({
    models: [{ fileName: 'clarity.safetensors', sha256: null }],
    loras: [
      // kohya's key for an SDXL LoRA, and the ModelSpec one for an SD 1.5 LoRA; the third says nothing.
      { fileName: 'inkwash_xl.safetensors', metadata: { ss_base_model_version: 'sdxl_base_v1-0', ss_network_dim: '32' } },
      { fileName: 'paperCut_v2.safetensors', metadata: { 'modelspec.architecture': 'stable-diffusion-v1/lora' } },
      { fileName: 'mystery.safetensors' },
    ],
  }));
  const [sb, gw] = await Promise.all([startSandboxProcess({ speed: 1000, config }), startGatewayProcess({ dataDir: `${dir.path}/data`, args: ['--auth', 'off'] })]);
  const node = await startNodeProcess({ gateway: gw.url, webui: sb.url, name: 'lora-node' });
  processes.push(sb.proc, gw.proc, node.proc);
  gateway = gw.url;
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  dir.remove();
});

describe('a node\'s LoRAs of a known family', () => {
  it('are listed with their family, checked against the model, and run with one of theirs', async () => {
    await expect
      .poll(async () => Object.fromEntries(((await getJson(`${gateway}/api/sd/supportedModelInfo`)).body.data.LoRAs as { name: string; family: string | null }[]).map((l) => [l.name, l.family])), { timeout: 10_000 })
      .toMatchObject({ inkwash_xl: 'sdxl', paperCut_v2: 'sd15', mystery: null });
    const refused = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a harbour', model: 'clarity', loras: [['inkwash_xl', 0.8]], width: 64, height: 64, steps: 4 });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ message: expect.stringMatching(/loras\[0\].*inkwash_xl is a LoRA for SDXL models; clarity is an SD 1\.5 model/) });
    for (const lora of ['paperCut_v2', 'mystery']) {
      const done = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a harbour', model: 'clarity', loras: [[lora, 0.8]], width: 64, height: 64, steps: 4 });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
    }
  });
});
