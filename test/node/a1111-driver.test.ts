import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Binding } from '../../src/domain/binding.js';
import type { RunProgress } from '../../src/node/backend-driver.js';
import { A1111Driver } from '../../src/node/backends/a1111/a1111-driver.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { ModelledTime } from '../sandbox/modelled-time.js';
import { closedPortUrl, type FakeWebui, imageSizeOf, startFakeWebui, txt2imgSpec } from './a1111-test-helpers.js';

const binding: Binding = {
  checkpoint: 'clarity.safetensors [627a6f5c8b]',
  loras: [],
  sampler: { sampler: 'Euler a', scheduler: null },
};
const okAnswer = { images: ['AAAA'], parameters: {}, info: JSON.stringify({ seed: 42, all_seeds: [42] }) };

let fake: FakeWebui | undefined;
/** Handlers left waiting are released before the server closes, so close() never hangs. */
const releases: (() => void)[] = [];
afterEach(async () => {
  for (const release of releases.splice(0)) release();
  await fake?.close();
  fake = undefined;
});

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function driverFor(url: string, extra: Partial<ConstructorParameters<typeof A1111Driver>[0]> = {}): A1111Driver {
  return new A1111Driver({ baseUrl: url, maxPixels: 1 << 20, progressIntervalMs: 10, ...extra });
}

/** A fake WebUI whose txt2img answers `status` with `payload` (raw text when a string). */
async function answering(status: number, payload: unknown): Promise<A1111Driver> {
  fake = await startFakeWebui((app) => {
    app.post('/sdapi/v1/txt2img', async (_request, reply) => {
      if (typeof payload === 'string') return reply.code(status).type('text/html').send(payload);
      return reply.code(status).send(payload);
    });
  });
  return driverFor(fake.url);
}

describe('A1111Driver error mapping (fake WebUI)', () => {
  it('maps a 422 validation failure to REJECTED and names the field', async () => {
    const driver = await answering(422, {
      detail: [{ loc: ['body', 'steps'], msg: 'value is not a valid integer', type: 'type_error.integer' }],
    });
    await expect(driver.run(txt2imgSpec(), binding)).rejects.toMatchObject({
      id: 'DAN_ERR_BACKEND_REJECTED',
      message: expect.stringContaining('body.steps: value is not a valid integer'),
    });
  });

  it('maps a 404 HTTPException to REJECTED with its detail', async () => {
    const driver = await answering(404, { error: 'HTTPException', detail: 'Init image not found', body: '', errors: '' });
    await expect(driver.run(txt2imgSpec(), binding)).rejects.toMatchObject({
      id: 'DAN_ERR_BACKEND_REJECTED',
      message: expect.stringMatching(/HTTP 404: Init image not found$/),
    });
  });

  it('maps a 409 (a DAN gateway used as the WebUI cancelled it with its caller\'s other tasks) to FAILED: retried, not the request\'s fault', async () => {
    const driver = await answering(409, { error: 'DAN_ERR_TASK_CANCELLED', detail: 'cancelled by the caller', body: '', errors: '' });
    await expect(driver.run(txt2imgSpec(), binding)).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_FAILED', message: expect.stringMatching(/could not complete .* now \(HTTP 409\)/) });
  });

  it('maps a 500 to FAILED and keeps the exception name and text (e.g. CUDA OOM)', async () => {
    const driver = await answering(500, {
      error: 'OutOfMemoryError',
      detail: '',
      body: '',
      errors: 'CUDA out of memory. Tried to allocate 2.00 GiB',
    });
    await expect(driver.run(txt2imgSpec(), binding)).rejects.toMatchObject({
      id: 'DAN_ERR_BACKEND_FAILED',
      message: expect.stringContaining('OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB'),
    });
  });

  it('maps a 200 that is not JSON to BAD_RESPONSE, quoting a truncated body', async () => {
    const driver = await answering(200, `<html>${'x'.repeat(5000)}</html>`);
    const error: unknown = await driver.run(txt2imgSpec(), binding).catch((e: unknown) => e);
    expect(error).toMatchObject({ id: 'DAN_ERR_BACKEND_BAD_RESPONSE', message: expect.stringContaining('<html>xxx') });
    expect((error as Error).message.length).toBeLessThan(500);
  });

  it('maps a JSON 200 without images to BAD_RESPONSE', async () => {
    const driver = await answering(200, { images: [], info: '{}' });
    await expect(driver.run(txt2imgSpec(), binding)).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_BAD_RESPONSE' });
  });

  it('maps a closed port to UNREACHABLE', async () => {
    const driver = driverFor(await closedPortUrl());
    await expect(driver.run(txt2imgSpec(), binding)).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_UNREACHABLE' });
  });
});

describe('A1111Driver run (fake WebUI)', () => {
  it('sends HTTP Basic credentials when given', async () => {
    const seen = deferred<string | undefined>();
    fake = await startFakeWebui((app) => {
      app.post('/sdapi/v1/txt2img', async (request) => {
        seen.resolve(request.headers.authorization);
        return okAnswer;
      });
    });
    const outcome = await driverFor(fake.url, { auth: 'dan:s3cr:et' }).run(txt2imgSpec(), binding);
    expect(await seen.promise).toBe(`Basic ${Buffer.from('dan:s3cr:et').toString('base64')}`);
    expect(outcome).toEqual({ result: { kind: 'images', images: ['AAAA'], seeds: [42] }, loadedModel: binding.checkpoint });
  });

  it('sends a photo with an EXIF orientation upright (WebUIs before 1.9 use the pixels as stored), a JPEG still, and others as they came', async () => {
    const sharp = (await import('sharp')).default;
    const bodies: { image: string }[] = [];
    fake = await startFakeWebui((app) => {
      app.post('/sdapi/v1/extra-single-image', async (request) => {
        bodies.push(request.body as { image: string });
        return { image: 'AAAA', html_info: '' };
      });
    });
    const portrait = await sharp({ create: { width: 60, height: 30, channels: 3, background: '#888' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const plain = await sharp({ create: { width: 60, height: 30, channels: 3, background: '#888' } }).jpeg().toBuffer();
    const upscale = (image: Buffer) => ({ kind: 'upscale' as const, image: image.toString('base64'), scale: 2, upscaler: 'Lanczos', upscaler2: null, upscaler2Visibility: 0, sourceWidth: 30, sourceHeight: 60 });
    const driver = driverFor(fake.url);
    await driver.run(upscale(portrait), { upscaler: 'Lanczos' });
    await driver.run(upscale(plain), { upscaler: 'Lanczos' });
    const sent = await sharp(Buffer.from(bodies[0]!.image, 'base64')).metadata();
    expect(sent).toMatchObject({ format: 'jpeg', width: 30, height: 60 });
    expect(sent.orientation).toBeUndefined();
    expect(bodies[1]!.image).toBe(plain.toString('base64'));
  });

  it('skips failed progress polls and reports the ones that answer, without failing the task', async () => {
    let polls = 0;
    const queries: unknown[] = [];
    const enoughPolls = deferred();
    fake = await startFakeWebui((app) => {
      app.get('/sdapi/v1/progress', async (request, reply) => {
        queries.push(request.query);
        polls += 1;
        if (polls <= 2) return reply.code(500).send({ error: 'RuntimeError', errors: 'flaky' });
        if (polls === 3) return reply.type('text/plain').send('not json');
        if (polls >= 5) enoughPolls.resolve();
        return { progress: polls / 10, eta_relative: 2.5, state: {}, current_image: null, textinfo: null };
      });
      // Answers once the driver has polled through the failures.
      app.post('/sdapi/v1/txt2img', async () => {
        await enoughPolls.promise;
        return okAnswer;
      });
    });
    const reports: RunProgress[] = [];
    const outcome = await driverFor(fake.url).run(txt2imgSpec(), binding, {
      onProgress: (p) => {
        reports.push(p);
        throw new Error('a listener bug must not fail the task');
      },
    });
    expect(outcome.result).toEqual({ kind: 'images', images: ['AAAA'], seeds: [42] });
    expect(queries[0]).toEqual({ skip_current_image: 'true' });
    expect(reports.slice(0, 2)).toEqual([
      { progress: 0.4, etaSeconds: 2.5 },
      { progress: 0.5, etaSeconds: 2.5 },
    ]);
  });

  it('on abort, interrupts the WebUI and rejects with the abort reason', async () => {
    const received = deferred();
    const interrupted = deferred();
    let interruptCalls = 0;
    fake = await startFakeWebui((app) => {
      app.post('/sdapi/v1/txt2img', async () => {
        received.resolve();
        await interrupted.promise;
        return okAnswer;
      });
      app.post('/sdapi/v1/interrupt', async () => {
        interruptCalls += 1;
        interrupted.resolve();
        return {};
      });
    });
    releases.push(() => interrupted.resolve());
    const controller = new AbortController();
    const run = driverFor(fake.url).run(txt2imgSpec(), binding, { signal: controller.signal });
    await received.promise;
    const reason = new Error('cancelled by the gateway');
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    // run() settles only after the interrupt was answered.
    expect(interruptCalls).toBe(1);
  });

  it('stops waiting abortGraceMs after the abort when the WebUI ignores the interrupt', async () => {
    const received = deferred();
    const never = deferred();
    let interruptCalls = 0;
    fake = await startFakeWebui((app) => {
      app.post('/sdapi/v1/txt2img', async () => {
        received.resolve();
        await never.promise;
        return okAnswer;
      });
      app.post('/sdapi/v1/interrupt', async () => {
        interruptCalls += 1;
        return {};
      });
    });
    releases.push(() => never.resolve());
    const controller = new AbortController();
    const run = driverFor(fake.url, { abortGraceMs: 50 }).run(txt2imgSpec(), binding, { signal: controller.signal });
    await received.promise;
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    expect(interruptCalls).toBe(1);
  });

  it('interrupts the WebUI when the request times out, and reports UNREACHABLE', async () => {
    const interrupted = deferred();
    let interruptCalls = 0;
    fake = await startFakeWebui((app) => {
      // The checkpoint load comes first, under the same timeout: answered at once, so that the generation times out.
      app.post('/sdapi/v1/options', async () => ({}));
      app.post('/sdapi/v1/txt2img', async () => {
        await interrupted.promise;
        return okAnswer;
      });
      app.post('/sdapi/v1/interrupt', async () => {
        interruptCalls += 1;
        interrupted.resolve();
        return {};
      });
    });
    releases.push(() => interrupted.resolve());
    const run = driverFor(fake.url, { requestTimeoutMs: 300 }).run(txt2imgSpec(), binding);
    await expect(run).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_UNREACHABLE', message: expect.stringContaining('POST /sdapi/v1/txt2img within 300 ms') });
    expect(interruptCalls).toBe(1);
  });

  it('does not start a run whose signal is already aborted', async () => {
    let calls = 0;
    fake = await startFakeWebui((app) => {
      app.post('/sdapi/v1/txt2img', async () => {
        calls += 1;
        return okAnswer;
      });
    });
    const reason = new Error('too late');
    await expect(driverFor(fake.url).run(txt2imgSpec(), binding, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(calls).toBe(0);
  });
});

describe('A1111Driver runs in line (fake WebUI)', () => {
  it('loads again for a run whose predecessor failed loading the checkpoint it counted on', async () => {
    let loads = 0;
    let failLoad = (): void => {};
    const loadFails = new Promise<void>((resolve) => (failLoad = resolve));
    fake = await startFakeWebui((app) => {
      app.post('/sdapi/v1/options', async (_request, reply) => {
        loads += 1;
        if (loads > 1) return {};
        await loadFails;
        return reply.code(500).send({ error: 'OutOfMemoryError', detail: 'CUDA out of memory', body: '', errors: '' });
      });
      app.post('/sdapi/v1/txt2img', async () => okAnswer);
    });
    const driver = driverFor(fake.url);
    const first = driver.run(txt2imgSpec(), binding).catch((error: unknown) => error);
    // Behind it, counting on the checkpoint the first loads.
    const second = driver.run(txt2imgSpec(), binding);
    failLoad();
    expect(await first).toMatchObject({ id: 'DAN_ERR_BACKEND_FAILED' });
    expect((await second).result).toMatchObject({ kind: 'images' });
    expect(loads).toBe(2);
  });

  it("passes on none of the WebUI's progress for a run once a run was sent behind it", async () => {
    let answerFirst = (): void => {};
    const firstAnswered = new Promise<void>((resolve) => (answerFirst = resolve));
    let secondArrived = false;
    fake = await startFakeWebui((app) => {
      // Near its end: the run behind is sent at once.
      app.get('/sdapi/v1/progress', async () => ({ progress: 0.9, eta_relative: 0.2, state: { job: 'Batch 1 out of 1', job_count: 1, sampling_step: 18, sampling_steps: 20 }, current_image: null, textinfo: null }));
      app.post('/sdapi/v1/txt2img', async (request) => {
        if ((request.body as { prompt: string }).prompt === 'first') await firstAnswered;
        else secondArrived = true;
        return okAnswer;
      });
    });
    const driver = driverFor(fake.url);
    const afterSecond: RunProgress[] = [];
    const before: RunProgress[] = [];
    const first = driver.run(txt2imgSpec({ prompt: 'first' }), binding, { onProgress: (p) => (secondArrived ? afterSecond : before).push(p) });
    const second = driver.run(txt2imgSpec({ prompt: 'second' }), binding);
    await second;
    // Polls every 10 ms: what the WebUI says now may be the second's job.
    await new Promise((resolve) => setTimeout(resolve, 100));
    answerFirst();
    await first;
    expect(afterSecond).toEqual([]);
  });
});

describe('A1111Driver against the sandbox', () => {
  // 20 steps of 512×512 at the sandbox's 15 it/s are 1.33 modelled seconds; speed 2 makes ~670 ms, room for
  // progress polls every 20 ms even on a loaded CI machine (at ~330 ms none landed mid-job once).
  const spec = txt2imgSpec({ width: 512, height: 512, steps: 20, seed: 7 });
  let sandbox: Sandbox;
  let driver: A1111Driver;

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: 2, itPerSecond: 15, switchSeconds: 0 });
    driver = driverFor(sandbox.url, { progressIntervalMs: 20 });
  });
  afterAll(() => sandbox.close());

  it('discovers capabilities that bind the test spec', async () => {
    const { capabilities } = await driver.discover();
    expect(capabilities.models.map((m) => m.title)).toContain(binding.checkpoint);
    expect(capabilities.samplers).toContain('Euler a');
  });

  it('runs a txt2img end to end, reporting progress strictly between 0 and 1 on the way', async () => {
    const reports: RunProgress[] = [];
    const outcome = await driver.run(spec, binding, { onProgress: (p) => reports.push(p) });

    expect(outcome.loadedModel).toBe(binding.checkpoint);
    if (outcome.result.kind !== 'images') throw new Error('expected images');
    expect(outcome.result.seeds).toEqual([7]);
    expect(await imageSizeOf(outcome.result.images[0] ?? '')).toEqual({ width: 512, height: 512 });
    expect(reports.some((r) => r.progress > 0 && r.progress < 1)).toBe(true);
    const progresses = reports.map((r) => r.progress);
    expect(progresses).toEqual([...progresses].sort((a, b) => a - b));
    expect(reports.filter((r) => r.progress > 0).every((r) => r.etaSeconds !== null && r.etaSeconds >= 0)).toBe(true);
  });

  it('passes on the WebUI\'s live preview every few polls, as bare base64 of an image', async () => {
    const reports: RunProgress[] = [];
    await driver.run({ ...spec, steps: 60 }, binding, { onProgress: (p) => reports.push(p) });
    const previews = reports.flatMap((r) => (r.preview === undefined ? [] : [r.preview]));
    expect(previews.length).toBeGreaterThan(0);
    expect(await imageSizeOf(previews[0]!)).toEqual({ width: 64, height: 64 });
    // Most polls skip the image: it costs tens of KiB, progress a few bytes.
    expect(reports.filter((r) => r.preview === undefined).length).toBeGreaterThan(previews.length);
  });

  it('on abort mid-job, interrupts the job and settles once the WebUI has dropped it', async () => {
    const jobsBefore = sandbox.stats().jobs;
    const controller = new AbortController();
    const reason = new Error('task cancelled');
    const run = driver.run(spec, binding, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.progress > 0) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(sandbox.requests().filter((r) => r.path === '/sdapi/v1/interrupt')).toEqual([
      expect.objectContaining({ method: 'POST', status: 200 }),
    ]);
    // The interrupted job ended (the WebUI is free) before run() settled.
    expect(sandbox.stats().jobs).toBe(jobsBefore + 1);
  });
});

describe('A1111Driver checkpoint loads (sandbox on a fake clock)', () => {
  it('loads a run\'s checkpoint with POST /options first, timed apart, and only when another one is loaded', async () => {
    const time = new ModelledTime();
    // Loads take 4 modelled seconds, 400 ms of the sandbox's clock at speed 10.
    const sandbox = await time.start({ speed: 10, itPerSecond: 15, switchSeconds: 4 });
    try {
      const driver = driverFor(sandbox.url, { clock: time.clock });
      expect((await driver.discover()).loadedModel).not.toBe(binding.checkpoint);
      const first = await time.finish(driver.run(txt2imgSpec(), binding));
      expect(first.waits.map((w) => w.kind)).toEqual(['checkpoint load', 'sampling']);
      expect(first.value.load).toEqual({ checkpoint: binding.checkpoint, seconds: 0.4 });
      const paths = sandbox.requests().map((r) => `${r.method} ${r.path}`);
      expect(paths.slice(-2)).toEqual(['POST /sdapi/v1/options', 'POST /sdapi/v1/txt2img']);
      // The same checkpoint again: no load, no options call.
      const second = await time.finish(driver.run(txt2imgSpec(), binding));
      expect(second.value.load).toBeUndefined();
      expect(sandbox.requests().filter((r) => r.path === '/sdapi/v1/options' && r.method === 'POST')).toHaveLength(1);
      expect(sandbox.stats().checkpointSwitches).toBe(1);
    } finally {
      await sandbox.close();
    }
  });

  it('reports no load from Forge, which loads at the generation (its options call only notes the checkpoint)', async () => {
    const time = new ModelledTime();
    const sandbox = await time.start({ speed: 10, itPerSecond: 15, switchSeconds: 4, flavor: 'forge' });
    try {
      const driver = driverFor(sandbox.url, { clock: time.clock });
      expect((await driver.discover()).loadedModel).not.toBe(binding.checkpoint);
      const run = await time.finish(driver.run(txt2imgSpec(), { ...binding, forgeModules: [] }));
      // The load is paid inside the generation, after the options call answered at once.
      expect(run.waits.map((w) => w.kind)).toEqual(['checkpoint load', 'sampling']);
      expect(run.value.load).toBeUndefined();
      expect(sandbox.stats().checkpointSwitches).toBe(1);
    } finally {
      await sandbox.close();
    }
  });

  it('sends Forge its owner\'s own modules (a VAE) with a model that needs none of Flux\'s', async () => {
    const sandbox = await startSandbox({ speed: Infinity, flavor: 'forge' });
    try {
      // The GPU owner chose an SD VAE in Forge's UI (kept in its settings).
      expect((await fetch(`${sandbox.url}/sdapi/v1/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ forge_additional_modules: ['vae-ft-mse-840000-ema-pruned.safetensors'] }) })).status).toBe(200);
      const driver = driverFor(sandbox.url);
      const snapshot = await driver.discover();
      expect(snapshot).not.toHaveProperty('ownModules');
      const modulesSent = () => (sandbox.requests().filter((r) => r.path === '/sdapi/v1/txt2img').at(-1)!.body as { override_settings: Record<string, unknown> }).override_settings['forge_additional_modules'];
      await driver.run(txt2imgSpec(), { ...binding, forgeModules: [] });
      expect(modulesSent()).toEqual(['vae-ft-mse-840000-ema-pruned.safetensors']);
      // A Flux task leaves Flux's in the settings; read again then, the owner's choice is still the VAE.
      const flux = ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'];
      await driver.run(txt2imgSpec({ negativePrompt: '', cfgScale: 1, guidance: 3.5 }), { ...binding, forgeModules: flux });
      expect(modulesSent()).toEqual(flux);
      await driver.discover();
      await driver.run(txt2imgSpec(), { ...binding, forgeModules: [] });
      expect(modulesSent()).toEqual(['vae-ft-mse-840000-ema-pruned.safetensors']);
    } finally {
      await sandbox.close();
    }
  });

  it('makes the load call, but reports no load, while it does not know what the WebUI has loaded', async () => {
    const time = new ModelledTime();
    const sandbox = await time.start({ speed: 10, itPerSecond: 15, switchSeconds: 4 });
    try {
      // No discover(): the driver cannot tell a load from a call that found the checkpoint loaded.
      const run = await time.finish(driverFor(sandbox.url, { clock: time.clock }).run(txt2imgSpec(), binding));
      expect(run.value.load).toBeUndefined();
      expect(sandbox.stats()).toMatchObject({ checkpointSwitches: 1, loadedModel: 'clarity.safetensors' });
    } finally {
      await sandbox.close();
    }
  });
});

describe('A1111Driver runs in line (sandbox on a fake clock)', () => {
  const other: Binding = { ...binding, checkpoint: 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]' };
  /** 600 steps of 512² at 15 it/s, speed 10: 4 s of the clock. */
  const long = (prompt: string) => txt2imgSpec({ prompt, steps: 600, width: 512, height: 512 });

  async function world() {
    const time = new ModelledTime();
    // Loads take 4 modelled seconds, 400 ms of the clock.
    const sandbox = await time.start({ speed: 10, itPerSecond: 15, switchSeconds: 4 });
    const driver = driverFor(sandbox.url, { clock: time.clock, abortGraceMs: 50 });
    await driver.discover();
    // Load clarity first, so that the runs below find it loaded.
    await time.finish(driver.run(txt2imgSpec(), binding));
    let queued = 0;
    const waiters: (() => void)[] = [];
    sandbox.jobs.on('queued', () => {
      queued += 1;
      for (const wake of waiters.splice(0)) wake();
    });
    /** Resolves once `count` jobs asked for the WebUI's lock (since `world()`). */
    const jobsQueued = async (count: number) => {
      while (queued < count) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    return { time, sandbox, driver, jobsQueued, queued: () => queued, close: () => sandbox.close() };
  }

  it('sends a run behind one nearing its end: it begins as the first lets go of the lock, before the first is answered', async () => {
    const { time, sandbox, driver, jobsQueued, queued, close } = await world();
    try {
      const first = driver.run(long('first'), binding);
      const second = driver.run(txt2imgSpec({ prompt: 'second' }), binding);
      const sampling = await time.nextWait();
      await time.clock.advance(1000);
      // 3 s left: the second waits on the node.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(queued()).toBe(1);
      await time.clock.advance(2500);
      // Half a second left: the second is sent, to wait on the lock.
      await jobsQueued(2);
      await time.clock.next();
      // The second samples while the first's images are encoded and answered.
      expect(await time.nextWait()).toMatchObject({ kind: 'sampling', job: 'txt2img' });
      const a = await first;
      expect(a.waitedMs).toBeUndefined();
      await time.clock.next();
      const b = await second;
      // Its own time starts when the first was done: it waited out the first's sampling.
      expect(Math.abs(b.waitedMs! - sampling.ms)).toBeLessThan(1);
      expect(b.load).toBeUndefined();
      const prompts = sandbox.requests().filter((r) => r.path === '/sdapi/v1/txt2img').map((r) => (r.body as { prompt: string }).prompt);
      expect(prompts.slice(-2)).toEqual(['first', 'second']);
    } finally {
      await close();
    }
  });

  it('sends a run behind one the node expects to take under a second as soon as that one begins', async () => {
    const { time, driver, jobsQueued, close } = await world();
    try {
      // Expected short (a turbo model's few steps, as the node measured its runs): no progress poll needed.
      const first = driver.run(long('first'), binding, { expectedSeconds: 0.4 });
      const second = driver.run(txt2imgSpec({ prompt: 'second' }), binding);
      await time.nextWait();
      // The clock has not moved: the second is sent at once, to wait on the lock.
      const sent = await Promise.race([jobsQueued(2).then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 2_000))]);
      expect(sent).toBe(true);
      await time.finish(first);
      await time.finish(second);
    } finally {
      await close();
    }
  });

  it('holds a run that loads another checkpoint until the runs before it end, and times its load alone', async () => {
    const { time, sandbox, driver, jobsQueued, close } = await world();
    try {
      const first = driver.run(txt2imgSpec(), binding);
      const second = driver.run(txt2imgSpec(), other);
      await time.nextWait();
      await jobsQueued(1);
      await time.clock.next();
      await first;
      const rest = await time.finish(second);
      expect(rest.waits.map((w) => w.kind)).toEqual(['checkpoint load', 'sampling']);
      expect(rest.value.load).toEqual({ checkpoint: other.checkpoint, seconds: 0.4 });
      expect(sandbox.stats().loadedModel).toBe('chilloutmix_NiPrunedFp32Fix.safetensors');
    } finally {
      await close();
    }
  });

  it('interrupts a run given up while it waits on the lock once it begins, and not the run before it', async () => {
    const { time, sandbox, driver, jobsQueued, close } = await world();
    try {
      const first = driver.run(long('first'), binding);
      const controller = new AbortController();
      const reason = new Error('task cancelled');
      const second = driver.run(txt2imgSpec({ prompt: 'second' }), binding, { signal: controller.signal });
      const settledSecond = second.catch((error: unknown) => error);
      await time.nextWait();
      await time.clock.advance(3500);
      await jobsQueued(2);
      controller.abort(reason);
      await time.clock.next();
      const a = await first;
      if (a.result.kind !== 'images') throw new Error('expected images');
      expect(a.result.images).toHaveLength(1);
      // The second began when the first let go; the interrupt stops it at once.
      expect(await settledSecond).toBe(reason);
      const paths = sandbox.requests().map((r) => `${r.path} ${(r.body as { prompt?: string } | undefined)?.prompt ?? ''}`.trim());
      expect(paths.filter((p) => p.startsWith('/sdapi/v1/interrupt'))).toHaveLength(1);
      expect(paths.indexOf('/sdapi/v1/txt2img first')).toBeLessThan(paths.indexOf('/sdapi/v1/interrupt'));
    } finally {
      await close();
    }
  });

  /** A long first run, given up `ms` of the clock into its job (once `jobs` jobs asked for the lock), and a run behind it. */
  async function giveUpFirstAfter(ms: number, jobs: number) {
    const w = await world();
    const controller = new AbortController();
    const reason = new Error('task cancelled');
    const first = w.driver.run(long('first'), binding, { signal: controller.signal });
    const second = w.driver.run(txt2imgSpec({ prompt: 'second' }), binding);
    await w.time.nextWait();
    await w.time.clock.advance(ms);
    await w.jobsQueued(jobs);
    controller.abort(reason);
    await expect(first).rejects.toBe(reason);
    return { ...w, second, interrupts: () => w.sandbox.requests().filter((r) => r.path === '/sdapi/v1/interrupt') };
  }

  it('interrupts a run given up far from its end: the run behind it is not sent yet', async () => {
    const { time, second, interrupts, queued, close } = await giveUpFirstAfter(100, 1);
    try {
      expect(interrupts()).toHaveLength(1);
      expect(queued()).toBe(1);
      // The interrupt stopped the first: the second samples in full.
      const done = await time.finish(second);
      expect(done.waits.map((w) => w.kind)).toEqual(['sampling']);
    } finally {
      await close();
    }
  });

  it('does not interrupt a run given up near its end with a run sent behind it: that one may be running', async () => {
    // Dropped after abortGraceMs without an interrupt; the WebUI runs it to its end, then the second.
    const { time, second, interrupts, close } = await giveUpFirstAfter(3500, 2);
    try {
      const done = await time.finish(second);
      if (done.value.result.kind !== 'images') throw new Error('expected images');
      expect(interrupts()).toEqual([]);
    } finally {
      await close();
    }
  });
});
