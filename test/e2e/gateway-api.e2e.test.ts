/**
 * The whole API end to end: a gateway process, a node process and a sandbox
 * process (an A1111-compatible WebUI that refuses anything the real one would
 * not accept, and more). What needs the real processes: each endpoint through
 * a real node and WebUI (what the node offers, how it translates each task, the
 * images that come back), answers over real sockets, and the 413 to a client
 * that keeps sending. The routes' own behaviour (every refusal and its envelope,
 * async status, queue positions, cancel, listings) is tested without processes,
 * with `inject`: test/api/routes.*.test.ts.
 */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogModels } from '../../src/domain/catalog.js';
import { expectOnlyMaskedAndUpright } from '../helpers/picture-checks.js';
import { getJson, halfMaskBase64, imageInfo, pngBase64, pollUntilDone, postJson, postOversized } from '../helpers/api-client.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const CHILLOUT = catalogModels[0]!.sha256;
const KOREAN = '62efe75048d55a096a238c6e8c4e12d61b36bf59e388a90589335f750923954c';
const KOBENI = '3e5d8fe726b4c0f1e7f0905f32ea3d1c9ce89a54028209e8179d64d323048dac';

let gateway: string;
let sandbox: string;
const processes: DanProcess[] = [];
const dir = tempDir();

beforeAll(async () => {
  // The node offers two of the three catalog models, so the third is "known but unservable".
  const config = `${dir.path}/offerings.json`;
  writeFileSync(config, JSON.stringify({
    models: [
      { fileName: 'chilloutmix_NiPrunedFp32Fix.safetensors', sha256: CHILLOUT },
      { fileName: 'clarity.safetensors', sha256: null },
    ],
  }));
  // The sandbox and the gateway do not need each other: both start at once.
  const [sb, gw] = await Promise.all([
    startSandboxProcess({ speed: 1000, config }),
    startGatewayProcess({ dataDir: `${dir.path}/data`, args: ['--body-limit-mb', '2'] }),
  ]);
  const node = await startNodeProcess({ gateway: gw.url, webui: sb.url, name: 'e2e-node' });
  processes.push(sb.proc, gw.proc, node.proc);
  gateway = gw.url;
  sandbox = sb.url;
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  dir.remove();
});

const txt2imgBody = {
  prompt: 'a portrait',
  negative_prompt: 'blurry',
  loras: [[KOREAN, 0.5], [KOBENI, 0.7]],
  seed: 813241234,
  sampler_name: 'DPM++ SDE Karras',
  steps: 20,
  cfg_scale: 7,
  width: 600,
  height: 800,
  model: CHILLOUT,
  upscale: { denoising_strength: 0.5, scale: 1.5, upscaler: 'Latent' },
};

describe('supported values', () => {
  it('lists the catalog with what the connected node can serve now', async () => {
    const { status, body } = await getJson(`${gateway}/api/sd/supportedModelInfo`);
    expect(status).toBe(200);
    const models = Object.fromEntries(body.data.Models.map((m: any) => [m.name, m]));
    expect(models['chillout_mix']).toMatchObject({ hash: CHILLOUT, available: true, nodes: 1 });
    expect(models['clarity']).toMatchObject({ available: true });
    expect(models['anything-v4.5-pruned']).toMatchObject({ available: false, nodes: 0 });
    expect(body.data.LoRAs.find((l: any) => l.name === 'koreanDollLikeness_v10')).toMatchObject({ available: true });
    expect(body.data.Samplers).toContainEqual({ name: 'Euler a', available: true });
    expect(body.data.ControlNet.models).toContainEqual({ name: 'sd15_canny', family: 'sd15', available: true });
    expect(body.data.Interrogators).toContainEqual({ name: 'deepdanbooru', available: true });
    expect(body.data.nodes).toEqual({ connected: 1, ready: 1 });
  });
});

describe('sync endpoints', () => {
  it('txt2img with LoRAs and hires fix returns a PNG of the hires size and its seed (bare key header)', async () => {
    const key = (await getJson(`${gateway}/api/user/public-api-key`)).body.data.apiKey;
    const { status, body } = await postJson(`${gateway}/api/sd/txt2img`, txt2imgBody, { Authorization: key });
    expect(status).toBe(200);
    expect(body).toMatchObject({ code: 200, message: 'success', data: { status: 2, queuePosition: 0, seeds: [813241234] } });
    expect(body.data.images).toHaveLength(1);
    // 600×1.5 = 900, but the WebUI works in 8-pixel latent cells: 900 → 896, as A1111 does.
    expect(await imageInfo(body.data.images[0])).toEqual({ format: 'png', width: 896, height: 1200 });
  });

  it('sync answers come as JSON, each intact with its own image and seed when several are answered at once', async () => {
    // Answer buffers are reused once a response closes (util/buffer-pool.ts): a reuse too early would mix answers up.
    const seeds = [11, 22, 33, 44];
    const answers = await Promise.all(
      seeds.map((seed) =>
        fetch(`${gateway}/api/sd/txt2img`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'a fox', model: 'clarity', width: 512, height: 512, steps: 5, seed }),
        }),
      ),
    );
    const bodies = await Promise.all(answers.map(async (a) => ({ type: a.headers.get('content-type'), body: (await a.json()) as any })));
    for (const [i, { type, body }] of bodies.entries()) {
      expect(type).toBe('application/json; charset=utf-8');
      expect(body.data.seeds).toEqual([seeds[i]]);
      expect(await imageInfo(body.data.images[0])).toEqual({ format: 'png', width: 512, height: 512 });
    }
    // Different seeds, different images: no answer carries another's bytes.
    expect(new Set(bodies.map(({ body }) => body.data.images[0])).size).toBe(seeds.length);
  });

  it('txt2img with a ControlNet unit (guessmode, Bearer key) returns only the generated image', async () => {
    const key = (await getJson(`${gateway}/api/user/public-api-key`)).body.data.apiKey;
    const control = await pngBase64(512, 512);
    const unit = { image: control, preprocess: 'canny', model: 'sd15_canny', preprocess_param1: 100, preprocess_param2: 200, weight: 1, resize_mode: 2, guidance_start: 0, guidance_end: 1, guessmode: true };
    const { status, body } = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a house', model: 'clarity', control_net: [unit] }, { Authorization: `Bearer ${key}` });
    expect(status).toBe(200);
    expect(body.data.images).toHaveLength(1);
    expect(await imageInfo(body.data.images[0])).toMatchObject({ width: 512, height: 512 });
  });

  it('img2img returns an image of the requested size', async () => {
    const init = await pngBase64(300, 200);
    const { status, body } = await postJson(`${gateway}/api/sd/img2img`, { init_image: `data:image/png;base64,${init}`, prompt: 'a cat', model: 'clarity', width: 256, height: 192, denoising_strength: 0.5 });
    expect(status).toBe(200);
    expect(await imageInfo(body.data.images[0])).toMatchObject({ format: 'png', width: 256, height: 192 });
  });

  it('inpaint with mask_mode 0 regenerates the white part of the mask and keeps the rest', async () => {
    const init = await pngBase64(128, 128, { r: 255, g: 0, b: 0 });
    const mask = await halfMaskBase64(128, 128);
    const { status, body } = await postJson(`${gateway}/api/sd/img2img`, {
      init_image: init, prompt: 'blue sky', model: 'clarity', width: 128, height: 128, denoising_strength: 1,
      inpaint: { mask, mask_blur: 0, mask_mode: 0, inpaint_area: 0 },
    });
    expect(status).toBe(200);
    const { data } = await sharp(Buffer.from(body.data.images[0], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number) => [...data.subarray((y * 128 + x) * 3, (y * 128 + x) * 3 + 3)];
    expect(pixel(100, 64)).toEqual([255, 0, 0]);
    expect(pixel(20, 64)).not.toEqual([255, 0, 0]);
  });

  it('inpainting only the masked area answers the picture at its own size, changed only around the mask; a phone photo is upscaled upright', async () => {
    await expectOnlyMaskedAndUpright(gateway, 'Lanczos');
  });

  it('interrogate returns a caption', async () => {
    const { status, body } = await postJson(`${gateway}/api/sd/interrogate`, { image: await pngBase64(64, 64), model: 'deepdanbooru' });
    expect(status).toBe(200);
    expect(body.data).toMatchObject({ status: 2 });
    expect(typeof body.data.caption).toBe('string');
    expect(body.data.caption.length).toBeGreaterThan(0);
  });

  it('upscale returns the image scaled by upscalingRate', async () => {
    const { status, body } = await postJson(`${gateway}/api/sd/upscale`, { image: await pngBase64(100, 60), upscalingRate: 2, upscaler: 'Lanczos', upscaler2: 'Lanczos', upscaler2_factor: 0 });
    expect(status).toBe(200);
    expect(await imageInfo(body.data.images[0])).toMatchObject({ width: 200, height: 120 });
  });
});

describe('async endpoints through the real node', () => {
  // Each kind's async route with a variant the sync cases above do not send through the real node and WebUI:
  // a bare base64 init image, the default interrogator, a catalog upscaler under the node's own name.
  // The async routes' own behaviour (status from queued to done, positions, cancel): test/api/routes.tasks.test.ts.
  it.each([
    ['img2img', async () => ({ init_image: await pngBase64(64, 64), model: 'clarity', width: 64, height: 64 })],
    ['interrogate', async () => ({ image: await pngBase64(64, 64) })],
    ['upscale', async () => ({ image: await pngBase64(64, 64), upscalingRate: 1.5, upscaler: 'ESRGAN 4x' })],
  ])('%s/async completes through status polling', async (kind, makeBody) => {
    const { body } = await postJson(`${gateway}/api/sd/${kind}/async`, await makeBody());
    expect(body.code).toBe(200);
    const done = await pollUntilDone(gateway, body.data.taskId);
    expect(done.status).toBe(2);
  });
});

describe('a body over the limit, over a real socket', () => {
  it('is answered 413 while the client is still sending it', async () => {
    const { status, body } = await postOversized(`${gateway}/api/sd/interrogate`, JSON.stringify({ image: 'A'.repeat(3 * 1024 * 1024) }));
    expect(status).toBe(413);
    expect(body.error).toBe('DAN_ERR_REQUEST_TOO_LARGE');
  });

  it('leaves the gateway serving', async () => {
    const { status, body } = await getJson(`${gateway}/api/health`);
    expect(status).toBe(200);
    expect(body.data.nodes.ready).toBe(1);
    // How late its event loop ran, sampled every 10 ms since it started.
    const loop = body.data.eventLoopDelayMs;
    expect(loop.samples).toBeGreaterThan(10);
    expect(loop.p50).toBeGreaterThanOrEqual(0);
    expect(loop.max).toBeGreaterThanOrEqual(loop.p99);
  });
});

describe('the gateway\'s own time per task', () => {
  const overhead = async () => (await getJson(`${gateway}/api/health`)).body.data.overheadMs;

  it('is timed for tasks sent at once and for sync answers, not for tasks that waited for a GPU', async () => {
    const before = await overhead();
    // One node with one slot: the first task goes out at once, the other two wait for it. They need the
    // other checkpoint, and a task that needs a load is not sent ahead to be held ready (one that does not
    // would be: this sandbox runs a task in milliseconds, within the send-ahead window, so it would go at once).
    // The first is the longest this API takes (1024², 150 steps: tens of milliseconds at this sandbox's
    // speed), so that the other two arrive while it runs.
    const task = (prompt: string, model: string, size: number, steps: number) => postJson(`${gateway}/api/sd/txt2img/async`, { prompt, model, steps, width: size, height: size });
    const first = await task('o0', 'clarity', 1024, 150);
    const submitted = [first, ...(await Promise.all([task('o1', 'chillout_mix', 768, 100), task('o2', 'chillout_mix', 768, 100)]))];
    for (const r of submitted) expect((await pollUntilDone(gateway, r.body.data.taskId, 60_000)).status).toBe(2);
    const afterAsync = await overhead();
    // Null until the first sample: this test may run alone.
    const samples = (summary: { samples: number } | null) => summary?.samples ?? 0;
    expect(samples(afterAsync.dispatch)).toBe(samples(before.dispatch) + 1);
    expect(samples(afterAsync.relay)).toBe(samples(before.relay));

    expect((await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'o', model: 'clarity', width: 64, height: 64 })).status).toBe(200);
    const after = await overhead();
    expect(after.dispatch.samples).toBe(samples(afterAsync.dispatch) + 1);
    expect(after.relay.samples).toBe(samples(afterAsync.relay) + 1);
    for (const kind of ['dispatch', 'relay'] as const) {
      const { p50, p95, p99, max } = after[kind];
      expect(p50).toBeGreaterThan(0);
      expect(p50).toBeLessThanOrEqual(p95);
      expect(p95).toBeLessThanOrEqual(p99);
      expect(p99).toBeLessThanOrEqual(max);
    }
  });
});

describe('what the WebUI behind the node received', () => {
  it('only requests it accepted, with the node\'s own checkpoint and LoRA names and hr_upscaler', async () => {
    const { body } = await getJson(`${sandbox}/sandbox/requests`);
    const requests: any[] = body.requests;
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.filter((r) => r.status !== 200)).toEqual([]);
    const hires = requests.find((r) => r.path === '/sdapi/v1/txt2img' && r.body.enable_hr === true);
    expect(hires.body).toMatchObject({
      hr_upscaler: 'Latent',
      hr_scale: 1.5,
      denoising_strength: 0.5,
      sampler_name: 'DPM++ SDE',
      scheduler: 'Karras',
      override_settings: { sd_model_checkpoint: 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]' },
    });
    expect(hires.body.prompt).toContain('<lora:koreandolllikeness_V10:0.5>');
    expect(hires.body.prompt).toContain('<lora:kobeni_v10:0.7>');
    const controlNet = requests.find((r) => r.body.alwayson_scripts?.controlnet);
    expect(controlNet.body.alwayson_scripts.controlnet.args[0]).toMatchObject({
      enabled: true, module: 'canny', model: 'control_v11p_sd15_canny [d14c016b]', resize_mode: 'Resize and Fill', control_mode: 'ControlNet is more important',
    });
  });
});
