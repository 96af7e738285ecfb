/**
 * `Idempotency-Key` on submits, through the real app with `inject`: a retry
 * with the same key and body gets the task the first request made (one task,
 * not two), another body under the same key is a 422, keys are each owner's
 * own, and a key names its task for 24 hours. Every submit answer names its
 * task in `X-Task-Id`. Across a gateway restart: test/e2e/idempotency.e2e.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import { HOUR } from '../../src/util/clock.js';
import type { FakeNode } from '../helpers/fake-nodes.js';
import { createInjectApp, type InjectApp } from '../helpers/inject-app.js';
import { dataOf, expectError } from './expect-envelope.js';
import { validBodies } from './route-bodies.js';

let bodies: Record<TaskKind, Record<string, unknown>>;
let api: InjectApp | undefined;
let node: FakeNode;

beforeAll(async () => {
  bodies = await validBodies();
});

afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function start(): Promise<InjectApp> {
  api = await createInjectApp();
  node = api.world.connect('node-0');
  return api;
}

const keyed = (key: string, extra: Record<string, string> = {}) => ({ 'idempotency-key': key, ...extra });

describe('Idempotency-Key', () => {
  it('answers a retry with the same key and body with the first request\'s task: one task, not two', async () => {
    const app = await start();
    const first = await app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('order-1'));
    const { taskId } = dataOf(first);
    expect(first.headers['x-task-id']).toBe(taskId);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The same fields in another order are the same request.
    const reordered = Object.fromEntries(Object.entries(bodies.txt2img).reverse());
    const again = await app.post('/api/sd/txt2img/async', reordered, keyed('order-1'));
    expect(dataOf(again).taskId).toBe(taskId);
    expect(again.headers).toMatchObject({ 'x-task-id': taskId, 'idempotent-replayed': 'true' });
    // A query string no submit reads (a client's cache buster) is not part of the request either.
    const busted = await app.post('/api/sd/txt2img/async?_=1733400000000', bodies.txt2img, keyed('order-1'));
    expect(dataOf(busted).taskId).toBe(taskId);
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
  });

  it('refuses the same key with another body, or on another endpoint, with a 422 naming the first task', async () => {
    const app = await start();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('k-2')));
    for (const [url, body] of [['/api/sd/txt2img/async', { ...bodies.txt2img, seed: 8 }], ['/api/sd/txt2img', bodies.txt2img]] as const) {
      expectError(await app.post(url, body, keyed('k-2')), 422, 3000, { error: 'DAN_ERR_IDEMPOTENCY_MISMATCH', field: 'Idempotency-Key', message: [`task ${taskId}`] });
    }
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
  });

  it('makes one task of many concurrent submits with one key', async () => {
    const app = await start();
    const answers = await Promise.all(Array.from({ length: 5 }, () => app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('burst'))));
    const ids = new Set(answers.map((a) => dataOf(a).taskId));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(4);
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
  });

  it('keeps each owner\'s keys its own', async () => {
    const app = await start();
    const alice = (await app.keys.create({ name: 'alice' })).secret;
    const bob = (await app.keys.create({ name: 'bob' })).secret;
    const a = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('same', { authorization: alice }))).taskId;
    const b = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('same', { authorization: bob }))).taskId;
    expect(a).not.toBe(b);
  });

  it('makes a sync retry wait for the first request\'s task, and both get its images', async () => {
    const app = await start();
    const first = app.post('/api/sd/txt2img', bodies.txt2img, keyed('sync-1'));
    const assign = await node.next((m): m is Extract<typeof m, { type: 'assign' }> => m.type === 'assign');
    const retry = app.post('/api/sd/txt2img', bodies.txt2img, keyed('sync-1'));
    await app.world.settle();
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
    node.succeed(assign.taskId);
    const [a, b] = await Promise.all([first, retry]);
    expect(dataOf(a).taskId).toBe(assign.taskId);
    expect(dataOf(b).taskId).toBe(assign.taskId);
    expect(b.headers).toMatchObject({ 'x-task-id': assign.taskId, 'idempotent-replayed': 'true' });
    expect(dataOf(b).images).toEqual(dataOf(a).images);
  });

  it('names a task for 24 hours: after that the key makes a new one', async () => {
    const app = await start();
    const first = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('daily'))).taskId;
    await app.world.clock.advance(25 * HOUR);
    const later = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, keyed('daily'))).taskId;
    expect(later).not.toBe(first);
  });

  it('refuses a key that is not 1 to 255 printable characters, before reading the body', async () => {
    const app = await start();
    for (const key of ['has space', 'x'.repeat(256), 'tab\there']) {
      expectError(await app.post('/api/sd/txt2img/async', { nonsense: true }, keyed(key)), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'Idempotency-Key' });
    }
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });
});

