import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { readPngText } from '../../src/sandbox/png-text.js';
import { postJson, sizeOf, type PostJson } from './sandbox-helpers.js';

const small = { width: 64, height: 64, steps: 4 };

describe('sandbox txt2img', () => {
  let sandbox: Sandbox;
  let txt2img: PostJson;
  beforeAll(async () => {
    sandbox = await startSandbox({ speed: Infinity });
    txt2img = (body) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
  });
  afterAll(() => sandbox.close());

  it('returns a PNG of the requested size with an A1111 parameters chunk and a JSON-string info', async () => {
    const res = await txt2img({ prompt: 'a cat', negative_prompt: 'blurry', seed: 123, steps: 20, sampler_name: 'Euler a', width: 96, height: 64 });
    expect(res.status).toBe(200);
    expect(res.body.images).toHaveLength(1);
    expect(await sizeOf(res.body.images[0])).toEqual({ width: 96, height: 64, format: 'png' });
    const text = readPngText(Buffer.from(res.body.images[0], 'base64'));
    expect(text['parameters']).toBe(
      'a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 123, ' +
        'Size: 96x64, Model hash: 3a17d0deff, Model: chilloutmix_NiPrunedFp32Fix, Version: sandbox',
    );
    expect(typeof res.body.info).toBe('string');
    const info = JSON.parse(res.body.info);
    expect(info).toMatchObject({ seed: 123, all_seeds: [123], width: 96, height: 64, sampler_name: 'Euler a', sd_model_hash: '3a17d0deff' });
    expect(info.infotexts).toEqual([text['parameters']]);
    expect(res.body.parameters).toMatchObject({ prompt: 'a cat', steps: 20, cfg_scale: 7, send_images: true });
  });

  it('picks a random seed for -1 and numbers a batch consecutively', async () => {
    const res = await txt2img({ ...small, seed: -1, batch_size: 2, n_iter: 2 });
    const info = JSON.parse(res.body.info);
    expect(res.body.images).toHaveLength(4);
    expect(info.seed).toBeGreaterThanOrEqual(0);
    expect(info.seed).toBeLessThan(4294967294);
    expect(info.all_seeds).toEqual([0, 1, 2, 3].map((i) => info.seed + i));
  });

  it('renders the same bytes for the same seed and different bytes for another seed', async () => {
    const [a, b, c] = await Promise.all([7, 7, 8].map((seed) => txt2img({ ...small, prompt: 'x', seed })));
    expect(a?.body.images[0]).toBe(b?.body.images[0]);
    expect(a?.body.images[0]).not.toBe(c?.body.images[0]);
  });

  it('rounds sides down to multiples of 8, as the latent does', async () => {
    const res = await txt2img({ ...small, width: 100, height: 70 });
    expect(await sizeOf(res.body.images[0])).toMatchObject({ width: 96, height: 64 });
    expect(JSON.parse(res.body.info)).toMatchObject({ width: 100, height: 70 });
  });

  it('makes hires-fix images at width×hr_scale and writes the hires infotext', async () => {
    const res = await txt2img({ ...small, enable_hr: true, hr_scale: 1.5, hr_upscaler: 'R-ESRGAN 4x+', denoising_strength: 0.5 });
    expect(res.status).toBe(200);
    expect(await sizeOf(res.body.images[0])).toMatchObject({ width: 96, height: 96 });
    const info = JSON.parse(res.body.info);
    expect(info.infotexts[0]).toContain('Denoising strength: 0.5, Hires upscale: 1.5, Hires upscaler: R-ESRGAN 4x+');
    const resized = await txt2img({ ...small, enable_hr: true, hr_resize_x: 128, denoising_strength: 0.5 });
    expect(await sizeOf(resized.body.images[0])).toMatchObject({ width: 128, height: 128 });
  });

  it('refuses enable_hr without denoising_strength, and an unknown hires upscaler', async () => {
    const missing = await txt2img({ ...small, enable_hr: true });
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0]).toMatchObject({ loc: ['body', 'denoising_strength'], type: 'value_error.sandbox_strict' });
    const unknown = await txt2img({ ...small, enable_hr: true, denoising_strength: 0.5, hr_upscaler: 'ESRGAN 4x' });
    expect(unknown.status).toBe(500);
    expect(unknown.body.errors).toBe('could not find upscaler named ESRGAN 4x');
  });

  it('refuses unknown fields with FastAPIs extra-field error', async () => {
    const res = await txt2img({ ...small, cfg: 7 });
    expect(res).toEqual({
      status: 422,
      body: { detail: [{ loc: ['body', 'cfg'], msg: 'extra fields not permitted', type: 'value_error.extra' }] },
    });
  });

  it('does not coerce: a string, a float or a boolean for an int is a 422', async () => {
    for (const steps of ['20', 20.5, true]) {
      const res = await txt2img({ ...small, steps });
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([{ loc: ['body', 'steps'], msg: 'value is not a valid integer', type: 'type_error.integer' }]);
    }
    const float = await txt2img({ ...small, cfg_scale: '7' });
    expect(float.body.detail[0]).toMatchObject({ loc: ['body', 'cfg_scale'], type: 'type_error.float' });
  });

  it('answers malformed JSON with a 422 jsondecode error and keeps serving', async () => {
    const res = await txt2img('{"prompt": ');
    expect(res.status).toBe(422);
    expect(res.body.detail[0].type).toBe('value_error.jsondecode');
    expect((await txt2img(small)).status).toBe(200);
  });

  it('refuses an unknown sampler with 400 but accepts a legacy combined name', async () => {
    const unknown = await txt2img({ ...small, sampler_name: 'k_euler_a' });
    expect(unknown).toEqual({ status: 400, body: { error: 'HTTPException', detail: 'Sampler not found', body: '', errors: '400: Sampler not found' } });
    const legacy = await txt2img({ ...small, sampler_name: 'DPM++ SDE Exponential' });
    expect(legacy.status).toBe(200);
    expect(JSON.parse(legacy.body.info).infotexts[0]).toContain('Sampler: DPM++ SDE, Schedule type: Exponential');
    // Karras is DPM++ 2M's own default, so A1111 reports it as Automatic.
    const dflt = await txt2img({ ...small, sampler_name: 'DPM++ 2M', scheduler: 'karras' });
    expect(JSON.parse(dflt.body.info).infotexts[0]).toContain('Schedule type: Automatic');
    const badScheduler = await txt2img({ ...small, sampler_name: 'Euler', scheduler: 'Karas' });
    expect(badScheduler.status).toBe(422);
    expect(badScheduler.body.detail[0].loc).toEqual(['body', 'scheduler']);
  });

  it('refuses a checkpoint override that is not an exact A1111 alias', async () => {
    const res = await txt2img({ ...small, override_settings: { sd_model_checkpoint: 'chilloutmix' } });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['body', 'override_settings', 'sd_model_checkpoint']);
    expect(res.body.detail[0].msg).toContain('"chilloutmix"');
    for (const alias of ['clarity.safetensors [627a6f5c8b]', 'clarity', 'clarity.safetensors', '627a6f5c8b']) {
      const ok = await txt2img({ ...small, override_settings: { sd_model_checkpoint: alias } });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body.info).sd_model_name).toBe('clarity');
    }
  });

  it('checks <lora:NAME:W> tags: unknown names and non-numeric weights are refused', async () => {
    const unknown = await txt2img({ ...small, prompt: 'a girl <lora:koreanDollLikeness_v10:0.6>' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail[0].msg).toContain('<lora:koreanDollLikeness_v10:0.6>');
    const badWeight = await txt2img({ ...small, negative_prompt: '<lora:kobeni_v10:strong>' });
    expect(badWeight.status).toBe(422);
    expect(badWeight.body.detail[0].loc).toEqual(['body', 'negative_prompt']);
    const ok = await txt2img({ ...small, prompt: 'a girl <lora:koreandolllikeness_V10:0.6> <lora:kobeni_v10>' });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body.info).infotexts[0]).toMatch(/Lora hashes: "koreandolllikeness_V10: [0-9a-f]{12}, kobeni_v10: [0-9a-f]{12}"/);
  });

  it('refuses scripts and styles it does not have', async () => {
    expect((await txt2img({ ...small, script_name: 'x/y/z plot' })).body.detail).toBe("Script 'x/y/z plot' not found");
    expect((await txt2img({ ...small, alwayson_scripts: { adetailer: { args: [] } } })).status).toBe(422);
    expect((await txt2img({ ...small, styles: ['cinematic'] })).status).toBe(422);
  });

  it('returns no images when send_images is false', async () => {
    const res = await txt2img({ ...small, send_images: false });
    expect(res.body.images).toEqual([]);
  });

  it('records POSTs with their status and base64 replaced', async () => {
    const own = await startSandbox({ speed: Infinity });
    try {
      const image = 'A'.repeat(400);
      await postJson(`${own.url}/sdapi/v1/img2img`, { ...small, init_images: [image] });
      await postJson(`${own.url}/sdapi/v1/txt2img`, { ...small, prompt: 'ok' });
      expect(own.requests()).toEqual([
        { method: 'POST', path: '/sdapi/v1/img2img', status: 500, body: { ...small, init_images: ['<base64 300 bytes>'] } },
        { method: 'POST', path: '/sdapi/v1/txt2img', status: 200, body: { ...small, prompt: 'ok' } },
      ]);
      expect(own.stats()).toMatchObject({ jobs: 1, rejected: 1 });
    } finally {
      await own.close();
    }
  });
});
