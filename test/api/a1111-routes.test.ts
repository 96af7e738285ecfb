/**
 * The WebUI-compatible API (`/sdapi/v1`, `/controlnet`) through the real app
 * with `inject`: what an A1111 request becomes (the spec a node is sent), the
 * fields honoured at A1111's default and those refused in its 422 shape, the
 * answer's shape, per-key default checkpoints, progress and interrupt, the
 * listings. With real processes and a DAN node using a second network as its
 * WebUI: test/e2e/a1111-api.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { catalogModels } from '../../src/domain/catalog.js';
import { useAnsweringApp } from '../helpers/answering-node.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { pngBytes } from '../helpers/png-bytes.js';
import { NODE_ID_HEADER } from '../../src/protocol/node-id-header.js';

const door = useAnsweringApp();
const start = (options?: Parameters<typeof door.start>[0]) => door.start(options);
const answerAll = (count: number) => door.answer(count);
const node = () => door.node();


/** What the `webuiapi` Python client sends for `api.txt2img(prompt=…)`: every field, most at A1111's default. */
const webuiapiTxt2img = {
  enable_hr: false,
  denoising_strength: 0.7,
  firstphase_width: 0,
  firstphase_height: 0,
  hr_scale: 2,
  hr_upscaler: 'Latent',
  hr_second_pass_steps: 0,
  hr_resize_x: 0,
  hr_resize_y: 0,
  hr_checkpoint_name: null,
  hr_sampler_name: null,
  hr_prompt: '',
  hr_negative_prompt: '',
  prompt: 'a cute cat',
  styles: [],
  seed: 1003,
  subseed: -1,
  subseed_strength: 0,
  seed_resize_from_h: 0,
  seed_resize_from_w: 0,
  sampler_name: 'DPM++ 2M',
  scheduler: 'Karras',
  batch_size: 2,
  n_iter: 1,
  steps: 30,
  cfg_scale: 7,
  width: 512,
  height: 512,
  restore_faces: false,
  tiling: false,
  do_not_save_samples: false,
  do_not_save_grid: false,
  negative_prompt: 'ugly',
  eta: 1,
  s_churn: 0,
  s_tmax: 0,
  s_tmin: 0,
  s_noise: 1,
  override_settings: { sd_model_checkpoint: `clarity [${catalogModels[1]!.sha256.slice(0, 10)}]` },
  override_settings_restore_afterwards: true,
  script_args: [],
  script_name: null,
  send_images: true,
  save_images: false,
  alwayson_scripts: {},
  sampler_index: 'Euler a',
};

describe('POST /sdapi/v1/txt2img', () => {
  it('takes what a WebUI client sends, every field at A1111\'s default honoured, and answers in A1111\'s shape', async () => {
    const app = await start();
    const answering = app.post('/sdapi/v1/txt2img', webuiapiTxt2img);
    await answerAll(2);
    const answer = await answering;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const body = answer.body as { images: string[]; parameters: unknown; info: string };
    expect(body.images).toHaveLength(2);
    expect(body.parameters).toEqual(webuiapiTxt2img);
    const info = JSON.parse(body.info) as Record<string, unknown>;
    expect(info).toMatchObject({ prompt: 'a cute cat', all_seeds: [1, 1], seed: 1, width: 512, height: 512, steps: 30, sampler_name: 'DPM++ 2M Karras', sd_model_name: 'clarity', batch_size: 2 });
    expect((info['infotexts'] as string[])[0]).toMatch(/^a cute cat\nNegative prompt: ugly\nSteps: 30, Sampler: DPM\+\+ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x512/);
    // Two tasks, seeds 1003 and 1004, the checkpoint named by its title.
    const specs = node().assignments().map((a) => a.spec as Record<string, unknown>);
    expect(specs.map((s) => s['seed'])).toEqual([1003, 1004]);
    expect(specs[0]).toMatchObject({ kind: 'txt2img', prompt: 'a cute cat', negativePrompt: 'ugly', steps: 30, cfgScale: 7, sampler: 'DPM++ 2M Karras', model: { name: 'clarity' }, hires: null });
  });

  it('draws one seed for a batch with a random seed and counts up from it, as A1111 does', async () => {
    const app = await start();
    const answering = app.post('/sdapi/v1/txt2img', { prompt: 'x', seed: -1, batch_size: 3, override_settings: { sd_model_checkpoint: 'clarity' } });
    await answerAll(3);
    expect((await answering).status).toBe(200);
    const seeds = node().assignments().map((a) => (a.spec as { seed: number }).seed);
    expect(seeds[0]).toBeGreaterThanOrEqual(0);
    expect(seeds).toEqual([seeds[0], seeds[0]! + 1, seeds[0]! + 2]);
  });

  it('runs the hires fix from the hr_ fields', async () => {
    const app = await start();
    const answering = app.post('/sdapi/v1/txt2img', { prompt: 'x', enable_hr: true, hr_scale: 1.5, hr_upscaler: 'Latent', denoising_strength: 0.5, override_settings: { sd_model_checkpoint: 'clarity' } });
    await answerAll(1);
    expect((await answering).status).toBe(200);
    expect(node().assignments()[0]!.spec).toMatchObject({ hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 }, steps: 50, cfgScale: 7 });
  });

  it('refuses what DAN cannot honour, in FastAPI\'s 422 shape naming the field as A1111 calls it', async () => {
    const app = await start();
    const cases: [Record<string, unknown>, (string | number)[], RegExp][] = [
      [{ restore_faces: true }, ['body', 'restore_faces'], /A1111's default/],
      [{ styles: ['cinematic'] }, ['body', 'styles'], /\[\]/],
      [{ hr_resize_x: 1024, enable_hr: true }, ['body', 'hr_resize_x'], /0/],
      [{ alwayson_scripts: { adetailer: { args: [] } } }, ['body', 'alwayson_scripts', 'adetailer'], /only controlnet/],
      [{ override_settings: { sd_vae: 'x.vae' } }, ['body', 'override_settings', 'sd_vae'], /^is not supported by DAN except at "Automatic", got "x.vae"$/],
      [{ override_settings: { samples_format: 'jpg' } }, ['body', 'override_settings', 'samples_format'], /only sd_model_checkpoint may be overridden, and CLIP_stop_at_last_layers at 1, sd_vae at "Automatic"/],
      [{ clip_skip: 2 }, ['body', 'clip_skip'], /except at null or 1 .*got 2/],
      [{ override_settings: { sd_model_checkpoint: 'nope' } }, ['body', 'override_settings', 'sd_model_checkpoint'], /nope/],
      [{ width: 99999 }, ['body', 'width'], /from 64 to 2048, got 99999/],
      [{ frobnicate: 1 }, ['body', 'frobnicate'], /not a field/],
      [{ batch_size: 20 }, ['body', 'batch_size'], /at most 16/],
    ];
    for (const [extra, loc, msg] of cases) {
      const answer = await app.post('/sdapi/v1/txt2img', { prompt: 'x', override_settings: { sd_model_checkpoint: 'clarity' }, ...extra });
      expect(answer.status, JSON.stringify(answer.body)).toBe(422);
      expect(answer.body).toMatchObject({ detail: [{ loc, msg: expect.stringMatching(msg), type: 'value_error' }] });
    }
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });
});

describe('what WebUI clients send besides', () => {
  it("takes SillyTavern's txt2img (save_images true, SD.Next's clip_skip 1, the VAE at Automatic)", async () => {
    const app = await start();
    const answering = app.post('/sdapi/v1/txt2img', {
      prompt: 'x', negative_prompt: '', sampler_name: 'Euler a', steps: 20, cfg_scale: 7, width: 512, height: 512, restore_faces: false, enable_hr: false,
      seed: -1, save_images: true, clip_skip: 1, override_settings: { sd_model_checkpoint: 'clarity', sd_vae: 'Automatic', CLIP_stop_at_last_layers: 1 }, override_settings_restore_afterwards: true,
    });
    await answerAll(1);
    expect((await answering).status).toBe(200);
  });

  it("takes webuiapi's img2img (image_cfg_scale 1.5), and gives a ControlNet unit without an image the init image", async () => {
    const app = await start();
    const init = pngBytes(64, 64).toString('base64');
    const unit = { enabled: true, module: 'canny', model: 'control_v11p_sd15_canny [d14c016b]', image: '', weight: 1 };
    const answering = app.post('/sdapi/v1/img2img', { init_images: [init], image_cfg_scale: 1.5, denoising_strength: 0.5, override_settings: { sd_model_checkpoint: 'clarity' }, alwayson_scripts: { ControlNet: { args: [unit] } } });
    await answerAll(1);
    expect((await answering).status).toBe(200);
    const spec = node().assignments()[0]!.spec;
    expect(spec).toMatchObject({ kind: 'img2img', controlNet: [{ module: 'canny' }] });
    expect(spec.kind === 'img2img' && spec.controlNet[0]!.image).toBe(spec.kind === 'img2img' && spec.initImage);
  });

  it('names an interrogation\'s own fields as sent', async () => {
    const app = await start();
    const answer = await app.post('/sdapi/v1/interrogate', { image: pngBytes(8, 8).toString('base64'), model: 'blip' });
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ detail: [{ loc: ['body', 'model'] }] });
  });
});

describe('Flux through the WebUI door', () => {
  const flux = { title: 'flux1-dev.safetensors', name: 'flux1-dev', fileName: 'flux1-dev.safetensors', sha256: null, family: 'flux' as const };

  it("maps Forge's distilled_cfg_scale to guidance and passes the scheduler; takes A1111's default cfg 7 for Flux as its cfg 1, refuses another, naming cfg_scale", async () => {
    const app = await start();
    const comfy = app.world.connect('comfy', makeCapabilities({ backend: { kind: 'comfyui', version: null }, models: [flux], schedulers: ['Automatic', 'Simple'] }));
    const body = { prompt: 'x', cfg_scale: 1, distilled_cfg_scale: 2.5, sampler_name: 'Euler', scheduler: 'Simple', override_settings: { sd_model_checkpoint: 'flux1-dev' } };
    const answering = app.post('/sdapi/v1/txt2img', body);
    for (let i = 0; i < 200 && comfy.assignments().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    comfy.succeed(comfy.assignments()[0]!.taskId);
    expect((await answering).status).toBe(200);
    expect(comfy.assignments()[0]!.spec).toMatchObject({ guidance: 2.5, cfgScale: 1, sampler: 'Euler Simple', width: 1024 });
    // A WebUI client sends A1111's default cfg_scale on every call: a Flux model runs at its own cfg 1.
    const defaulted = app.post('/sdapi/v1/txt2img', { ...body, cfg_scale: 7 });
    for (let i = 0; i < 200 && comfy.assignments().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    comfy.succeed(comfy.assignments()[1]!.taskId);
    expect((await defaulted).status).toBe(200);
    expect(comfy.assignments()[1]!.spec).toMatchObject({ cfgScale: 1, guidance: 2.5 });
    const refused = await app.post('/sdapi/v1/txt2img', { ...body, cfg_scale: 4 });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ detail: [{ loc: ['body', 'cfg_scale'], msg: expect.stringMatching(/Flux\.1 model, which runs at cfg_scale 1/) }] });
    // Forge's clients send distilled_cfg_scale on every call: at its default it changes nothing for an SD model; another value is refused.
    const sd = { prompt: 'x', distilled_cfg_scale: 3.5, override_settings: { sd_model_checkpoint: 'clarity' } };
    const sdAnswer = app.post('/sdapi/v1/txt2img', sd);
    await answerAll(1);
    expect((await sdAnswer).status).toBe(200);
    expect(node().assignments()[0]!.spec).not.toHaveProperty('guidance');
    // A refiner that never runs (named "none", or switching at the very end) is no refiner, as in A1111.
    for (const off of [{ refiner_checkpoint: 'none', refiner_switch_at: 0.8 }, { refiner_checkpoint: 'clarity', refiner_switch_at: 1 }]) {
      const answer = app.post('/sdapi/v1/txt2img', { ...sd, ...off });
      await answerAll(1);
      expect((await answer).status).toBe(200);
      expect(node().assignments().at(-1)!.spec).not.toHaveProperty('refiner');
    }
    const guided = await app.post('/sdapi/v1/txt2img', { ...sd, distilled_cfg_scale: 2 });
    expect(guided.body).toMatchObject({ detail: [{ loc: ['body', 'guidance'], msg: expect.stringMatching(/Flux's distilled guidance/) }] });
  });
});

describe('FLUX.1 Kontext through the WebUI door', () => {
  const kontext = { title: 'flux1-dev-kontext_fp8_scaled.safetensors', name: 'flux1-dev-kontext_fp8_scaled', fileName: 'flux1-dev-kontext_fp8_scaled.safetensors', sha256: null, family: 'flux-kontext' as const };

  it("edits with A1111's default strength (0.75) taken as the model's 1; refuses another, and txt2img", async () => {
    const app = await start();
    const comfy = app.world.connect('comfy', makeCapabilities({ backend: { kind: 'comfyui', version: null }, models: [kontext], schedulers: ['Automatic', 'Simple'] }));
    const init = pngBytes(64, 48).toString('base64');
    const body = { init_images: [init], prompt: 'make it night', denoising_strength: 0.75, cfg_scale: 7, override_settings: { sd_model_checkpoint: kontext.name } };
    const answering = app.post('/sdapi/v1/img2img', body);
    for (let i = 0; i < 200 && comfy.assignments().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    comfy.succeed(comfy.assignments()[0]!.taskId);
    expect((await answering).status).toBe(200);
    expect(comfy.assignments()[0]!.spec).toMatchObject({ kind: 'img2img', denoisingStrength: 1, cfgScale: 1, guidance: 2.5 });
    const refused = await app.post('/sdapi/v1/img2img', { ...body, denoising_strength: 0.5 });
    expect(refused.body).toMatchObject({ detail: [{ loc: ['body', 'denoising_strength'], msg: expect.stringMatching(/must be 1 or left out/) }] });
    const txt2img = await app.post('/sdapi/v1/txt2img', { prompt: 'x', override_settings: { sd_model_checkpoint: kontext.name } });
    expect(txt2img.body).toMatchObject({ detail: [{ loc: ['body', 'override_settings', 'sd_model_checkpoint'], msg: expect.stringMatching(/send it to img2img/) }] });
  });
});

describe('POST /sdapi/v1/img2img', () => {
  it('inpaints with A1111\'s mask meaning (white repainted), and maps ControlNet units', async () => {
    const app = await start();
    const png = pngBytes(64, 64).toString('base64');
    const unit = { enabled: true, module: 'canny', model: 'control_v11p_sd15_canny [d14c016b]', image: png, weight: 0.8, resize_mode: 'Crop and Resize', control_mode: 'ControlNet is more important', threshold_a: 90, threshold_b: 180, guidance_start: 0, guidance_end: 1, pixel_perfect: false, processor_res: 512 };
    const answering = app.post('/sdapi/v1/img2img', {
      prompt: 'a window',
      init_images: [png],
      mask: png,
      mask_blur: 6,
      inpainting_fill: 1,
      inpaint_full_res: false,
      inpaint_full_res_padding: 32,
      inpainting_mask_invert: 0,
      denoising_strength: 0.6,
      override_settings: { sd_model_checkpoint: 'clarity' },
      alwayson_scripts: { controlnet: { args: [unit] } },
    });
    await answerAll(1);
    const answer = await answering;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    // The request is echoed without its images, as A1111 does unless include_init_images asks for them.
    expect(answer.body).toMatchObject({ parameters: { prompt: 'a window', init_images: null, mask: null } });
    // What only the gateway reads stays with it: a node of an earlier release refuses a spec field it does not know.
    expect(node().assignments()[0]!.spec).not.toHaveProperty('initWidth');
    expect(node().assignments()[0]!.spec).not.toHaveProperty('initHeight');
    expect(node().assignments()[0]!.spec).toMatchObject({
      kind: 'img2img',
      denoisingStrength: 0.6,
      inpaint: { maskBlur: 6, regenerate: 'masked', area: 'whole' },
      controlNet: [{ module: 'canny', model: 'control_v11p_sd15_canny', weight: 0.8, resizeMode: 'crop_and_resize', guessMode: true, thresholdA: 90, thresholdB: 180 }],
    });
  });

  it('names a field the client sent that A1111 does not have by the client\'s name, and a key\'s refusal by A1111\'s names', async () => {
    const app = await start();
    // DAN's own field names, sent to the WebUI API: named as sent, not as the A1111 fields DAN would map them from.
    expect((await app.post('/sdapi/v1/txt2img', { prompt: 'x', model: 'clarity' })).body).toMatchObject({ detail: [{ loc: ['body', 'model'], msg: 'is not a field of this endpoint of the AUTOMATIC1111 API' }] });
    expect((await app.post('/sdapi/v1/img2img', { init_image: 'x' })).body).toMatchObject({ detail: [{ loc: ['body', 'init_image'] }] });
    const small = { authorization: `Bearer ${(await app.keys.create({ name: 'small', maxSteps: 20 })).secret}` };
    const refused = await app.post('/sdapi/v1/txt2img', { prompt: 'x', steps: 30, override_settings: { sd_model_checkpoint: 'clarity' } }, small);
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/^steps: this API key may use at most 20 steps/);
    const narrow = { authorization: `Bearer ${(await app.keys.create({ name: 'narrow', models: ['chillout_mix'] })).secret}` };
    const model = await app.post('/sdapi/v1/txt2img', { prompt: 'x', override_settings: { sd_model_checkpoint: 'clarity' } }, narrow);
    expect(model.status).toBe(403);
    expect(model.body.detail).toMatch(/^override_settings\.sd_model_checkpoint: /);
  });

  it('reads inpaint_full_res and inpainting_mask_invert as A1111\'s API reads them: 0 and "false" are the whole picture, null the default, true inverts', async () => {
    const app = await start();
    const init = pngBytes(64, 64).toString('base64');
    // inpainting_mask_invert, an int of A1111's, takes true as 1: the black pixels repainted.
    const inverted = app.post('/sdapi/v1/img2img', { init_images: [init], mask: init, inpainting_mask_invert: true, override_settings: { sd_model_checkpoint: 'clarity' } });
    await expect.poll(() => node().assignments().length).toBe(1);
    expect(node().assignments()[0]!.spec).toMatchObject({ inpaint: { regenerate: 'unmasked' } });
    node().succeed(node().assignments()[0]!.taskId);
    await inverted;
    for (const [value, area] of [[0, 'whole'], ['false', 'whole'], [false, 'whole'], [null, 'masked_only'], [1, 'masked_only']] as const) {
      const before = node().assignments().length;
      const answering = app.post('/sdapi/v1/img2img', { init_images: [init], mask: init, inpaint_full_res: value, override_settings: { sd_model_checkpoint: 'clarity' } });
      await expect.poll(() => node().assignments().length).toBe(before + 1);
      const assigned = node().assignments()[before]!;
      expect(assigned.spec, JSON.stringify(value)).toMatchObject({ inpaint: { area } });
      node().succeed(assigned.taskId);
      await answering;
    }
  });

  it('names the init image as A1111 does when it is not an image', async () => {
    const app = await start();
    const answer = await app.post('/sdapi/v1/img2img', { init_images: ['bm90IGFuIGltYWdl'], override_settings: { sd_model_checkpoint: 'clarity' } });
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ detail: [{ loc: ['body', 'init_images', 0] }] });
  });
});

describe('a WebUI\'s state, per caller', () => {
  it('keeps the checkpoint a key sets with POST /sdapi/v1/options as its own default, switching no GPU', async () => {
    const app = await start({ auth: 'required' });
    const alice = { authorization: `Bearer ${(await app.keys.create({ name: 'alice' })).secret}` };
    const bob = { authorization: `Basic ${Buffer.from(`bob:${(await app.keys.create({ name: 'bob' })).secret}`).toString('base64')}` };
    expect((await app.post('/sdapi/v1/options', { sd_model_checkpoint: 'anything-v4.5-pruned' }, alice)).status).toBe(200);
    expect((await app.get('/sdapi/v1/options', alice)).body).toMatchObject({ sd_model_checkpoint: expect.stringMatching(/^anything-v4.5-pruned \[/) });
    expect((await app.get('/sdapi/v1/options', bob)).body).toMatchObject({ sd_model_checkpoint: expect.stringMatching(/^chillout_mix \[/) });
    const answering = app.post('/sdapi/v1/txt2img', { prompt: 'x' }, alice);
    await answerAll(1);
    expect((await answering).status).toBe(200);
    expect(node().assignments()[0]!.spec).toMatchObject({ model: { name: 'anything-v4.5-pruned' } });
    // Settings DAN does not change are refused unless sent at the value it reports.
    expect((await app.post('/sdapi/v1/options', { samples_format: 'png' }, alice)).status).toBe(200);
    expect((await app.post('/sdapi/v1/options', { samples_format: 'jpg' }, alice)).body).toMatchObject({ detail: [{ loc: ['body', 'samples_format'] }] });
    // Refused as a whole: the checkpoint sent with a refused setting is not taken either.
    expect((await app.post('/sdapi/v1/options', { sd_model_checkpoint: 'clarity', samples_format: 'jpg' }, alice)).status).toBe(422);
    expect((await app.get('/sdapi/v1/options', alice)).body).toMatchObject({ sd_model_checkpoint: expect.stringMatching(/^anything-v4.5-pruned \[/) });
    expect((await app.post('/sdapi/v1/options', { sd_model_checkpoint: 'nope' }, alice)).status).toBe(422);
  });

  it('reports the caller\'s running task in /progress and stops it with /interrupt', async () => {
    const app = await start();
    expect((await app.get('/sdapi/v1/progress')).body).toMatchObject({ progress: 0, state: { job_count: 0 } });
    const answering = app.post('/sdapi/v1/txt2img', { prompt: 'slow', override_settings: { sd_model_checkpoint: 'clarity' } });
    await expect.poll(() => node().assignments().length).toBe(1);
    const { taskId } = node().assignments()[0]!;
    const preview = pngBytes(64, 64).toString('base64');
    node().progress(taskId, 0.4, 6, preview);
    // 50 steps (A1111's default), 40 % through: step 20.
    await expect.poll(async () => (await app.get('/sdapi/v1/progress')).body).toMatchObject({ progress: 0.4, state: { job: taskId, job_count: 1, sampling_step: 20, sampling_steps: 50 }, current_image: preview });
    // As a WebUI client sends it: JSON's content type, no body at all.
    const interrupted = await app.send({ method: 'POST', url: '/sdapi/v1/interrupt', headers: { 'content-type': 'application/json' } });
    expect(interrupted.status).toBe(200);
    expect(node().cancels()).toContain(taskId);
    expect((await app.send({ method: 'POST', url: '/sdapi/v1/skip', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    // Other routes still say an empty body is one.
    expect((await app.send({ method: 'POST', url: '/sdapi/v1/txt2img', headers: { 'content-type': 'application/json' } })).status).toBe(422);
    const answer = await answering;
    expect(answer.body).toMatchObject({ error: 'DAN_ERR_TASK_CANCELLED' });
  });

  it('lists what the network serves in A1111\'s shapes', async () => {
    const app = await start();
    const models = (await app.get('/sdapi/v1/sd-models')).body as { title: string; model_name: string; sha256: string }[];
    expect(models.find((m) => m.model_name === 'clarity')).toEqual({ title: `clarity [${catalogModels[1]!.sha256.slice(0, 10)}]`, model_name: 'clarity', hash: catalogModels[1]!.sha256.slice(0, 10), sha256: catalogModels[1]!.sha256, filename: 'clarity', config: null });
    expect((await app.get('/sdapi/v1/samplers')).body).toEqual(expect.arrayContaining([{ name: 'Euler a', aliases: [], options: {} }]));
    expect(((await app.get('/sdapi/v1/upscalers')).body as { name: string }[])[0]).toMatchObject({ name: 'None' });
    expect(((await app.get('/sdapi/v1/loras')).body as unknown[]).length).toBeGreaterThan(0);
    expect((await app.get('/controlnet/model_list')).body).toMatchObject({ model_list: expect.any(Array) });
    expect(((await app.get('/controlnet/module_list')).body as { module_list: string[] }).module_list).toContain('canny');
  });
});

describe('one of the network\'s nodes calling a gateway of it as its WebUI', () => {
  it('is refused with a 508 naming the mistake, whatever address it used; another network\'s node and plain clients are not', async () => {
    const app = await start();
    const nodeId = [...app.world.hub.sessions.keys()][0]!;
    const own = { [NODE_ID_HEADER]: nodeId };
    for (const answer of [await app.get('/sdapi/v1/sd-models', own), await app.post('/sdapi/v1/txt2img', { prompt: 'x' }, own)]) {
      expect(answer.status).toBe(508);
      expect(JSON.stringify(answer.body)).toContain('--webui');
    }
    expect(node().assignments()).toEqual([]);
    // A node of another network (a connection id unknown here) chains through this one, as any client.
    expect((await app.get('/sdapi/v1/sd-models', { [NODE_ID_HEADER]: 'bridge-0a1b2c' })).status).toBe(200);
    expect((await app.get('/sdapi/v1/sd-models')).status).toBe(200);
    // Gone from this gateway, its connection's id names none of its nodes.
    node().leave();
    await expect.poll(async () => (await app.get('/sdapi/v1/sd-models', own)).status).toBe(200);
  });
});
