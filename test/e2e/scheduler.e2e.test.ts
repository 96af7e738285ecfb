/**
 * The scheduler end to end: real gateway, node and sandbox processes, nodes of
 * different speeds holding different checkpoints. Matching, affinity, queue
 * positions and ETAs, the per-key cap, cancel, a task left without any node,
 * draining, and a failing node set aside.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { catalogModels } from '../../src/domain/catalog.js';
import { getJson, pollUntilDone, postJson } from '../helpers/api-client.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const FILES = { clarity: 'clarity.safetensors', chillout: 'chilloutmix_NiPrunedFp32Fix.safetensors', anything: 'anything-v4.5-pruned.safetensors' };
const SHA = { clarity: catalogModels[1]!.sha256, chillout: catalogModels[0]!.sha256, anything: catalogModels[2]!.sha256 };
type Model = keyof typeof FILES;

const running: DanProcess[] = [];
const dirs: { path: string; remove(): void }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  dirs.splice(0).forEach((d) => d.remove());
});

function dir() {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

async function gateway(args: string[] = []) {
  const gw = await startGatewayProcess({ dataDir: dir(), args });
  running.push(gw.proc);
  return gw.url;
}

/** A sandbox + node pair: `itPerSecond` at 512², time compressed by `speed`. */
async function gpu(gatewayUrl: string, name: string, options: { models: Model[]; loaded: Model; itPerSecond: number; speed: number }) {
  const config = `${dir()}/${name}.json`;
  writeFileSync(config, JSON.stringify({ models: options.models.map((m) => ({ fileName: FILES[m], sha256: SHA[m] })), loadedModel: FILES[options.loaded] }));
  const sandbox = await startSandboxProcess({ speed: options.speed, config, args: ['--it-per-second', String(options.itPerSecond), '--switch-seconds', '4'] });
  running.push(sandbox.proc);
  const node = await startNodeProcess({ gateway: gatewayUrl, webui: sandbox.url, name });
  running.push(node.proc);
  return { sandbox: sandbox.url, node: node.proc };
}

const job = (model: Model, extra: Record<string, unknown> = {}) => ({ prompt: 'x', model: SHA[model], steps: 20, ...extra });

async function submitted(gatewayUrl: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await postJson(`${gatewayUrl}/api/sd/txt2img/async`, body, headers);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data.taskId as string;
}

async function checkpointsServed(sandbox: string): Promise<string[]> {
  const { body } = await getJson(`${sandbox}/sandbox/requests`);
  return body.requests.filter((r: any) => r.path === '/sdapi/v1/txt2img').map((r: any) => String(r.body.override_settings.sd_model_checkpoint).split('.')[0]);
}

describe('matching and affinity across unlike nodes', () => {
  it('sends each task only to a node with its checkpoint', async () => {
    const gw = await gateway();
    const fast = await gpu(gw, 'fast', { models: ['clarity', 'chillout'], loaded: 'clarity', itPerSecond: 40, speed: 20 });
    const slow = await gpu(gw, 'slow', { models: ['clarity', 'anything'], loaded: 'anything', itPerSecond: 10, speed: 20 });
    const ids = await Promise.all([
      ...Array.from({ length: 3 }, () => submitted(gw, job('anything'), { Authorization: 'k1' })),
      ...Array.from({ length: 3 }, () => submitted(gw, job('chillout'), { Authorization: 'k2' })),
      ...Array.from({ length: 3 }, () => submitted(gw, job('clarity'), { Authorization: 'k3' })),
    ]);
    for (const id of ids) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
    const onFast = await checkpointsServed(fast.sandbox);
    const onSlow = await checkpointsServed(slow.sandbox);
    expect(onFast.filter((c) => c.startsWith('anything'))).toEqual([]);
    expect(onSlow.filter((c) => c.startsWith('chilloutmix'))).toEqual([]);
    expect(onFast.length + onSlow.length).toBe(9);
  });

  it('keeps each node on the checkpoint it has loaded: no switch for an even mix', async () => {
    const gw = await gateway();
    const a = await gpu(gw, 'node-a', { models: ['clarity', 'chillout'], loaded: 'clarity', itPerSecond: 15, speed: 20 });
    const b = await gpu(gw, 'node-b', { models: ['clarity', 'chillout'], loaded: 'chillout', itPerSecond: 15, speed: 20 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(await submitted(gw, job('clarity'), { Authorization: `k${i}` }));
      ids.push(await submitted(gw, job('chillout'), { Authorization: `k${i}` }));
    }
    for (const id of ids) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
    for (const sandbox of [a.sandbox, b.sandbox]) {
      const stats = (await getJson(`${sandbox}/sandbox/stats`)).body;
      expect(stats.checkpointSwitches, JSON.stringify({ stats, served: await checkpointsServed(sandbox) })).toBe(0);
    }
    expect(new Set(await checkpointsServed(a.sandbox))).toEqual(new Set(['clarity']));
    expect(new Set(await checkpointsServed(b.sandbox))).toEqual(new Set(['chilloutmix_NiPrunedFp32Fix']));
    const nodes = (await getJson(`${gw}/api/nodes`)).body.data;
    expect(nodes.map((n: any) => n.itPerSecond).every((s: number | null) => s !== null && s > 0)).toBe(true);
  });
});

describe('honest numbers', () => {
  it('queued tasks get increasing positions and ETAs; the running one reports progress', async () => {
    const gw = await gateway();
    await gpu(gw, 'only', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 4 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submitted(gw, job('clarity')));
    const views = await Promise.all(ids.map(async (taskId) => (await postJson(`${gw}/api/sd/task/status`, { taskId })).body.data));
    const queued = views.filter((v) => v.status === 0);
    expect(queued.length).toBeGreaterThanOrEqual(3);
    const positions = queued.map((v) => v.queuePosition);
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    expect(new Set(positions).size).toBe(positions.length);
    const etas = queued.map((v) => v.eta as number);
    for (let i = 1; i < etas.length; i++) expect(etas[i]!).toBeGreaterThan(etas[i - 1]!);
    const first = views.find((v) => v.status === 1);
    expect(first).toMatchObject({ queuePosition: 0, progress: expect.any(Number) });
    for (const id of ids) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
  });
});

describe('limits and cancel', () => {
  it('caps unfinished tasks per API key', async () => {
    const gw = await gateway(['--max-tasks-per-key', '2']);
    await gpu(gw, 'only', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    await submitted(gw, job('clarity'), { Authorization: 'sk-a' });
    await submitted(gw, job('clarity'), { Authorization: 'sk-a' });
    const third = await postJson(`${gw}/api/sd/txt2img/async`, job('clarity'), { Authorization: 'sk-a' });
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ code: 3002, error: 'DAN_ERR_TASK_LIMIT' });
    await submitted(gw, job('clarity'), { Authorization: 'sk-b' });
  });

  it('cancels a queued task and interrupts a running one', async () => {
    const gw = await gateway();
    const only = await gpu(gw, 'only', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    const runningId = await submitted(gw, job('clarity', { steps: 150 }));
    const queuedId = await submitted(gw, job('clarity'));
    await only.node.waitForLog((l) => l.msg === 'task received' && l['task'] === runningId);

    const cancelQueued = await postJson(`${gw}/api/sd/task/cancel`, { taskId: queuedId });
    expect(cancelQueued.body.data).toMatchObject({ taskId: queuedId, status: 4 });
    const again = await postJson(`${gw}/api/sd/task/cancel`, { taskId: queuedId });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('DAN_ERR_TASK_NOT_CANCELLABLE');

    const cancelRunning = await postJson(`${gw}/api/sd/task/cancel`, { taskId: runningId });
    expect(cancelRunning.body.data.status).toBe(4);
    await expect.poll(async () => (await getJson(`${only.sandbox}/sandbox/requests`)).body.requests.some((r: any) => r.path === '/sdapi/v1/interrupt')).toBe(true);
    expect((await getJson(`${gw}/api/sd/task/${runningId}`)).body.data).toMatchObject({ status: 4, error: 'DAN_ERR_TASK_CANCELLED' });
    // The sandbox logs a request once answered, so the interrupted job may show up
    // a little after the interrupt. A later task that runs to the end proves the
    // node is free again; by then the cancelled queued task would have run before it.
    const laterId = await submitted(gw, job('clarity'));
    expect((await pollUntilDone(gw, laterId, 30_000)).status).toBe(2);
    // The interrupted job and the later one: the cancelled queued task never reached the WebUI.
    expect(await checkpointsServed(only.sandbox)).toHaveLength(2);
  });

  it('rejects cancelling an unknown task', async () => {
    const gw = await gateway();
    const { status, body } = await postJson(`${gw}/api/sd/task/cancel`, { taskId: '00000000-0000-0000-0000-000000000000' });
    expect(status).toBe(404);
    expect(body.error).toBe('DAN_ERR_TASK_NOT_FOUND');
  });
});

describe('nodes that leave, stop or fail', () => {
  /**
   * Two tasks for the only node holding `anything`; the node dies while running the first, so the
   * second waits with no node to serve it and says so. `firstSteps` sets how long the first runs.
   */
  async function orphaned(graceSeconds: number, firstSteps: number) {
    const gw = await gateway(['--unservable-grace-s', String(graceSeconds)]);
    const only = await gpu(gw, 'only', { models: ['anything'], loaded: 'anything', itPerSecond: 15, speed: 1 });
    const first = await submitted(gw, job('anything', { steps: firstSteps }));
    const second = await submitted(gw, job('anything'));
    await only.node.waitForLog((l) => l.msg === 'task received' && l['task'] === first);
    await only.node.stop('SIGKILL');
    const status = async () => (await getJson(`${gw}/api/sd/task/${second}`)).body.data;
    await expect.poll(async () => (await status()).message ?? '').toMatch(/^waiting: no node is connected/);
    return { gw, first, second, status };
  }

  it('a queued task whose only capable node left says why, then fails after the grace time', async () => {
    const { gw, first, second } = await orphaned(2, 150);
    for (const id of [first, second]) {
      const done = await pollUntilDone(gw, id, 10_000);
      expect(done).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_UNSERVABLE' });
      expect(done.message).toMatch(/no node could serve this task for 2 s: no node is connected/);
    }
  });

  it('a task left without a capable node stops saying so, and runs, when one connects within the grace time', async () => {
    const { gw, first, second, status } = await orphaned(60, 60);
    // The retried first task holds the new node for ~4 s: meanwhile the second is queued, with no "waiting" message.
    const back = await gpu(gw, 'back', { models: ['anything'], loaded: 'anything', itPerSecond: 15, speed: 1 });
    await back.node.waitForLog((l) => l.msg === 'task received' && l['task'] === first);
    const queued = await status();
    expect(queued).toMatchObject({ status: 0, queuePosition: 1 });
    expect(queued.message).toBeUndefined();
    expect((await pollUntilDone(gw, second, 30_000)).status).toBe(2);
  });

  it('a node told to stop finishes its task, takes no new one, and exits', async () => {
    const gw = await gateway();
    const stopping = await gpu(gw, 'stopping', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 2 });
    const taskId = await submitted(gw, job('clarity'));
    await stopping.node.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId);
    stopping.node.child.kill('SIGTERM');
    await expect.poll(async () => (await getJson(`${gw}/api/nodes`)).body.data[0]?.state).toBe('draining');
    const later = await submitted(gw, job('clarity'));
    expect((await pollUntilDone(gw, taskId, 20_000)).status).toBe(2);
    expect(await stopping.node.exited).toBe(0);
    expect((await getJson(`${gw}/api/sd/task/${later}`)).body.data.status).toBe(0);
  });

  it('a node that keeps failing is set aside and shown as such; its tasks succeed elsewhere', async () => {
    const gw = await gateway();
    const flaky = await gpu(gw, 'flaky', { models: ['clarity'], loaded: 'clarity', itPerSecond: 40, speed: 20 });
    await gpu(gw, 'steady', { models: ['clarity'], loaded: 'clarity', itPerSecond: 10, speed: 20 });
    await postJson(`${flaky.sandbox}/sandbox/faults`, { failNext: 100 });
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => submitted(gw, job('clarity'), { Authorization: `k${i}` })));
    for (const id of ids) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
    const nodes = (await getJson(`${gw}/api/nodes`)).body.data;
    expect(nodes.find((n: any) => n.name === 'flaky')).toMatchObject({ state: 'set-aside', problem: expect.stringContaining('out of memory') });
  });
});
