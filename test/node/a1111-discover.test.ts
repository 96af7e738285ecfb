import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeCapabilities } from '../../src/domain/capabilities.js';
import { toNodeOffering } from '../../src/domain/offering.js';
import { A1111Driver } from '../../src/node/backends/a1111/a1111-driver.js';
import { discoverCapabilities } from '../../src/node/backends/a1111/discover.js';
import { BackendClient } from '../../src/node/backends/backend-client.js';
import { startSandbox } from '../../src/sandbox/index.js';
import { tempDir } from '../helpers/processes.js';
import { fluxTensors, sd15Tensors, sdxlTensors, writeSafetensors } from '../helpers/safetensors.js';
import { closedPortUrl, type FakeWebui, startFakeWebui } from './a1111-test-helpers.js';

const options = { maxPixels: 1024 * 1024, interrogators: ['clip', 'deepdanbooru'] };
const SHA = '627a6f5c8bf7669d4a224ac041d527debc65d2d435b16e54ead8ee2c901d1634';

let fake: FakeWebui | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A pre-1.9 A1111 without the ControlNet extension, with a few odd entries. */
function registerOldWebui(app: FastifyInstance): void {
  app.get('/sdapi/v1/sd-models', async () => [
    {
      title: 'clarity.safetensors [627a6f5c8b]',
      model_name: 'clarity',
      hash: '627a6f5c8b',
      sha256: SHA.toUpperCase(),
      filename: 'C:\\webui\\models\\Stable-diffusion\\clarity.safetensors',
      config: null,
    },
    { title: 'sub/other.ckpt', model_name: 'sub_other', hash: null, sha256: null, filename: '/m/sub/other.ckpt' },
    { title: 42, filename: '/m/broken.safetensors' },
    'not an entry',
  ]);
  app.get('/sdapi/v1/loras', async () => [
    { name: 'kobeni_v10', alias: 'kobeni', path: '/m/Lora/kobeni_v10.safetensors', metadata: {} },
    { name: 'noAlias', alias: '', path: '/m/Lora/noAlias.pt', metadata: {} },
    { alias: 'nameless' },
  ]);
  app.get('/sdapi/v1/samplers', async () => [
    { name: 'DPM++ 2M Karras', aliases: [], options: {} },
    { name: 'Euler a', aliases: ['k_euler_a'], options: {} },
    { name: '' },
  ]);
  app.get('/sdapi/v1/upscalers', async () => [{ name: 'None' }, { name: 'Lanczos' }, { name: 'ESRGAN_4x' }]);
  app.get('/sdapi/v1/latent-upscale-modes', async () => [{ name: 'Latent' }, { name: 'Latent (nearest)' }]);
  app.get('/sdapi/v1/options', async () => ({ sd_model_checkpoint: 'clarity.safetensors [627a6f5c8b]', samples_format: 'png' }));
}

describe('discoverCapabilities against the sandbox', () => {
  it('declares the default offerings in a shape the NodeCapabilities schema accepts', async () => {
    await using sandbox = await startSandbox({ speed: Infinity, offerings: { loadedModel: 'clarity.safetensors' } });
    const snapshot = await discoverCapabilities(new BackendClient({ baseUrl: sandbox.url }), options);
    const { capabilities } = snapshot;

    expect([...Value.Errors(NodeCapabilities, capabilities)]).toEqual([]);
    expect(snapshot.loadedModel).toBe('clarity.safetensors [627a6f5c8b]');
    expect(capabilities.models).toContainEqual({
      title: 'clarity.safetensors [627a6f5c8b]',
      name: 'clarity',
      fileName: 'clarity.safetensors',
      sha256: SHA,
    });
    expect(capabilities.loras).toContainEqual({
      name: 'koreandolllikeness_V10',
      alias: expect.any(String),
      fileName: 'koreandolllikeness_V10.safetensors',
      sha256: null,
    });
    expect(capabilities.samplers).toEqual(expect.arrayContaining(['Euler a', 'DPM++ SDE']));
    expect(capabilities.schedulers).toEqual(expect.arrayContaining(['Automatic', 'automatic', 'Karras', 'karras']));
    expect(capabilities.upscalers).toEqual(['None', 'Lanczos', 'Nearest', 'ESRGAN_4x', 'R-ESRGAN 4x+', 'R-ESRGAN 4x+ Anime6B', 'SwinIR_4x']);
    expect(capabilities.latentUpscaleModes).toContain('Latent');
    expect(capabilities.controlNet).toEqual({
      models: ['control_v11p_sd15_canny [d14c016b]', 'control_v11p_sd15_openpose [cab727d4]'],
      modules: expect.arrayContaining(['canny', 'openpose']),
      maxUnits: 3,
    });
  });
});

describe('checkpoint families read from the files the WebUI lists', () => {
  it('gives an undeclared checkpoint the family its header says when the file is on this machine; the owner\'s word wins, the catalog\'s wins over both', async () => {
    const webui = tempDir('dan-webui-');
    try {
      const checkpoints = join(webui.path, 'models', 'Stable-diffusion');
      mkdirSync(checkpoints, { recursive: true });
      writeSafetensors(join(checkpoints, 'mystery.safetensors'), fluxTensors('model.diffusion_model.'));
      writeSafetensors(join(checkpoints, 'bigMix.safetensors'), sdxlTensors);
      writeSafetensors(join(checkpoints, 'declared.safetensors'), sd15Tensors);
      // The catalog's clarity (SD 1.5), here with an SDXL header.
      writeSafetensors(join(checkpoints, 'clarity.safetensors'), sdxlTensors);
      const models = ['mystery.safetensors', 'bigMix.safetensors', 'declared.safetensors', 'clarity.safetensors', 'absent.safetensors', 'old.ckpt'];
      await using sandbox = await startSandbox({ speed: Infinity, offerings: { webuiDir: webui.path, models: models.map((fileName) => ({ fileName, sha256: null })) } });
      const lines: string[] = [];
      const log = { debug: (_fields: object, message: string) => lines.push(message), warn: (_fields: object, message: string) => lines.push(message) };
      const driver = new A1111Driver({ baseUrl: sandbox.url, maxPixels: 1024 * 1024, declaredFamilies: new Map([['declared.safetensors', 'sdxl']]), log });
      const { capabilities } = await driver.discover();
      expect(Object.fromEntries(capabilities.models.map((m) => [m.fileName, m.family ?? null]))).toEqual({
        'mystery.safetensors': 'flux',
        'bigMix.safetensors': 'sdxl',
        'declared.safetensors': 'sdxl',
        'clarity.safetensors': 'sdxl',
        'absent.safetensors': null,
        'old.ckpt': null,
      });
      expect(Value.Check(NodeCapabilities, capabilities)).toBe(true);
      // The gateway's catalog names clarity's family, whatever the node read.
      expect([...toNodeOffering(capabilities).models.values()].find((offer) => offer.ref.name === 'clarity')?.family).toBe('sd15');
      // A re-discovery says nothing again of the files it could not read.
      await driver.discover();
      expect(lines).toHaveLength(2);
      expect(lines).toEqual(expect.arrayContaining([expect.stringContaining('absent.safetensors'), expect.stringContaining('old.ckpt')]));
    } finally {
      webui.remove();
    }
  });
});

describe('discoverCapabilities against a fake WebUI', () => {
  it('declares no ControlNet and no schedulers when those routes are missing, skipping malformed entries', async () => {
    fake = await startFakeWebui(registerOldWebui);
    const snapshot = await discoverCapabilities(new BackendClient({ baseUrl: fake.url }), options);

    expect(Value.Check(NodeCapabilities, snapshot.capabilities)).toBe(true);
    expect(snapshot.loadedModel).toBe('clarity.safetensors [627a6f5c8b]');
    expect(snapshot.capabilities).toEqual({
      backend: { kind: 'a1111', version: null },
      models: [
        { title: 'clarity.safetensors [627a6f5c8b]', name: 'clarity', fileName: 'clarity.safetensors', sha256: SHA },
        { title: 'sub/other.ckpt', name: 'sub_other', fileName: 'other.ckpt', sha256: null },
      ],
      loras: [
        { name: 'kobeni_v10', alias: 'kobeni', fileName: 'kobeni_v10.safetensors', sha256: null },
        { name: 'noAlias', alias: null, fileName: 'noAlias.pt', sha256: null },
      ],
      samplers: ['DPM++ 2M Karras', 'Euler a'],
      schedulers: [],
      upscalers: ['None', 'Lanczos', 'ESRGAN_4x'],
      latentUpscaleModes: ['Latent', 'Latent (nearest)'],
      controlNet: null,
      interrogators: ['clip', 'deepdanbooru'],
      maxPixels: 1024 * 1024,
    });
  });

  it('reads scheduler labels and names, and ControlNet models, modules and unit count', async () => {
    fake = await startFakeWebui((app) => {
      registerOldWebui(app);
      app.get('/sdapi/v1/schedulers', async () => [
        { name: 'automatic', label: 'Automatic', aliases: null },
        { name: 'karras', label: 'Karras', aliases: null },
        { name: 'sgm_uniform', label: 'SGM Uniform', aliases: ['SGMUniform'] },
      ]);
      app.get('/controlnet/model_list', async () => ({ model_list: ['control_v11p_sd15_canny [d14c016b]', 'None'] }));
      app.get('/controlnet/module_list', async () => ({ module_list: ['none', 'canny', 'openpose'], module_detail: {} }));
      app.get('/controlnet/settings', async () => ({ control_net_unit_count: 5 }));
    });
    const { capabilities } = await discoverCapabilities(new BackendClient({ baseUrl: fake.url }), options);

    expect(Value.Check(NodeCapabilities, capabilities)).toBe(true);
    expect(capabilities.schedulers).toEqual(['Automatic', 'automatic', 'Karras', 'karras', 'SGM Uniform', 'sgm_uniform']);
    expect(capabilities.controlNet).toEqual({
      models: ['control_v11p_sd15_canny [d14c016b]'],
      modules: ['none', 'canny', 'openpose'],
      maxUnits: 5,
    });
  });

  it('knows Forge by its module listing, and declares the modules by file name', async () => {
    fake = await startFakeWebui((app) => {
      registerOldWebui(app);
      app.get('/sdapi/v1/sd-modules', async () => [
        { model_name: 'ae.safetensors', filename: 'C:\\forge\\models\\VAE\\ae.safetensors' },
        { model_name: 't5xxl_fp16.safetensors', filename: '/forge/models/text_encoder/t5xxl_fp16.safetensors' },
        { filename: '/no/name' },
      ]);
    });
    const { capabilities } = await discoverCapabilities(new BackendClient({ baseUrl: fake.url }), options);
    expect(Value.Check(NodeCapabilities, capabilities)).toBe(true);
    expect(capabilities.backend).toEqual({ kind: 'a1111', version: null, modules: ['ae.safetensors', 't5xxl_fp16.safetensors'] });
  });

  it('assumes 3 ControlNet units when the extension has no settings route', async () => {
    fake = await startFakeWebui((app) => {
      registerOldWebui(app);
      app.get('/controlnet/model_list', async () => ({ model_list: [] }));
      app.get('/controlnet/module_list', async () => ({ module_list: ['canny'] }));
    });
    const { capabilities } = await discoverCapabilities(new BackendClient({ baseUrl: fake.url }), options);
    expect(capabilities.controlNet).toEqual({ models: [], modules: ['canny'], maxUnits: 3 });
  });

  it('fails with BAD_RESPONSE when a required listing is not a list', async () => {
    fake = await startFakeWebui((app) => {
      registerOldWebui(app);
      app.get('/sdapi/v1/schedulers', async () => ({ detail: 'surprise' }));
    });
    await expect(discoverCapabilities(new BackendClient({ baseUrl: fake.url }), options)).rejects.toMatchObject({
      id: 'DAN_ERR_BACKEND_BAD_RESPONSE',
      message: expect.stringContaining('/sdapi/v1/schedulers'),
    });
  });

  it('reports the backend unreachable, with the fix, when the WebUI runs without --api', async () => {
    fake = await startFakeWebui((app) => app.get('/', async () => 'gradio UI'));
    await expect(discoverCapabilities(new BackendClient({ baseUrl: fake.url }), options)).rejects.toMatchObject({
      id: 'DAN_ERR_BACKEND_UNREACHABLE',
      message: expect.stringContaining('--api'),
    });
  });

  it('says that a ComfyUI is a ComfyUI, and how to attach it, when given as the WebUI', async () => {
    const comfy = await startSandbox({ speed: Infinity, flavor: 'comfyui' });
    try {
      const failed = discoverCapabilities(new BackendClient({ baseUrl: comfy.url }), options);
      await expect(failed).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_UNREACHABLE', message: `${comfy.url} is a ComfyUI, not an A1111-compatible WebUI: start the node with --comfyui ${comfy.url}` });
    } finally {
      await comfy.close();
    }
  });

  it('fails with UNREACHABLE when nothing listens at the URL', async () => {
    const client = new BackendClient({ baseUrl: await closedPortUrl() });
    await expect(discoverCapabilities(client, options)).rejects.toMatchObject({
      id: 'DAN_ERR_BACKEND_UNREACHABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });
});
