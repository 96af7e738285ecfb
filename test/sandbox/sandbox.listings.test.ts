import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultOfferings, loadSandboxOfferings, startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { getJson, postJson } from './sandbox-helpers.js';

describe('sandbox listings', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ speed: Infinity });
  });
  afterAll(() => sandbox.close());

  it('lists the catalog checkpoints under their download file names with A1111 titles', async () => {
    const { status, body } = await getJson(`${sandbox.url}/sdapi/v1/sd-models`);
    expect(status).toBe(200);
    expect(body).toHaveLength(3);
    expect(body[0]).toEqual({
      title: 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]',
      model_name: 'chilloutmix_NiPrunedFp32Fix',
      hash: '3a17d0deff',
      sha256: '3a17d0deffa4592fd91c711a798031a258ab44041809ade8b4591c0225ea9401',
      filename: expect.stringMatching(/^\/.*\/chilloutmix_NiPrunedFp32Fix\.safetensors$/),
      config: null,
    });
  });

  it('lists LoRAs by stem with alias, path and metadata', async () => {
    const { body } = await getJson(`${sandbox.url}/sdapi/v1/loras`);
    expect(body.map((l: { name: string }) => l.name)).toContain('koreandolllikeness_V10');
    expect(body[0]).toEqual({ name: body[0].name, alias: body[0].name, path: expect.stringContaining('/Lora/'), metadata: {} });
  });

  it('lists v1.10 samplers with string options and the scheduler table', async () => {
    const samplers = (await getJson(`${sandbox.url}/sdapi/v1/samplers`)).body;
    expect(samplers[0]).toEqual({ name: 'DPM++ 2M', aliases: ['k_dpmpp_2m'], options: { scheduler: 'karras' } });
    expect(samplers.find((s: { name: string }) => s.name === 'Heun').options).toEqual({ second_order: 'True' });
    const schedulers = (await getJson(`${sandbox.url}/sdapi/v1/schedulers`)).body;
    expect(schedulers).toContainEqual({ name: 'karras', label: 'Karras', aliases: null, default_rho: 7, need_inner_model: false });
    expect(schedulers).toContainEqual(expect.objectContaining({ name: 'sgm_uniform', aliases: ['SGMUniform'] }));
  });

  it('lists upscalers and the six latent modes', async () => {
    const upscalers = (await getJson(`${sandbox.url}/sdapi/v1/upscalers`)).body;
    expect(upscalers.map((u: { name: string }) => u.name)).toEqual(defaultOfferings.upscalers);
    expect(Object.keys(upscalers[0]).sort()).toEqual(['model_name', 'model_path', 'model_url', 'name', 'scale']);
    const modes = (await getJson(`${sandbox.url}/sdapi/v1/latent-upscale-modes`)).body;
    expect(modes).toHaveLength(6);
    expect(modes[0]).toEqual({ name: 'Latent' });
  });

  it('answers the ControlNet listing routes', async () => {
    expect((await getJson(`${sandbox.url}/controlnet/version`)).body).toEqual({ version: 3 });
    expect((await getJson(`${sandbox.url}/controlnet/model_list`)).body.model_list).toContain('control_v11p_sd15_canny [d14c016b]');
    const modules = (await getJson(`${sandbox.url}/controlnet/module_list`)).body;
    expect(modules.module_list).toContain('canny');
    expect(modules.module_detail.canny.sliders.map((s: { name: string }) => s.name)).toEqual(['Resolution', 'Low Threshold', 'High Threshold']);
    expect((await getJson(`${sandbox.url}/controlnet/settings`)).body).toEqual({ control_net_unit_count: 3 });
  });

  it('shows the loaded checkpoint in /options and refuses an unknown one with A1111s RuntimeError', async () => {
    const options = (await getJson(`${sandbox.url}/sdapi/v1/options`)).body;
    expect(options.sd_model_checkpoint).toBe('chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]');
    expect(options.sd_checkpoint_hash).toBe(defaultOfferings.models[0]?.sha256);
    const refused = await postJson(`${sandbox.url}/sdapi/v1/options`, { sd_model_checkpoint: 'nope.safetensors' });
    expect(refused).toEqual({
      status: 500,
      body: { error: 'RuntimeError', detail: '', body: '', errors: "model 'nope.safetensors' not found" },
    });
  });

  it('is idle on /progress and answers ping and unknown routes like FastAPI', async () => {
    const progress = (await getJson(`${sandbox.url}/sdapi/v1/progress`)).body;
    expect(progress).toMatchObject({ progress: 0, eta_relative: 0, state: { job_count: 0 }, current_image: null });
    expect((await getJson(`${sandbox.url}/internal/ping`)).body).toEqual({});
    expect(await getJson(`${sandbox.url}/sdapi/v1/nothing`)).toEqual({ status: 404, body: { detail: 'Not Found' } });
  });
});

describe('sandbox offerings', () => {
  it('has no /controlnet routes and refuses controlnet units when ControlNet is not offered', async () => {
    const sandbox = await startSandbox({ speed: Infinity, offerings: { controlNet: null } });
    try {
      expect((await getJson(`${sandbox.url}/controlnet/model_list`)).status).toBe(404);
      const res = await postJson(`${sandbox.url}/sdapi/v1/txt2img`, { alwayson_scripts: { controlnet: { args: [] } } });
      expect(res.status).toBe(422);
      expect(res.body.detail).toBe('always on script controlnet not found');
    } finally {
      await sandbox.close();
    }
  });

  it('lists a model without a known sha256 by file name only', async () => {
    const sandbox = await startSandbox({ speed: Infinity, offerings: { models: [{ fileName: 'mine.ckpt', sha256: null }] } });
    try {
      const [model] = (await getJson(`${sandbox.url}/sdapi/v1/sd-models`)).body;
      expect(model).toMatchObject({ title: 'mine.ckpt', model_name: 'mine', hash: null, sha256: null });
      expect(sandbox.stats().loadedModel).toBe('mine.ckpt');
    } finally {
      await sandbox.close();
    }
  });

  it('loads offerings from a JSON file and refuses unknown keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dan-sandbox-'));
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ samplers: ['Euler'], loadedModel: 'clarity.safetensors' }));
    expect(await loadSandboxOfferings(good)).toEqual({ samplers: ['Euler'], loadedModel: 'clarity.safetensors' });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ sampler: ['Euler'] }));
    await expect(loadSandboxOfferings(bad)).rejects.toThrow(/sampler/);
  });

  it('refuses a loadedModel that is not offered', async () => {
    await expect(startSandbox({ offerings: { loadedModel: 'missing.safetensors' } })).rejects.toThrow(/loadedModel/);
  });
});

describe('fault injection (test instrument only)', () => {
  it('fails the next n jobs as an out-of-memory GPU would, then works again', async () => {
    const sandbox = await startSandbox({ speed: Infinity });
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post('/sandbox/faults', { failNext: 'x' })).status).toBe(422);
      expect((await post('/sandbox/faults', { failNext: 1 })).status).toBe(200);
      const failed = await post('/sdapi/v1/txt2img', { prompt: 'x', width: 64, height: 64 });
      expect(failed.status).toBe(500);
      expect(await failed.json()).toMatchObject({ error: 'OutOfMemoryError' });
      expect((await post('/sdapi/v1/txt2img', { prompt: 'x', width: 64, height: 64 })).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});
