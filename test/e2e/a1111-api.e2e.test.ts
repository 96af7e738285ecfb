/**
 * The WebUI-compatible API (`/sdapi/v1`) with real processes: driven the way a
 * WebUI client drives a WebUI, and used by a DAN node as its WebUI: two
 * networks chained, a task submitted to the first running on the second's GPU.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { type DanProcess, runDan, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const started: DanProcess[] = [];
const dirs = [tempDir(), tempDir()];
/** The network whose GPUs run the work (a sandbox and its node), and its key. */
let upstream: { proc: DanProcess; url: string };
let key: string;
let auth: Record<string, string>;
let sandbox: string;

beforeAll(async () => {
  upstream = await startGatewayProcess({ dataDir: dirs[0]!.path, args: ['--auth', 'required'] });
  started.push(upstream.proc);
  const gpu = await startSandboxProcess({ speed: 50 });
  started.push(gpu.proc);
  sandbox = gpu.url;
  started.push((await startNodeProcess({ gateway: upstream.url, webui: gpu.url, name: 'gpu' })).proc);
  key = (JSON.parse((await runDan(['keys', 'create', '--data', dirs[0]!.path, '--name', 'webui-client', '--json'])).stdout) as { secret: string }).secret;
  auth = { Authorization: `Bearer ${key}` };
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  for (const dir of dirs) dir.remove();
});

const png = async (side: number) => (await sharp({ create: { width: side, height: side, channels: 3, background: { r: 90, g: 140, b: 200 } } }).png().toBuffer()).toString('base64');

describe('a WebUI client against /sdapi/v1', () => {
  it('lists the checkpoints, picks one in the options, generates, and reads seeds from info', async () => {
    const models = (await getJson(`${upstream.url}/sdapi/v1/sd-models`, auth)).body as { title: string; model_name: string }[];
    const clarity = models.find((m) => m.model_name === 'clarity')!;
    expect(clarity.title).toMatch(/^clarity \[[0-9a-f]{10}\]$/);
    expect((await postJson(`${upstream.url}/sdapi/v1/options`, { sd_model_checkpoint: clarity.title }, auth)).status).toBe(200);
    expect((await getJson(`${upstream.url}/sdapi/v1/options`, auth)).body).toMatchObject({ sd_model_checkpoint: clarity.title });
    const answer = await postJson(`${upstream.url}/sdapi/v1/txt2img`, { prompt: 'a harbour', negative_prompt: '', seed: 77, steps: 8, width: 256, height: 192, batch_size: 2, sampler_name: 'Euler a', eta: 1, s_noise: 1, restore_faces: false }, auth);
    expect(answer.status, JSON.stringify(answer.body).slice(0, 300)).toBe(200);
    expect(answer.body.images).toHaveLength(2);
    expect(await sharp(Buffer.from(answer.body.images[1], 'base64')).metadata()).toMatchObject({ width: 256, height: 192 });
    const info = JSON.parse(answer.body.info as string) as { all_seeds: number[]; sd_model_name: string };
    expect(info).toMatchObject({ all_seeds: [77, 78], sd_model_name: 'clarity' });
    // What reached the GPU: the checkpoint the options chose, the seeds counting up.
    const sent = ((await getJson(`${sandbox}/sandbox/requests`)).body.requests as { path: string; body: Record<string, unknown> }[]).filter((r) => r.path === '/sdapi/v1/txt2img').slice(-2);
    expect(sent.map((r) => Number(r.body['seed'])).sort((a, b) => a - b)).toEqual([77, 78]);
  });

  it('inpaints, upscales and interrogates', async () => {
    const image = await png(128);
    const inpainted = await postJson(`${upstream.url}/sdapi/v1/img2img`, { init_images: [image], mask: await png(128), prompt: 'a boat', steps: 6, denoising_strength: 0.7, inpainting_fill: 1, mask_blur: 4 }, auth);
    expect(inpainted.status, JSON.stringify(inpainted.body).slice(0, 300)).toBe(200);
    const upscaled = await postJson(`${upstream.url}/sdapi/v1/extra-single-image`, { image, upscaling_resize: 2, upscaler_1: 'R-ESRGAN 4x+' }, auth);
    expect(upscaled.status, JSON.stringify(upscaled.body).slice(0, 300)).toBe(200);
    expect(await sharp(Buffer.from(upscaled.body.image as string, 'base64')).metadata()).toMatchObject({ width: 256 });
    const caption = await postJson(`${upstream.url}/sdapi/v1/interrogate`, { image, model: 'clip' }, auth);
    expect(caption.body).toMatchObject({ caption: expect.any(String) });
  });

  it('answers a request without a key with 401, and a field it cannot honour with 422 naming it', async () => {
    expect((await postJson(`${upstream.url}/sdapi/v1/txt2img`, { prompt: 'x' })).status).toBe(401);
    const refused = await postJson(`${upstream.url}/sdapi/v1/txt2img`, { prompt: 'x', tiling: true }, auth);
    expect(refused).toMatchObject({ status: 422, body: { detail: [{ loc: ['body', 'tiling'] }] } });
  });
});

describe('a DAN node whose WebUI is another DAN network', () => {
  it('runs the first network\'s tasks on the second network\'s GPU', async () => {
    const front = await startGatewayProcess({ dataDir: dirs[1]!.path });
    started.push(front.proc);
    // The key goes as the WebUI password, as to a WebUI started with --api-auth.
    started.push((await startNodeProcess({ gateway: front.url, webui: upstream.url, name: 'relay', args: ['--webui-auth', `dan:${key}`] })).proc);
    const models = (await getJson(`${front.url}/api/sd/supportedModelInfo`)).body.data.Models as { name: string; available: boolean }[];
    expect(models.find((m) => m.name === 'clarity')?.available).toBe(true);
    const before = upstream.proc.lines.length;
    const done = await postJson(`${front.url}/api/sd/txt2img`, { prompt: 'through two networks', model: 'clarity', steps: 6, width: 128, height: 128, seed: 5 });
    expect(done.status, JSON.stringify(done.body).slice(0, 300)).toBe(200);
    expect(done.body.data).toMatchObject({ status: 2, seeds: [5] });
    // The second network ran it. Its log line comes over its own pipe and may land after the answer: awaited.
    const ranThere = await upstream.proc.waitForLog((l) => l.msg === 'task succeeded' && upstream.proc.lines.indexOf(l) >= before, 10_000);
    expect(ranThere.msg).toBe('task succeeded');
  });
});
