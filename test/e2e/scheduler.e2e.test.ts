/**
 * The scheduler end to end: real gateway, node and sandbox processes, nodes of
 * different speeds holding different checkpoints. Matching, affinity, queue
 * positions and ETAs, the per-key cap, cancel. Nodes that leave, stop or fail:
 * node-departures.e2e.test.ts (a file of its own, so the two run side by side).
 */
import { describe, expect, it } from 'vitest';
import { getJson, pollUntilDone, postJson } from '../helpers/api-client.js';
import { checkpointsServed, gateway, gpu, keyFor, killWorldAfterEach, job, submitted } from './scheduler-world.js';

killWorldAfterEach();

describe('matching and affinity across unlike nodes', () => {
  it('sends each task only to a node with its checkpoint', async () => {
    const gw = await gateway();
    const fast = await gpu(gw, 'fast', { models: ['clarity', 'chillout'], loaded: 'clarity', itPerSecond: 40, speed: 20 });
    const slow = await gpu(gw, 'slow', { models: ['clarity', 'anything'], loaded: 'anything', itPerSecond: 10, speed: 20 });
    const ids = await Promise.all([
      ...Array.from({ length: 3 }, () => submitted(gw, job('anything'))),
      ...Array.from({ length: 3 }, () => submitted(gw, job('chillout'))),
      ...Array.from({ length: 3 }, () => submitted(gw, job('clarity'))),
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
      ids.push(await submitted(gw, job('clarity')));
      ids.push(await submitted(gw, job('chillout')));
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

describe('a node that holds the next task ready (prefetch)', () => {
  it('is sent the next task while it runs one, starts it when that ends, and shows both', async () => {
    const gw = await gateway();
    const only = await gpu(gw, 'only', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await submitted(gw, job('clarity', { prompt: `held ${i}`, steps: 30 })));
    const [, second, third] = ids as [string, string, string];
    await only.node.waitForLog((l) => l.msg === 'task received' && l['task'] === second);
    // Two are on the node, the first running and the second held; the third is queued first in line.
    const listed = (await getJson(`${gw}/api/nodes`)).body.data[0];
    expect(listed).toMatchObject({ state: 'busy', slots: 1, prefetch: 1, running: 2 });
    const status = async (id: string) => (await getJson(`${gw}/api/sd/task/${id}`)).body.data;
    expect(await status(second)).toMatchObject({ status: 1, progress: 0 });
    expect(await status(third)).toMatchObject({ status: 0, queuePosition: 1 });
    for (const id of ids) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
    // The second was on the node before the first's result left it, and so was the third before the second's.
    const order = only.node.lines.filter((l) => l.msg === 'task received' || l.msg === 'task done').map((l) => `${l.msg === 'task received' ? 'got' : 'done'} ${ids.indexOf(String(l['task']))}`);
    expect(order.indexOf('got 1')).toBeLessThan(order.indexOf('done 0'));
    expect(order.indexOf('got 2')).toBeLessThan(order.indexOf('done 1'));
    // The WebUI ran them one at a time, in order.
    const prompts = (await getJson(`${only.sandbox}/sandbox/requests`)).body.requests.filter((r: any) => r.path === '/sdapi/v1/txt2img').map((r: any) => r.body.prompt);
    expect(prompts).toEqual(['held 0', 'held 1', 'held 2']);
  });
});

describe('a task held ready, and a node that comes idle beside it', () => {
  it('is taken back from its busy holder and run on the idle node', async () => {
    const gw = await gateway(['--admin-token', 'held-reclaim-admin-token']);
    // 50 steps at 5 it/s: 10 s a task on slow; fast does one in under 2 s. (At 6 s a task, a CI machine's slow start
    // of the fast node's process once left too little of the first task to be worth taking the held one back.)
    const slow = await gpu(gw, 'slow', { models: ['clarity'], loaded: 'clarity', itPerSecond: 5, speed: 1 });
    const first = await submitted(gw, job('clarity', { prompt: 'first', steps: 50 }));
    const held = await submitted(gw, job('clarity', { prompt: 'held', steps: 50 }));
    await slow.node.waitForLog((l) => l.msg === 'task received' && l['task'] === held);
    // Once the gateway knows how long slow's running task has left (its progress), a fast node joins.
    await expect.poll(async () => (await getJson(`${gw}/api/sd/task/${first}`)).body.data.progress, { timeout: 10_000 }).toBeGreaterThan(0);
    const fast = await gpu(gw, 'fast', { models: ['clarity'], loaded: 'clarity', itPerSecond: 30, speed: 1 });
    await slow.node.waitForLog((l) => l.msg === 'task abandoned' && l['task'] === held);
    for (const id of [first, held]) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
    const prompts = async (sandbox: string) => (await getJson(`${sandbox}/sandbox/requests`)).body.requests.filter((r: any) => r.path === '/sdapi/v1/txt2img').map((r: any) => r.body.prompt);
    expect(await prompts(fast.sandbox)).toEqual(['held']);
    expect(await prompts(slow.sandbox)).toEqual(['first']);
    // Counted for operators as its own outcome, and not as slow's failure.
    const metrics = await (await fetch(`${gw}/metrics`, { headers: { authorization: 'Bearer held-reclaim-admin-token' } })).text();
    expect(metrics).toContain('dan_attempts_total{outcome="taken_back"} 1');
    const listed = (await getJson(`${gw}/api/nodes`)).body.data.find((n: { name: string }) => n.name === 'slow');
    expect(listed).toMatchObject({ done: 1, failed: 0 });
  });
});

describe('limits and cancel', () => {
  it('caps unfinished tasks per caller: an address without a key, and each key its own', async () => {
    const gw = await gateway(['--anonymous-max-tasks', '2']);
    await gpu(gw, 'only', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    await submitted(gw, job('clarity'));
    await submitted(gw, job('clarity'));
    const third = await postJson(`${gw}/api/sd/txt2img/async`, job('clarity'));
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ code: 3002, error: 'DAN_ERR_TASK_LIMIT' });
    const key = await keyFor(gw, { name: 'b', maxTasks: 1 });
    await submitted(gw, job('clarity'), { Authorization: key });
    expect((await postJson(`${gw}/api/sd/txt2img/async`, job('clarity'), { Authorization: key })).body).toMatchObject({ error: 'DAN_ERR_TASK_LIMIT' });
  });

  it('cancels a queued task and interrupts a running one', async () => {
    const gw = await gateway();
    const only = await gpu(gw, 'only', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    const runningId = await submitted(gw, job('clarity', { steps: 150 }));
    // Queued: the node holds a task ready only once the running one nears its end (10 s from now).
    const queuedId = await submitted(gw, job('clarity'));
    await only.node.waitForLog((l) => l.msg === 'task received' && l['task'] === runningId);

    const cancelQueued = await postJson(`${gw}/api/sd/task/cancel`, { taskId: queuedId });
    expect(cancelQueued.body.data).toMatchObject({ taskId: queuedId, status: 4 });
    const again = await postJson(`${gw}/api/sd/task/cancel`, { taskId: queuedId });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('DAN_ERR_TASK_NOT_CANCELLABLE');

    const cancelRunning = await postJson(`${gw}/api/sd/task/cancel`, { taskId: runningId });
    expect(cancelRunning.body.data.status).toBe(4);
    // The node logs the cancelled task's end once its WebUI has answered the interrupt.
    const abandoned = await only.node.waitForLog((l) => l.msg === 'task abandoned' && l['task'] === runningId);
    expect(abandoned['reason']).toBe('cancelled by the client');
    expect((await getJson(`${only.sandbox}/sandbox/requests`)).body.requests.some((r: any) => r.path === '/sdapi/v1/interrupt')).toBe(true);
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
