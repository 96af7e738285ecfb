/**
 * The read-only routes through the real app, with `inject` and nodes played
 * by the test: supported values, the public API key, the node list and health.
 * What a real node discovers in a real WebUI: test/e2e/gateway-api.e2e.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { catalogLoras, catalogModels } from '../../src/domain/catalog.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { PNG_512 } from '../helpers/fake-nodes.js';
import { createInjectApp, type InjectApp } from '../helpers/inject-app.js';
import { dataOf } from './expect-envelope.js';

let api: InjectApp | undefined;

afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function start(): Promise<InjectApp> {
  api = await createInjectApp();
  return api;
}

const supported = async (app: InjectApp) => dataOf(await app.get('/api/sd/supportedModelInfo'));
const modelsByName = (info: any): Record<string, any> => Object.fromEntries(info.Models.map((m: any) => [m.name, m]));

/**
 * The catalog's models but anything-v4.5, plus a model of the node's own (no sha256 known), and ControlNet
 * models of its own: an SDXL one, and one whose name says no family.
 */
function capabilitiesWithOwnModel() {
  const { models: all, controlNet } = makeCapabilities();
  const models = all.filter((m) => !m.fileName.startsWith('anything'));
  const own = { title: 'myModel.safetensors', name: 'myModel', fileName: 'myModel.safetensors', sha256: null };
  const controlNetModels = [...controlNet!.models, 'diffusers_xl_canny_full [2b69fca4]', 'my_lineart [0badc0de]'];
  return makeCapabilities({ models: [...models, own], controlNet: { ...controlNet!, models: controlNetModels } });
}

describe('GET /api/sd/supportedModelInfo', () => {
  it('with no node connected lists every catalog entry, none available', async () => {
    const info = await supported(await start());
    expect(info.Models).toStrictEqual(
      catalogModels.map((m) => ({ name: m.name, family: 'sd15', hash: m.sha256, available: false, nodes: 0, download: m.download })),
    );
    expect(info.LoRAs.map((l: any) => [l.name, l.available])).toEqual(catalogLoras.map((l) => [l.name, false]));
    for (const list of [info.Samplers, info.HiresUpscalers, info.Upscalers, info.ControlNet.models, info.ControlNet.preprocessors, info.Interrogators]) {
      expect(list.length).toBeGreaterThan(0);
      expect(list.filter((entry: any) => entry.available)).toEqual([]);
    }
    expect(info.nodes).toEqual({ connected: 0, ready: 0 });
  });

  it('lists every model family with the defaults and rules a request is read with, for clients to fill a form as the gateway will read it', async () => {
    const info = await supported(await start());
    const families = Object.fromEntries(info.Families.map((f: any) => [f.name, f]));
    expect(Object.keys(families)).toEqual(['sd15', 'sdxl', 'flux', 'flux2', 'qwen-image', 'z-image-turbo', 'flux-kontext', 'qwen-image-edit']);
    expect(families['sd15']).toEqual({
      name: 'sd15', label: 'SD 1.5', article: 'an', nativeSide: 512, defaultSampler: 'Euler a', guidance: 'cfg', defaultCfgScale: 7, defaultGuidance: null,
      defaultSteps: 20, sideMultiple: 8, controlNet: true, edits: false, loraFamilies: ['sd15'], backends: 'any',
    });
    expect(families['flux-kontext']).toMatchObject({ guidance: 'distilled', defaultGuidance: 2.5, sideMultiple: 16, controlNet: false, edits: true, loraFamilies: ['flux-kontext', 'flux'], backends: 'comfyui' });
    expect(families['flux2']).toMatchObject({ guidance: 'distilled', defaultGuidance: 4, sideMultiple: 16, controlNet: false, backends: 'comfyui' });
    expect(families['z-image-turbo']).toMatchObject({ guidance: 'none', defaultCfgScale: 1, defaultSteps: 8, defaultGuidance: null });
    expect(families['qwen-image']).toMatchObject({ nativeSide: 1328, defaultCfgScale: 2.5 });
    expect(families['qwen-image-edit']).toMatchObject({ guidance: 'cfg', defaultCfgScale: 2.5, defaultSteps: 20, sideMultiple: 16, controlNet: false, edits: true, loraFamilies: ['qwen-image-edit'], backends: 'comfyui' });
  });

  it('says what the connected nodes with a working WebUI serve now, and on how many nodes', async () => {
    const app = await start();
    app.world.connect('full');
    app.world.connect('own', capabilitiesWithOwnModel());
    app.world.connect('down').backend(false, 'connect ECONNREFUSED 127.0.0.1:7860');
    const info = await supported(app);
    const models = modelsByName(info);
    expect(models['chillout_mix']).toMatchObject({ hash: catalogModels[0]!.sha256, available: true, nodes: 2 });
    expect(models['anything-v4.5-pruned']).toMatchObject({ available: true, nodes: 1 });
    expect(models['myModel']).toStrictEqual({ name: 'myModel', family: null, hash: null, available: true, nodes: 1, download: null });
    expect(info.LoRAs.find((l: any) => l.name === 'kobeni_v10')).toMatchObject({ available: true, nodes: 2 });
    expect(info.Samplers).toContainEqual({ name: 'Euler a', available: true });
    // Served through a node's sampler and scheduler; and a sampler outside the catalog that a node offers.
    expect(info.Samplers).toContainEqual({ name: 'DPM++ SDE Karras', available: true });
    expect(info.Samplers).toContainEqual({ name: 'DPM++ 2M', available: true });
    // A catalog upscaler no node offers: listed, not available.
    expect(info.Upscalers).toContainEqual({ name: 'R-ESRGAN 4x+ Anime6B', available: false });
    expect(info.Upscalers).toContainEqual({ name: 'Lanczos', available: true });
    // Each ControlNet model with the family a request is checked against: the catalog's, its name's, or none.
    expect(info.ControlNet.models).toContainEqual({ name: 'sd15_canny', family: 'sd15', available: true });
    expect(info.ControlNet.models).toContainEqual({ name: 'diffusers_xl_canny_full', family: 'sdxl', available: true });
    expect(info.ControlNet.models).toContainEqual({ name: 'my_lineart', family: null, available: true });
    // A node's file that is a catalog entry is listed once, by the catalog's name (a request may use either).
    expect(info.ControlNet.models.map((m: any) => m.name)).not.toContain('control_v11p_sd15_canny');
    expect(info.ControlNet.preprocessors).toContainEqual({ name: 'canny', available: true });
    expect(info.Interrogators).toContainEqual({ name: 'deepdanbooru', available: true });
    expect(info.nodes).toEqual({ connected: 3, ready: 2 });
  });

  it('gives a file the catalog does not list the family its nodes tell, none when they disagree, and a catalog entry the catalog\'s whatever they say', async () => {
    const app = await start();
    const withOwn = (family: 'sd15' | 'sdxl', loraFamily: 'sd15' | 'flux') => {
      const base = makeCapabilities();
      return makeCapabilities({
        models: [...base.models.map((m) => ({ ...m, family })), { title: 'myModel.safetensors', name: 'myModel', fileName: 'myModel.safetensors', sha256: null, family }],
        loras: [...base.loras.map((l) => ({ ...l, family: loraFamily })), { name: 'myLora', alias: null, fileName: 'myLora.safetensors', sha256: null, family: loraFamily }],
      });
    };
    app.world.connect('a', withOwn('sdxl', 'flux'));
    let info = await supported(app);
    expect(modelsByName(info)['myModel']).toMatchObject({ family: 'sdxl' });
    expect(info.LoRAs.find((l: any) => l.name === 'myLora')).toMatchObject({ family: 'flux' });
    // Another node says otherwise of the same files: neither is taken.
    app.world.connect('b', withOwn('sd15', 'sd15'));
    info = await supported(app);
    expect(modelsByName(info)['myModel']).toMatchObject({ family: null, nodes: 2 });
    expect(info.LoRAs.find((l: any) => l.name === 'myLora')).toMatchObject({ family: null });
    // The catalog's entries keep the catalog's family (SD 1.5), whatever the nodes said.
    expect(modelsByName(info)['chillout_mix']).toMatchObject({ family: 'sd15' });
    expect(info.LoRAs.find((l: any) => l.name === 'kobeni_v10')).toMatchObject({ family: 'sd15' });
  });

  it('follows nodes as they leave', async () => {
    const app = await start();
    app.world.connect('full');
    const own = app.world.connect('own', capabilitiesWithOwnModel());
    expect(modelsByName(await supported(app))['chillout_mix']).toMatchObject({ nodes: 2 });
    own.disconnect();
    const info = await supported(app);
    expect(modelsByName(info)['chillout_mix']).toMatchObject({ available: true, nodes: 1 });
    expect(modelsByName(info)['myModel']).toBeUndefined();
    expect(info.nodes).toEqual({ connected: 1, ready: 1 });
  });

  it('lists a model only a node has, which requests may then name', async () => {
    const app = await start();
    const node = app.world.connect('own', capabilitiesWithOwnModel());
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { prompt: 'a fox', model: 'myModel' }));
    expect((await node.assignment(taskId)).spec).toMatchObject({ model: { name: 'myModel' } });
  });
});

describe('GET /api/user/public-api-key', () => {
  it('hands out the gateway\'s key, sk- and 48 letters and digits, the same on every call', async () => {
    const app = await start();
    const first = dataOf(await app.get('/api/user/public-api-key'));
    expect(first).toStrictEqual({ apiKey: app.publicApiKey });
    expect(first.apiKey).toMatch(/^sk-[A-Za-z0-9]{48}$/);
    expect(dataOf(await app.get('/api/user/public-api-key', { authorization: 'Bearer sk-other' }))).toStrictEqual(first);
  });
});

describe('GET /api/nodes', () => {
  const fields = ['id', 'name', 'state', 'slots', 'prefetch', 'running', 'loadedModel', 'models', 'itPerSecond', 'fixedSeconds', 'switchSeconds', 'loadSeconds', 'problem', 'setAsideUntil', 'agent', 'backend', 'done', 'failed', 'current', 'gateway'];
  const nodes = async (app: InjectApp): Promise<any[]> => dataOf(await app.get('/api/nodes'));
  const byName = async (app: InjectApp, name: string) => (await nodes(app)).find((n) => n.name === name);

  it('is empty while no node is connected', async () => {
    expect(await nodes(await start())).toEqual([]);
  });

  it('shows each node with the documented fields, its models, slots and state as tasks come and go', async () => {
    const app = await start();
    app.world.connect('gpu', makeCapabilities(), 2);
    const [listed] = await nodes(app);
    expect(Object.keys(listed).sort()).toEqual([...fields].sort());
    expect(listed).toMatchObject({
      name: 'gpu',
      state: 'ready',
      slots: 2,
      running: 0,
      loadedModel: makeCapabilities().models[0]!.title,
      models: catalogModels.map((m) => m.name),
      problem: null,
      setAsideUntil: null,
      agent: 'fake-node',
      backend: 'a1111',
      done: 0,
      failed: 0,
      current: [],
    });
    const body = { prompt: 'a fox', model: 'clarity' };
    dataOf(await app.post('/api/sd/txt2img/async', body));
    expect(await byName(app, 'gpu')).toMatchObject({ state: 'ready', running: 1 });
    dataOf(await app.post('/api/sd/txt2img/async', body));
    expect(await byName(app, 'gpu')).toMatchObject({ state: 'busy', running: 2 });
  });

  it('shows what each node runs now and its tasks done and failed, a cancel not counted against it', async () => {
    const app = await start();
    const node = app.world.connect('gpu', makeCapabilities(), 2);
    const submit = async () => dataOf(await app.post('/api/sd/txt2img/async', { prompt: 'a fox', model: 'clarity' })).taskId as string;
    const [first, second] = [await submit(), await submit()];
    await node.assignment(first);
    await node.assignment(second);
    node.progress(first, 0.5);
    await app.world.clock.advance(3000);
    expect((await byName(app, 'gpu')).current).toEqual(expect.arrayContaining([{ progress: 0.5, seconds: 3 }, { progress: 0, seconds: 3 }]));
    node.succeed(first);
    node.fail(second, 'DAN_ERR_BACKEND_FAILED', 'out of memory');
    await app.world.settle();
    expect(await byName(app, 'gpu')).toMatchObject({ done: 1, failed: 1 });
    // The failed task runs again on the node; a cancel of it is the client's doing.
    await node.assignment(second, 2);
    dataOf(await app.post('/api/sd/task/cancel', { taskId: second }));
    await app.world.settle();
    expect(await byName(app, 'gpu')).toMatchObject({ done: 1, failed: 1, current: [] });
  });

  it('shows the costs measured on the node: its speed, the fixed part of a run, and each checkpoint\'s load', async () => {
    const app = await start();
    const node = app.world.connect('gpu');
    // What the node reported of itself on connecting: 20 it/s, loads of 2 s.
    expect(await byName(app, 'gpu')).toMatchObject({ itPerSecond: 20, fixedSeconds: 0, switchSeconds: 2, loadSeconds: {} });
    expect(makeCapabilities().models[0]!.name).not.toBe('clarity');
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { prompt: 'a fox', model: 'clarity', steps: 20 }));
    await node.assignment(taskId);
    // 5 s in all, 3 s of it loading clarity: the 20 steps took 2 s.
    node.succeed(taskId, 5000, 1, 3000);
    await app.world.settle();
    expect(await byName(app, 'gpu')).toMatchObject({ itPerSecond: 10, switchSeconds: 2.3, loadSeconds: { clarity: 3 } });
  });

  it('shows a node whose WebUI is down with the reason, one whose connection dropped as reconnecting, and drops a node that stops', async () => {
    const app = await start();
    const up = app.world.connect('up');
    const flaky = app.world.connect('flaky');
    app.world.connect('down').backend(false, 'connect ECONNREFUSED 127.0.0.1:7860');
    expect(await byName(app, 'down')).toMatchObject({ state: 'webui-down', problem: 'connect ECONNREFUSED 127.0.0.1:7860' });
    expect(await byName(app, 'up')).toMatchObject({ state: 'ready', problem: null });
    flaky.disconnect();
    expect(await byName(app, 'flaky')).toMatchObject({ state: 'reconnecting', problem: expect.stringContaining('connection dropped') });
    up.leave();
    expect((await nodes(app)).map((n) => n.name).sort((a, b) => a.localeCompare(b))).toEqual(['down', 'flaky']);
  });
});

describe('GET /api/health', () => {
  const health = async (app: InjectApp) => dataOf(await app.get('/api/health'));

  it('says ok, with the nodes, an empty queue and no overhead samples before the first task', async () => {
    const app = await start();
    app.world.connect('up');
    app.world.connect('down').backend(false, 'WebUI not answering');
    expect(await health(app)).toStrictEqual({
      status: 'ok',
      canServe: true,
      problem: null,
      nodes: { connected: 2, ready: 1 },
      queued: 0,
      running: 0,
      overheadMs: { dispatch: null, relay: null },
      // This app is given no event loop meter nor storage; the gateway's own are checked end to end.
      eventLoopDelayMs: null,
      storage: null,
    });
  });

  it('says whether the network can serve anything, and why not', async () => {
    const app = await start();
    expect(await health(app)).toMatchObject({ status: 'ok', canServe: false, problem: 'no node is connected' });
    const node = app.world.connect('gpu');
    node.backend(false, 'WebUI not answering');
    await app.world.settle();
    expect(await health(app)).toMatchObject({ canServe: false, problem: '1 node is connected, but none has its WebUI up' });
    node.backend(true);
    await app.world.settle();
    expect(await health(app)).toMatchObject({ canServe: true, problem: null });
  });

  it('counts queued and running tasks, and times the dispatch of a task sent at once, not of one that waited', async () => {
    const app = await start();
    const node = app.world.connect('gpu');
    const sentAtOnce = dataOf(await app.post('/api/sd/txt2img/async', { prompt: 'a', model: 'clarity' }));
    const waiting = dataOf(await app.post('/api/sd/txt2img/async', { prompt: 'b', model: 'clarity' }));
    const before = await health(app);
    expect(before).toMatchObject({ queued: 1, running: 1, overheadMs: { dispatch: { samples: 1 }, relay: null } });
    expect(before.overheadMs.dispatch.p50).toBeGreaterThan(0);
    node.succeed(sentAtOnce.taskId);
    await node.assignment(waiting.taskId);
    expect(await health(app)).toMatchObject({ queued: 0, running: 1, overheadMs: { dispatch: { samples: 1 } } });
  });

  it('times the relay of a sync answer', async () => {
    const app = await start();
    const node = app.world.connect('gpu');
    const pending = app.post('/api/sd/txt2img', { prompt: 'a', model: 'clarity' });
    const { taskId } = await node.next((m) => m.type === 'assign');
    node.succeed(taskId);
    expect(dataOf(await pending).images).toEqual([PNG_512]);
    expect((await health(app)).overheadMs.relay).toMatchObject({ samples: 1 });
  });
});

describe('GET /api/network', () => {
  const network = async (app: InjectApp): Promise<any> => dataOf(await app.get('/api/network'));

  it('tells the queue by checkpoint and its longest wait, the last hour a minute at a time, and the tasks ended lately, without prompts', async () => {
    const app = await start();
    const empty = await network(app);
    expect(empty.queue).toEqual({ queued: 0, running: 0, oldestWaitSeconds: null, byCheckpoint: [] });
    expect(empty.lastHour).toHaveLength(60);
    expect(empty.recent).toEqual([]);

    const submit = async (model: string) => dataOf(await app.post('/api/sd/txt2img/async', { prompt: 'a secret prompt', model, width: 448 })).taskId as string;
    // One node with one slot: the first task runs, the others wait.
    const node = app.world.connect('gpu');
    const first = await submit('clarity');
    await node.assignment(first);
    await submit('clarity');
    await app.world.clock.advance(30_000);
    await submit('clarity');
    await submit('chillout_mix');
    await app.world.clock.advance(2_000);
    const queued = await network(app);
    expect(queued.queue).toMatchObject({ queued: 3, running: 1, byCheckpoint: [{ model: 'clarity', queued: 2 }, { model: 'chillout_mix', queued: 1 }] });
    expect(queued.queue.oldestWaitSeconds).toBe(32);

    await app.world.clock.advance(4_000);
    node.succeed(first);
    await app.world.settle();
    await app.world.clock.advance(1_000);
    const after = await network(app);
    expect(after.recent).toEqual([{ kind: 'txt2img', model: 'clarity', state: 'succeeded', width: 448, height: 512, seconds: 36, endedAt: expect.any(String) }]);
    expect(after.lastHour.at(-1).images + after.lastHour.at(-2).images).toBe(1);
    expect(JSON.stringify(after)).not.toContain('a secret prompt');
  });
});
