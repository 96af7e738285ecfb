/**
 * A node beside a Forge WebUI: real gateway, node and sandbox processes (the
 * sandbox's Forge flavour: A1111's API, its modules, Flux.1-dev as a UNet-only
 * file that makes black images without its VAE and text encoders). The GPU
 * owner names the Flux file's family; the network then serves Flux there, with
 * Forge's fields, and SD models with the modules cleared and the hires pass at
 * the task's CFG.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, imageInfo, postJson } from '../helpers/api-client.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

let gateway: string;
let forge: string;
const processes: DanProcess[] = [];
const dir = tempDir();

beforeAll(async () => {
  const [sb, gw] = await Promise.all([startSandboxProcess({ flavor: 'forge', speed: 1000 }), startGatewayProcess({ dataDir: `${dir.path}/data` })]);
  processes.push(sb.proc, gw.proc);
  forge = sb.url;
  gateway = gw.url;
  processes.push((await startNodeProcess({ gateway, webui: forge, name: 'forge-node', args: ['--model-family', 'flux1-dev.safetensors=flux'] })).proc);
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  dir.remove();
});

/** The generation bodies the sandbox took, in order. */
async function generations(): Promise<Record<string, any>[]> {
  const { body } = await getJson(`${forge}/sandbox/requests`);
  return body.requests.filter((r: any) => r.path === '/sdapi/v1/txt2img' && r.status === 200).map((r: any) => r.body);
}

async function brightest(image: string): Promise<number> {
  const { data } = await sharp(Buffer.from(image, 'base64')).raw().toBuffer({ resolveWithObject: true });
  return data.reduce((most, value) => Math.max(most, value), 0);
}

describe('a Forge node', () => {
  it('serves Flux: the VAE and text encoders named, the distilled guidance and the Simple schedule sent, the image not black', async () => {
    const models = (await getJson(`${gateway}/api/sd/supportedModelInfo`)).body.data.Models as { name: string; family: string | null; available: boolean }[];
    expect(models.find((m) => m.name === 'flux1-dev')).toMatchObject({ family: 'flux', available: true });
    const answer = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a lighthouse at dusk', model: 'flux1-dev', width: 512, height: 512, steps: 4, guidance: 2.5, seed: 3 });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const image = answer.body.data.images[0] as string;
    expect(await imageInfo(image)).toMatchObject({ width: 512, height: 512 });
    expect(await brightest(image)).toBeGreaterThan(0);
    expect((await generations()).at(-1)).toMatchObject({
      cfg_scale: 1,
      distilled_cfg_scale: 2.5,
      sampler_name: 'Euler',
      scheduler: 'Simple',
      negative_prompt: '',
      override_settings: { sd_model_checkpoint: 'flux1-dev.safetensors', forge_additional_modules: ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'] },
    });
  });

  it('warns a GPU owner who named no family for a file that looks like Flux, with the fix', async () => {
    const unnamed = await startNodeProcess({ gateway, webui: forge, name: 'forge-unnamed' });
    processes.push(unnamed.proc);
    const warned = await unnamed.proc.waitForLog((l) => l.msg.includes('looks like a Flux model'));
    expect(warned.msg).toContain('start the node with --model-family flux1-dev.safetensors=flux');
    expect(processes[2]!.lines.some((l) => l.msg.includes('looks like a Flux model'))).toBe(false);
    await unnamed.proc.stop();
  });

  it('runs an SD model with no modules, and its hires pass at the task\'s CFG (Forge\'s API would default it to 1)', async () => {
    const answer = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a red fox', model: 'clarity', width: 256, height: 256, steps: 4, cfg_scale: 6, upscale: { scale: 2, upscaler: 'Latent', denoising_strength: 0.5 } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(await imageInfo(answer.body.data.images[0])).toMatchObject({ width: 512, height: 512 });
    const sent = (await generations()).at(-1)!;
    expect(sent).toMatchObject({ cfg_scale: 6, hr_cfg: 6, hr_additional_modules: ['Use same choices'], override_settings: { forge_additional_modules: [] } });
    expect(sent).not.toHaveProperty('distilled_cfg_scale');
  });
});
