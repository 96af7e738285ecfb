/**
 * The time model and the one-job-at-a-time queue. Assertions compare order and
 * ratios of durations measured in the same run, never absolute thresholds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { getJson, postJson, waitFor, type PostJson } from './sandbox-helpers.js';

const IT_PER_SECOND = 15;
/** Small images keep rendering (not modelled) a minor part of each measured duration. */
const SIDE = 128;
/** Modelled seconds of one first-order step at SIDE² (the documented formula). */
const STEP_SECONDS = ((SIDE * SIDE) / (512 * 512)) ** 0.72 / IT_PER_SECOND;
const BASE_STEPS = 20;
/** Wall time wanted for a BASE_STEPS job. */
const BASE_WALL_MS = 200;
const SPEED = (BASE_STEPS * STEP_SECONDS * 1000) / BASE_WALL_MS;

const job = (extra: Record<string, unknown> = {}) => ({ width: SIDE, height: SIDE, steps: BASE_STEPS, sampler_name: 'Euler', ...extra });

async function timed<T>(work: Promise<T>, since = performance.now()): Promise<{ value: T; ms: number }> {
  const value = await work;
  return { value, ms: performance.now() - since };
}

describe('sandbox timing', () => {
  let sandbox: Sandbox;
  let txt2img: PostJson;
  const progress = async () => (await getJson(`${sandbox.url}/sdapi/v1/progress`)).body;
  const whenSampling = () => waitFor(async () => ((await progress()).state.sampling_step >= 1 ? progress() : undefined));

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: SPEED, itPerSecond: IT_PER_SECOND, switchSeconds: 4 });
    txt2img = (body) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    // Warm up (JIT, sharp) so the first measured job is not the slowest.
    await txt2img(job({ steps: 1 }));
  });
  afterAll(() => sandbox.close());

  it('runs one job at a time: a second request finishes a full job after the first', async () => {
    const busyBefore = sandbox.stats().busyMs;
    const start = performance.now();
    const first = timed(txt2img(job({ prompt: 'first' })), start);
    await waitFor(async () => ((await progress()).state.job_count > 0 ? true : undefined));
    const second = timed(txt2img(job({ prompt: 'second' })), start);
    const [a, b] = await Promise.all([first, second]);
    expect(a.value.status).toBe(200);
    expect(b.value.status).toBe(200);
    expect(b.ms).toBeGreaterThan(a.ms);
    // Had they run side by side, the second would end about one job after the start.
    expect(b.ms / (2 * BASE_WALL_MS)).toBeGreaterThan(0.95);
    const busy = sandbox.stats().busyMs - busyBefore;
    // Two modelled jobs held the lock, within the time the client waited.
    expect(busy / (2 * BASE_WALL_MS)).toBeGreaterThan(0.95);
    expect(busy).toBeLessThanOrEqual(b.ms);
    const prompts = sandbox.requests().slice(-2).map((r) => (r.body as { prompt: string }).prompt);
    expect(prompts).toEqual(['first', 'second']);
  });

  it('charges about twice as much for a second-order sampler, and more for hires fix', async () => {
    const steps = BASE_STEPS * 2;
    const euler = await timed(txt2img(job({ steps })));
    const heun = await timed(txt2img(job({ steps, sampler_name: 'Heun' })));
    const hires = await timed(txt2img(job({ steps, enable_hr: true, hr_scale: 2, denoising_strength: 0.5 })));
    expect(heun.ms / euler.ms).toBeGreaterThan(1.5);
    expect(heun.ms / euler.ms).toBeLessThan(3.2);
    // 1 + 4^0.72 ≈ 3.7 times the first pass alone.
    expect(hires.ms / euler.ms).toBeGreaterThan(2.6);
  });

  it('runs int(strength × steps) + 1 steps in img2img', async () => {
    const init = (await txt2img(job({ steps: 1 }))).body.images[0];
    const img2img = (denoising_strength: number) =>
      timed(postJson(`${sandbox.url}/sdapi/v1/img2img`, job({ init_images: [init], steps: 80, denoising_strength })));
    const full = await img2img(0.99);
    const quarter = await img2img(0.25);
    // 80 vs 21 steps.
    expect(full.ms / quarter.ms).toBeGreaterThan(2);
  });

  it('reports progress between 0 and 1 while a job samples', async () => {
    const running = txt2img(job({ steps: BASE_STEPS * 4 }));
    const mid = await whenSampling();
    expect(mid.progress).toBeGreaterThan(0);
    expect(mid.progress).toBeLessThan(1);
    expect(mid.state).toMatchObject({ job_count: 1, job_no: 0, sampling_steps: BASE_STEPS * 4, interrupted: false });
    expect(mid.eta_relative).toBeGreaterThan(0);
    expect((await running).status).toBe(200);
    expect((await progress()).progress).toBe(0);
  });

  it('ends the running job early on /interrupt, still answering 200 with images, and leaves the next job alone', async () => {
    const steps = BASE_STEPS * 10;
    const expectedMs = (steps * STEP_SECONDS * 1000) / SPEED;
    const start = performance.now();
    const long = timed(txt2img(job({ steps })), start);
    await whenSampling();
    const queued = timed(txt2img(job()), start);
    const interruptMs = performance.now() - start;
    expect((await postJson(`${sandbox.url}/sdapi/v1/interrupt`, {})).body).toEqual({});
    const [a, b] = await Promise.all([long, queued]);
    expect(a.value.status).toBe(200);
    expect(a.value.body.images).toHaveLength(1);
    expect(a.ms / expectedMs).toBeLessThan(0.5);
    // The queued job ran in full after the interrupt.
    expect((b.ms - interruptMs) / BASE_WALL_MS).toBeGreaterThan(0.95);
  });

  it('on /skip ends only the current batch iteration', async () => {
    const expectedMs = (3 * BASE_STEPS * 4 * STEP_SECONDS * 1000) / SPEED;
    const start = performance.now();
    const batch = timed(txt2img(job({ steps: BASE_STEPS * 4, n_iter: 3 })), start);
    await whenSampling();
    await postJson(`${sandbox.url}/sdapi/v1/skip`, {});
    const { value, ms } = await batch;
    expect(value.body.images).toHaveLength(3);
    expect(ms / expectedMs).toBeLessThan(0.85);
    expect(ms / expectedMs).toBeGreaterThan(0.45);
  });

  it('does not wait at all at speed Infinity', async () => {
    const instant = await startSandbox({ speed: Infinity });
    try {
      // 2 × 1000 steps at 512² and the default 15 it/s: over two minutes of GPU time.
      const modelledMs = ((2 * 1000) / 15) * 1000;
      const res = await timed(postJson(`${instant.url}/sdapi/v1/txt2img`, job({ width: 512, height: 512, steps: 1000, n_iter: 2 })));
      expect(res.value.status).toBe(200);
      expect(res.ms / modelledMs).toBeLessThan(0.01);
    } finally {
      await instant.close();
    }
  });
});

describe('sandbox checkpoint switching', () => {
  const SWITCH_WALL_MS = 200;
  let sandbox: Sandbox;
  let txt2img: PostJson;
  const small = { width: 64, height: 64, steps: 2 };
  const configured = async () => (await getJson(`${sandbox.url}/sdapi/v1/options`)).body.sd_model_checkpoint;

  beforeAll(async () => {
    sandbox = await startSandbox({ switchSeconds: 4, speed: 4000 / SWITCH_WALL_MS });
    txt2img = (body) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    await txt2img(small);
  });
  afterAll(() => sandbox.close());

  it('pays and counts a switch for an override, and switches back afterwards when the override is restored', async () => {
    const same = await timed(txt2img(small));
    expect(sandbox.stats().checkpointSwitches).toBe(0);
    const other = await timed(txt2img({ ...small, override_settings: { sd_model_checkpoint: 'clarity.safetensors [627a6f5c8b]' } }));
    expect(JSON.parse(other.value.body.info).sd_model_name).toBe('clarity');
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: 1, loadedModel: 'clarity.safetensors' });
    expect(other.ms / SWITCH_WALL_MS).toBeGreaterThan(0.95);
    expect(other.ms).toBeGreaterThan(same.ms);
    // override_settings_restore_afterwards (default true) restores the option, not the weights.
    expect(await configured()).toBe('chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]');
    const back = await txt2img(small);
    expect(JSON.parse(back.body.info).sd_model_name).toBe('chilloutmix_NiPrunedFp32Fix');
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: 2, loadedModel: 'chilloutmix_NiPrunedFp32Fix.safetensors' });
  });

  it('keeps the override loaded with restore_afterwards false, and switches on POST /options', async () => {
    const before = sandbox.stats().checkpointSwitches;
    await txt2img({ ...small, override_settings: { sd_model_checkpoint: 'anything-v4.5-pruned' }, override_settings_restore_afterwards: false });
    expect(await configured()).toBe('anything-v4.5-pruned.safetensors [6e430eb514]');
    await txt2img(small);
    expect(sandbox.stats().checkpointSwitches).toBe(before + 1);
    const switched = await timed(postJson(`${sandbox.url}/sdapi/v1/options`, { sd_model_checkpoint: 'clarity' }));
    expect(switched.value).toEqual({ status: 200, body: null });
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: before + 2, loadedModel: 'clarity.safetensors' });
    expect(await configured()).toBe('clarity.safetensors [627a6f5c8b]');
  });
});

describe('sandbox close', () => {
  it('does not wait out the modelled time of running and queued jobs', async () => {
    const sandbox = await startSandbox({ speed: 1 });
    // About 13 s of modelled GPU time each.
    const body = { width: 512, height: 512, steps: 200 };
    const running = postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    const queued = postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
    await waitFor(async () => ((await getJson(`${sandbox.url}/sdapi/v1/progress`)).body.state.job_count > 0 ? true : undefined));
    const closing = timed(sandbox.close());
    const [a, b] = await Promise.all([running, queued]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const modelledMs = (200 / 15) * 1000;
    expect((await closing).ms / modelledMs).toBeLessThan(0.1);
  });
});
