/**
 * A node that reads its checkpoints' families from their files: real gateway, node and sandbox
 * processes, the sandbox a Forge stand-in whose listings give the paths of real (tiny, synthetic)
 * safetensors files in a temporary directory, as a WebUI on the node's machine does. Nobody names a
 * family: the node reads a Flux file and an SDXL one whose names say nothing, and the gateway then
 * serves the Flux one as Flux (its modules named to Forge, the image not black).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';
import { fluxTensors, sdxlTensors, writeSafetensors } from '../helpers/safetensors.js';

let gateway: string;
let forge: string;
const processes: DanProcess[] = [];
const dir = tempDir();

beforeAll(async () => {
  const checkpoints = join(dir.path, 'webui', 'models', 'Stable-diffusion');
  mkdirSync(checkpoints, { recursive: true });
  writeSafetensors(join(checkpoints, 'mystery.safetensors'), fluxTensors());
  writeSafetensors(join(checkpoints, 'bigMix.safetensors'), sdxlTensors);
  const config = join(dir.path, 'forge.json');
  writeFileSync(
    config,
    JSON.stringify({
      webuiDir: join(dir.path, 'webui'),
      // A Flux UNet alone: black images unless Forge is given its VAE and text encoders.
      models: [
        { fileName: 'bigMix.safetensors', sha256: null },
        { fileName: 'mystery.safetensors', sha256: null, needsModules: true },
      ],
    }),
  );
  const [sb, gw] = await Promise.all([startSandboxProcess({ flavor: 'forge', speed: 1000, config }), startGatewayProcess({ dataDir: `${dir.path}/data` })]);
  processes.push(sb.proc, gw.proc);
  forge = sb.url;
  gateway = gw.url;
  processes.push((await startNodeProcess({ gateway, webui: forge, name: 'forge-reader' })).proc);
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  dir.remove();
});

describe('a node beside a WebUI on its machine', () => {
  it('knows the families of checkpoints nobody named, from their files, and runs the Flux one as Flux', async () => {
    const models = (await getJson(`${gateway}/api/sd/supportedModelInfo`)).body.data.Models as { name: string; family: string | null }[];
    expect(models.find((m) => m.name === 'mystery')?.family).toBe('flux');
    expect(models.find((m) => m.name === 'bigMix')?.family).toBe('sdxl');
    const answer = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a lighthouse at dusk', model: 'mystery', width: 512, height: 512, steps: 4, seed: 3 });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const { data } = await sharp(Buffer.from(answer.body.data.images[0] as string, 'base64')).raw().toBuffer({ resolveWithObject: true });
    expect(data.some((value) => value > 0)).toBe(true);
    const { body } = await getJson(`${forge}/sandbox/requests`);
    const sent = body.requests.filter((r: any) => r.path === '/sdapi/v1/txt2img' && r.status === 200).at(-1).body;
    expect(sent).toMatchObject({ cfg_scale: 1, distilled_cfg_scale: 3.5, override_settings: { forge_additional_modules: ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'] } });
  });
});
