/**
 * The time model and the one-job-at-a-time queue, on a fake clock: every
 * duration is computed from the formula documented in src/sandbox/time-model.ts
 * and asserted exactly, in the sandbox clock's milliseconds (modelled seconds ×
 * 1000 / speed). No real time is measured.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { REFERENCE_TIMESTAMP } from '../helpers/fake-clock.js';
import { ModelledTime } from './modelled-time.js';
import { getJson, postJson, type PostJson } from './sandbox-helpers.js';

const IT_PER_SECOND = 15;
/** Modelled time runs this much faster on the sandbox's clock. */
const SPEED = 10;
/** Small images keep the (real, unmodelled) rendering quick. */
const SIDE = 128;
/** Modelled seconds of one first-order step, batch 1, at `pixels` (the documented formula). */
const stepSeconds = (pixels: number) => (pixels / (512 * 512)) ** 0.72 / IT_PER_SECOND;
const STEP_SECONDS = stepSeconds(SIDE * SIDE);
/** Clock milliseconds of a wait for `seconds` of modelled time; whole ms, as Node's and the fake clock's timers truncate their delay. */
const timerMs = (seconds: number) => Math.trunc((seconds * 1000) / SPEED);
const BASE_STEPS = 20;
const BASE_MS = timerMs(BASE_STEPS * STEP_SECONDS);

const job = (extra: Record<string, unknown> = {}) => ({ width: SIDE, height: SIDE, steps: BASE_STEPS, sampler_name: 'Euler', ...extra });

describe('sandbox timing', () => {
  const time = new ModelledTime();
  let sandbox: Sandbox;
  let txt2img: PostJson;
  const progress = async () => (await getJson(`${sandbox.url}/sdapi/v1/progress`)).body;

  beforeAll(async () => {
    sandbox = await time.start({ speed: SPEED, itPerSecond: IT_PER_SECOND, switchSeconds: 4 });
    txt2img = (body) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
  });
  afterAll(() => sandbox.close());

  it('runs one job at a time: a second request finishes a full job after the first', async () => {
    const busyBefore = sandbox.stats().busyMs;
    const start = time.clock.now();
    const first = txt2img(job({ prompt: 'first' }));
    await time.nextWait();
    const queued = once(sandbox.jobs, 'queued');
    const second = txt2img(job({ prompt: 'second' }));
    await queued;
    // Both are in; had they run side by side, both would end at the first one's end.
    await time.clock.next();
    expect((await first).status).toBe(200);
    expect(time.clock.now() - start).toBe(BASE_MS);
    const rest = await time.finish(second, start);
    expect(rest.value.status).toBe(200);
    expect(rest.ms).toBe(2 * BASE_MS);
    expect(sandbox.stats().busyMs - busyBefore).toBe(2 * BASE_MS);
    const prompts = sandbox.requests().slice(-2).map((r) => (r.body as { prompt: string }).prompt);
    expect(prompts).toEqual(['first', 'second']);
  });

  it('charges twice as much for a second-order sampler, and 4^0.72 of the first pass for a 2× hires fix', async () => {
    const steps = BASE_STEPS * 2;
    const euler = await time.finish(txt2img(job({ steps })));
    const heun = await time.finish(txt2img(job({ steps, sampler_name: 'Heun' })));
    const hires = await time.finish(txt2img(job({ steps, enable_hr: true, hr_scale: 2, denoising_strength: 0.5 })));
    expect(euler.ms).toBe(timerMs(steps * STEP_SECONDS));
    expect(heun.ms).toBe(timerMs(steps * 2 * STEP_SECONDS));
    // The default Latent upscaler costs nothing; the second pass samples 4× the pixels.
    expect(hires.waits.map((w) => w.kind)).toEqual(['sampling', 'sampling']);
    expect(hires.ms).toBe(euler.ms + timerMs(steps * 4 ** 0.72 * STEP_SECONDS));
  });

  it('charges a model upscaler per output megapixel in hires fix, and interrogate its fixed cost', async () => {
    const hires = await time.finish(txt2img(job({ enable_hr: true, hr_scale: 2, denoising_strength: 0.5, hr_upscaler: 'R-ESRGAN 4x+' })));
    const target = (2 * SIDE) ** 2;
    expect(hires.waits.map((w) => w.kind)).toEqual(['sampling', 'upscaler', 'sampling']);
    expect(hires.ms).toBe(BASE_MS + timerMs((target / 1e6) * 0.5) + timerMs(BASE_STEPS * stepSeconds(target)));
    const image = hires.value.body.images[0];
    const caption = await time.finish(postJson(`${sandbox.url}/sdapi/v1/interrogate`, { image }));
    expect(caption.ms).toBe(timerMs(1.5));
  });

  it('runs int(min(strength, 0.999) × steps) + 1 steps in img2img', async () => {
    const init = (await time.finish(txt2img(job({ steps: 1 })))).value.body.images[0];
    const img2img = (denoising_strength: number) =>
      time.finish(postJson(`${sandbox.url}/sdapi/v1/img2img`, job({ init_images: [init], steps: 80, denoising_strength })));
    expect((await img2img(0.99)).ms).toBe(timerMs(80 * STEP_SECONDS));
    expect((await img2img(1)).ms).toBe(timerMs(80 * STEP_SECONDS));
    expect((await img2img(0.25)).ms).toBe(timerMs(21 * STEP_SECONDS));
  });

  it('reports progress between 0 and 1 while a job samples, and 0 when idle', async () => {
    const steps = BASE_STEPS * 4;
    const running = txt2img(job({ steps }));
    await time.nextWait();
    const stageMs = (steps * STEP_SECONDS * 1000) / SPEED;
    const elapsedMs = Math.floor(stageMs * 0.4);
    await time.clock.advance(elapsedMs);
    const mid = await progress();
    const step = Math.floor((steps * elapsedMs) / stageMs);
    expect(step).toBeGreaterThan(0);
    expect(mid.state).toMatchObject({ job_count: 1, job_no: 0, sampling_step: step, sampling_steps: steps, interrupted: false });
    // progress = 0.01 + job_no / job_count + step / steps / job_count; eta = elapsed / progress − elapsed.
    expect(mid.progress).toBeCloseTo(0.01 + step / steps, 12);
    expect(mid.progress).toBeLessThan(1);
    const elapsed = elapsedMs / 1000;
    expect(mid.eta_relative).toBeCloseTo(elapsed / mid.progress - elapsed, 12);
    expect((await time.finish(running)).value.status).toBe(200);
    expect(await progress()).toMatchObject({ progress: 0, eta_relative: 0, state: { job_count: 0 } });
  });

  it('ends the running job early on /interrupt, still answering 200 with images, and leaves the next job alone', async () => {
    const start = time.clock.now();
    const long = txt2img(job({ steps: BASE_STEPS * 10 }));
    await time.nextWait();
    const queued = once(sandbox.jobs, 'queued');
    const next = txt2img(job());
    await queued;
    await time.clock.advance(BASE_MS);
    expect((await postJson(`${sandbox.url}/sdapi/v1/interrupt`, {})).body).toEqual({});
    const interrupted = await long;
    expect(interrupted.status).toBe(200);
    expect(interrupted.body.images).toHaveLength(1);
    // It answered without the clock moving past the interrupt.
    expect(time.clock.now() - start).toBe(BASE_MS);
    const after = await time.finish(next);
    expect(after.value.status).toBe(200);
    expect(after.ms).toBe(BASE_MS);
  });

  it('on /skip ends only the current batch iteration', async () => {
    const steps = BASE_STEPS * 4;
    const iterationMs = timerMs(steps * STEP_SECONDS);
    const start = time.clock.now();
    const batch = txt2img(job({ steps, n_iter: 3 }));
    await time.nextWait();
    await time.clock.advance(Math.floor(iterationMs / 2));
    expect((await postJson(`${sandbox.url}/sdapi/v1/skip`, {})).body).toBeNull();
    await time.nextWait();
    // The second iteration samples from its start, no longer skipped.
    expect((await progress()).state).toMatchObject({ job_count: 3, job_no: 1, sampling_step: 0, skipped: false });
    const { value, ms } = await time.finish(batch, start);
    expect(value.body.images).toHaveLength(3);
    expect(ms).toBe(Math.floor(iterationMs / 2) + 2 * iterationMs);
  });
});

describe('sandbox at speed Infinity', () => {
  it('does not wait at all', async () => {
    const time = new ModelledTime();
    await using sandbox = await time.start({ speed: Infinity });
    // 2 × 1000 steps at the default 15 it/s: minutes of modelled GPU time.
    const answer = postJson(`${sandbox.url}/sdapi/v1/txt2img`, job({ steps: 1000, n_iter: 2 }));
    // A wait announced first would show here instead of the answer.
    expect(await Promise.race([answer, time.nextWait()])).toMatchObject({ status: 200 });
    expect(time.clock.now()).toBe(REFERENCE_TIMESTAMP);
    expect(time.clock.pending).toBe(0);
  });
});

describe('sandbox step costs by family (the WebUI flavours)', () => {
  it('takes a step of a checkpoint its offerings name the family of at that family\'s cost, the others at SD 1.5\'s', async () => {
    const time = new ModelledTime();
    const offerings = { models: [{ fileName: 'sd15.safetensors', sha256: null }, { fileName: 'xl.safetensors', sha256: null, family: 'sdxl' as const }], loadedModel: 'sd15.safetensors' };
    await using sandbox = await time.start({ speed: SPEED, itPerSecond: IT_PER_SECOND, switchSeconds: 0, offerings, stepCosts: { sdxl: 3 } });
    const txt2img = (body: Record<string, unknown>) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    const sd = await time.finish(txt2img(job()));
    const xl = await time.finish(txt2img(job({ override_settings: { sd_model_checkpoint: 'xl.safetensors' }, override_settings_restore_afterwards: false })));
    const sampling = (waits: { kind: string; ms: number }[]) => waits.filter((w) => w.kind === 'sampling').reduce((sum, w) => sum + w.ms, 0);
    // The waits as announced, in the clock's milliseconds before its timers truncate them.
    expect(sampling(sd.waits)).toBeCloseTo((BASE_STEPS * STEP_SECONDS * 1000) / SPEED, 6);
    expect(sampling(xl.waits)).toBeCloseTo((BASE_STEPS * 3 * STEP_SECONDS * 1000) / SPEED, 6);
  });
});

describe('sandbox checkpoint switching', () => {
  const SWITCH_SECONDS = 4;
  const time = new ModelledTime();
  let sandbox: Sandbox;
  let txt2img: PostJson;
  const small = { width: 64, height: 64, steps: 2 };
  const SMALL_MS = timerMs(2 * stepSeconds(64 * 64));
  const SWITCH_MS = timerMs(SWITCH_SECONDS);
  const configured = async () => (await getJson(`${sandbox.url}/sdapi/v1/options`)).body.sd_model_checkpoint;
  const kinds = (waits: { kind: string }[]) => waits.map((w) => w.kind);

  beforeAll(async () => {
    sandbox = await time.start({ switchSeconds: SWITCH_SECONDS, speed: SPEED });
    txt2img = (body) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
  });
  afterAll(() => sandbox.close());

  it('pays and counts a switch for an override, and switches back afterwards when the override is restored', async () => {
    const same = await time.finish(txt2img(small));
    expect(same.ms).toBe(SMALL_MS);
    expect(sandbox.stats().checkpointSwitches).toBe(0);
    const other = await time.finish(txt2img({ ...small, override_settings: { sd_model_checkpoint: 'clarity.safetensors [627a6f5c8b]' } }));
    expect(JSON.parse(other.value.body.info).sd_model_name).toBe('clarity');
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: 1, loadedModel: 'clarity.safetensors' });
    expect(kinds(other.waits)).toEqual(['checkpoint load', 'sampling']);
    expect(other.ms).toBe(SWITCH_MS + SMALL_MS);
    // override_settings_restore_afterwards (default true) restores the option, not the weights.
    expect(await configured()).toBe('chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]');
    const back = await time.finish(txt2img(small));
    expect(JSON.parse(back.value.body.info).sd_model_name).toBe('chilloutmix_NiPrunedFp32Fix');
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: 2, loadedModel: 'chilloutmix_NiPrunedFp32Fix.safetensors' });
    expect(back.ms).toBe(SWITCH_MS + SMALL_MS);
  });

  it('keeps the override loaded with restore_afterwards false, and switches on POST /options', async () => {
    const before = sandbox.stats().checkpointSwitches;
    const override = { sd_model_checkpoint: 'anything-v4.5-pruned' };
    await time.finish(txt2img({ ...small, override_settings: override, override_settings_restore_afterwards: false }));
    expect(await configured()).toBe('anything-v4.5-pruned.safetensors [6e430eb514]');
    expect((await time.finish(txt2img(small))).ms).toBe(SMALL_MS);
    expect(sandbox.stats().checkpointSwitches).toBe(before + 1);
    const switched = await time.finish(postJson(`${sandbox.url}/sdapi/v1/options`, { sd_model_checkpoint: 'clarity' }));
    expect(switched.value).toEqual({ status: 200, body: null });
    expect(kinds(switched.waits)).toEqual(['checkpoint load']);
    expect(switched.ms).toBe(SWITCH_MS);
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: before + 2, loadedModel: 'clarity.safetensors' });
    expect(await configured()).toBe('clarity.safetensors [627a6f5c8b]');
  });

  it('finishes a checkpoint load despite /interrupt, then skips sampling', async () => {
    const start = time.clock.now();
    const override = txt2img({ ...small, override_settings: { sd_model_checkpoint: 'anything-v4.5-pruned' } });
    expect((await time.nextWait()).kind).toBe('checkpoint load');
    await postJson(`${sandbox.url}/sdapi/v1/interrupt`, {});
    const { value, ms, waits } = await time.finish(override, start);
    expect(value.status).toBe(200);
    expect(waits).toEqual([]);
    expect(ms).toBe(SWITCH_MS);
    expect(sandbox.stats().loadedModel).toBe('anything-v4.5-pruned.safetensors');
  });
});

describe('sandbox checkpoints with their own load time', () => {
  it('pays a checkpoint\'s own load time on POST /options and inside txt2img, and --switch-seconds for the others', async () => {
    const time = new ModelledTime();
    const models = [
      { fileName: 'sd15.safetensors', sha256: null },
      { fileName: 'sdxl.safetensors', sha256: null, loadSeconds: 25 },
    ];
    const sandbox = await time.start({ speed: SPEED, switchSeconds: 3, offerings: { models, loadedModel: 'sd15.safetensors' } });
    try {
      const toXl = await time.finish(postJson(`${sandbox.url}/sdapi/v1/options`, { sd_model_checkpoint: 'sdxl.safetensors' }));
      expect(toXl.ms).toBe(timerMs(25));
      const back = await time.finish(postJson(`${sandbox.url}/sdapi/v1/txt2img`, { width: 64, height: 64, steps: 1, override_settings: { sd_model_checkpoint: 'sd15' } }));
      expect(back.waits.map((w) => [w.kind, w.ms])).toEqual([['checkpoint load', timerMs(3)], ['sampling', expect.any(Number)]]);
      expect(sandbox.stats().checkpointSwitches).toBe(2);
    } finally {
      await sandbox.close();
    }
  });
});

describe('sandbox close', () => {
  it('does not wait out the modelled time of running and queued jobs', async () => {
    const time = new ModelledTime();
    const sandbox = await time.start({ speed: 1 });
    const body = { width: 512, height: 512, steps: 200 };
    const running = postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    await time.nextWait();
    const queued = once(sandbox.jobs, 'queued');
    const waiting = postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    await queued;
    const closing = sandbox.close();
    expect([(await running).status, (await waiting).status]).toEqual([200, 200]);
    await closing;
    // Both answered with the clock where it started, and no timer left behind.
    expect(time.clock.now()).toBe(REFERENCE_TIMESTAMP);
    expect(time.clock.pending).toBe(0);
  });
});
