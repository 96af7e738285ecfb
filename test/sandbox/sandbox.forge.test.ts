/**
 * The sandbox's Forge flavour: it lists its VAE and text-encoder files as
 * modules, takes Forge's fields, makes black images from the Flux UNet until
 * its three modules are loaded with it, notes a checkpoint POSTed to the
 * options and loads it at the next generation; the A1111 flavour refuses all
 * of Forge's fields.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { readPngText } from '../../src/sandbox/png-text.js';
import { getJson, postJson } from './sandbox-helpers.js';

const FLUX_MODULES = ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'];
const SD_VAE = 'vae-ft-mse-840000-ema-pruned.safetensors';
const flux = { prompt: 'a lighthouse', seed: 7, steps: 4, width: 64, height: 64, sampler_name: 'Euler', scheduler: 'Simple', cfg_scale: 1, distilled_cfg_scale: 3.5 };

/** The largest channel value of a base64 PNG: 0 for a black image. */
async function brightest(image: string): Promise<number> {
  const { data } = await sharp(Buffer.from(image, 'base64')).raw().toBuffer({ resolveWithObject: true });
  return data.reduce((most, value) => Math.max(most, value), 0);
}

describe('sandbox, Forge flavour', () => {
  let forge: Sandbox;
  let a1111: Sandbox;
  beforeAll(async () => {
    [forge, a1111] = await Promise.all([startSandbox({ speed: Infinity, flavor: 'forge' }), startSandbox({ speed: Infinity })]);
  });
  afterAll(async () => {
    await Promise.all([forge.close(), a1111.close()]);
  });

  it('lists its modules (A1111 has no such route) and Flux.1-dev among its checkpoints', async () => {
    const modules = await getJson(`${forge.url}/sdapi/v1/sd-modules`);
    expect(modules.body.map((m: { model_name: string }) => m.model_name)).toEqual([...FLUX_MODULES, SD_VAE]);
    expect(modules.body[0].filename).toMatch(/\/models\/VAE\/ae\.safetensors$/);
    expect((await fetch(`${a1111.url}/sdapi/v1/sd-modules`)).status).toBe(404);
    expect((await getJson(`${forge.url}/sdapi/v1/sd-models`)).body.map((m: { title: string }) => m.title)).toContain('flux1-dev.safetensors');
  });

  it('makes black images from the Flux UNet without its modules, and real ones with them, writing the distilled guidance', async () => {
    const without = await postJson(`${forge.url}/sdapi/v1/txt2img`, { ...flux, override_settings: { sd_model_checkpoint: 'flux1-dev.safetensors', forge_additional_modules: [] } });
    expect(without.status).toBe(200);
    expect(await brightest(without.body.images[0])).toBe(0);
    const withModules = await postJson(`${forge.url}/sdapi/v1/txt2img`, {
      ...flux,
      // By path, as Forge takes them too.
      override_settings: { sd_model_checkpoint: 'flux1-dev.safetensors', forge_additional_modules: FLUX_MODULES.map((m) => `/opt/forge/models/x/${m}`) },
      override_settings_restore_afterwards: false,
    });
    expect(withModules.status).toBe(200);
    expect(await brightest(withModules.body.images[0])).toBeGreaterThan(0);
    expect(readPngText(Buffer.from(withModules.body.images[0], 'base64'))['parameters']).toContain('CFG scale: 1.0, Distilled CFG Scale: 3.5,');
    // Kept (not restored): the next job without modules named still has them.
    const next = await postJson(`${forge.url}/sdapi/v1/txt2img`, { ...flux, override_settings: { sd_model_checkpoint: 'flux1-dev.safetensors' } });
    expect(await brightest(next.body.images[0])).toBeGreaterThan(0);
  });

  it('fails a hires job that names no modules for its second pass, as Forge\'s API does', async () => {
    const hires = { prompt: 'x', steps: 2, width: 64, height: 64, enable_hr: true, hr_scale: 2, hr_upscaler: 'Latent', denoising_strength: 0.5 };
    const failed = await postJson(`${forge.url}/sdapi/v1/txt2img`, hires);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ error: 'TypeError', errors: "argument of type 'NoneType' is not iterable" });
    const ok = await postJson(`${forge.url}/sdapi/v1/txt2img`, { ...hires, hr_additional_modules: ['Use same choices'] });
    expect(ok.status).toBe(200);
  });

  it('refuses a module it does not list, by name', async () => {
    const answer = await postJson(`${forge.url}/sdapi/v1/txt2img`, { ...flux, override_settings: { forge_additional_modules: ['t5xxl_fp8.safetensors'] } });
    expect(answer.status).toBe(422);
    expect(answer.body.detail[0]).toMatchObject({ loc: ['body', 'override_settings', 'forge_additional_modules', 0], msg: expect.stringContaining('"t5xxl_fp8.safetensors" is not a module') });
  });

  it('takes a checkpoint POSTed to the options without loading it: the next generation pays the load', async () => {
    const models = (await getJson(`${forge.url}/sdapi/v1/sd-models`)).body as { title: string; filename: string }[];
    const other = models.find((m) => m.title !== 'flux1-dev.safetensors' && !m.filename.endsWith(`/${forge.stats().loadedModel}`))!;
    const switches = forge.stats().checkpointSwitches;
    expect((await postJson(`${forge.url}/sdapi/v1/options`, { sd_model_checkpoint: other.title, forge_additional_modules: [] })).status).toBe(200);
    expect(forge.stats().checkpointSwitches).toBe(switches);
    expect((await postJson(`${forge.url}/sdapi/v1/txt2img`, { prompt: 'x', steps: 2, width: 64, height: 64 })).status).toBe(200);
    expect(forge.stats().checkpointSwitches).toBe(switches + 1);
    expect(other.filename.endsWith(`/${forge.stats().loadedModel}`)).toBe(true);
  });

  it('is refused Forge\'s fields as an A1111 WebUI', async () => {
    for (const [field, value] of [['distilled_cfg_scale', 3], ['hr_cfg', 3], ['hr_distilled_cfg', 3], ['hr_additional_modules', ['Use same choices']]] as const) {
      const answer = await postJson(`${a1111.url}/sdapi/v1/txt2img`, { prompt: 'x', steps: 2, width: 64, height: 64, [field]: value });
      expect(answer.status, field).toBe(422);
      expect(answer.body.detail[0]).toMatchObject({ loc: ['body', field], msg: expect.stringContaining('a Forge field') });
    }
    const modules = await postJson(`${a1111.url}/sdapi/v1/txt2img`, { prompt: 'x', steps: 2, width: 64, height: 64, override_settings: { forge_additional_modules: [] } });
    expect(modules.status).toBe(422);
    expect((await postJson(`${a1111.url}/sdapi/v1/options`, { forge_additional_modules: [] })).status).toBe(422);
  });
});
