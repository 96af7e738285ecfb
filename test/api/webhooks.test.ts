/**
 * Webhooks end to end through the real app (inject) and a real HTTP receiver
 * on loopback: the final result is POSTed with Standard Webhooks headers that
 * the `standardwebhooks` package verifies under the key's secret; a receiver
 * that fails is tried again with backoff (on the world's clock) and the key's
 * delivery log tells each try; progress posts when asked for; bad webhook
 * fields and anonymous callers are refused at submit. Where webhooks may not
 * go (private addresses, DNS rebinding): test/webhooks/webhook-sender.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import { MINUTE, SECOND } from '../../src/util/clock.js';
import type { FakeNode } from '../helpers/fake-nodes.js';
import { createInjectApp, type InjectApp } from '../helpers/inject-app.js';
import { dataOf, expectError } from './expect-envelope.js';
import { validBodies } from './route-bodies.js';

let bodies: Record<TaskKind, Record<string, unknown>>;
let api: InjectApp | undefined;
let receiver: Server | undefined;

beforeAll(async () => {
  bodies = await validBodies();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await api?.close();
  api = undefined;
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
  receiver = undefined;
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook receiver answering each POST with the next status of `statuses` (then 200); records what it got. */
async function startReceiver(statuses: number[] = []): Promise<{ url: string; received: Received[]; next(): Promise<Received> }> {
  const received: Received[] = [];
  const waiting: ((r: Received) => void)[] = [];
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const got = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(got);
      response.writeHead(statuses.shift() ?? 200).end('ok');
      waiting.shift()?.(got);
    });
  });
  await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
  const address = receiver.address() as { port: number };
  let seen = 0;
  return {
    url: `http://127.0.0.1:${address.port}/hooks/dan`,
    received,
    next: () => (received.length > seen ? Promise.resolve(received[seen++]!) : new Promise((resolve) => waiting.push((r) => (seen++, resolve(r))))),
  };
}

async function start(): Promise<{ app: InjectApp; node: FakeNode; key: { secret: string; webhookSecret: string; id: string } }> {
  api = await createInjectApp({ webhookAllowPrivate: true });
  const node = api.world.connect('node-0');
  const created = await api.keys.create({ name: 'hooks' });
  return { app: api, node, key: { secret: created.secret, webhookSecret: created.key.webhookSecret, id: created.key.id } };
}

describe('webhooks', () => {
  it('POST the final result, signed so that a Standard Webhooks library verifies it under the key\'s secret', async () => {
    const { app, node, key } = await start();
    const hook = await startReceiver();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, webhook: { url: hook.url } }, { authorization: key.secret }));
    await node.assignment(taskId);
    node.succeed(taskId);
    await app.world.settle();
    const got = await hook.next();
    expect(Number(got.headers['webhook-timestamp'])).toBe(Math.floor(app.world.clock.now() / 1000));
    // The library refuses timestamps five minutes off its own time: verify as of the world's (fake) time.
    vi.spyOn(Date, 'now').mockReturnValue(app.world.clock.now());
    const payload = new Webhook(key.webhookSecret).verify(got.body, got.headers as Record<string, string>) as any;
    expect(payload).toMatchObject({ type: 'task.succeeded', timestamp: expect.any(String), data: { taskId, status: 2, images: [expect.any(String)], seeds: [expect.any(Number)] } });
    expect(got.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    // A tampered body fails verification: the signature covers it.
    expect(() => new Webhook(key.webhookSecret).verify(got.body.replace('task.succeeded', 'task.failed'), got.headers as Record<string, string>)).toThrow('No matching signature found');
    vi.restoreAllMocks();
    await waitFor(async () => dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }))[0].state === 'delivered');
    const log = dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }));
    expect(log).toMatchObject([{ id: got.headers['webhook-id'], taskId, url: hook.url, state: 'delivered', attempts: 1, lastStatus: 200, lastError: null }]);
  });

  it('try again with backoff while the receiver fails, the same webhook-id each time, and log every try', async () => {
    const { app, node, key } = await start();
    const hook = await startReceiver([500, 503]);
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, webhook: { url: hook.url } }, { authorization: key.secret }));
    await node.assignment(taskId);
    node.fail(taskId, 'DAN_ERR_BACKEND_REJECTED', 'the WebUI said 422');
    await app.world.settle();
    const first = await hook.next();
    await waitFor(async () => dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }))[0].attempts === 1);
    let log = dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }));
    expect(log[0]).toMatchObject({ state: 'pending', attempts: 1, lastStatus: 500, lastError: 'the receiver answered 500', nextAt: app.world.clock.now() + 5 * SECOND });
    await app.world.clock.advance(5 * SECOND);
    const second = await hook.next();
    await waitFor(async () => dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }))[0].attempts === 2);
    await app.world.clock.advance(5 * MINUTE);
    const third = await hook.next();
    await waitFor(async () => dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }))[0].state === 'delivered');
    log = dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }));
    expect(log[0]).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 200 });
    expect(new Set([first, second, third].map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(JSON.parse(third.body)).toMatchObject({ type: 'task.failed', data: { taskId, status: 3, error: 'DAN_ERR_BACKEND_REJECTED' } });
  });

  it('send no end for a task that has not ended: its delivery waits again (a gateway that crashed before storing the end)', async () => {
    const { app, node, key } = await start();
    const hook = await startReceiver();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, webhook: { url: hook.url } }, { authorization: key.secret }));
    await node.assignment(taskId);
    // As after a restart that found the delivery due while the task runs again.
    await app.world.outbox.taskEnded(taskId);
    await waitFor(async () => dataOf(await app.get('/api/webhooks/deliveries', { authorization: key.secret }))[0].state === 'waiting');
    expect(hook.received).toEqual([]);
    node.succeed(taskId);
    await app.world.settle();
    expect(JSON.parse((await hook.next()).body)).toMatchObject({ type: 'task.succeeded', data: { taskId } });
  });

  it('post progress too when asked for', async () => {
    const { app, node, key } = await start();
    const hook = await startReceiver();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, webhook: { url: hook.url, events: ['progress', 'end'] } }, { authorization: key.secret }));
    await node.assignment(taskId);
    node.progress(taskId, 0.5);
    const progress = JSON.parse((await hook.next()).body);
    expect(progress.type).toBe('task.progress');
    expect(progress.data).toMatchObject({ taskId, status: 1 });
    await app.world.clock.advance(3 * SECOND);
    node.succeed(taskId);
    await app.world.settle();
    await waitFor(() => Promise.resolve(hook.received.some((r) => JSON.parse(r.body).type === 'task.succeeded')));
  });

  it('are refused at submit for a caller without a key, a URL that is not http(s), a private address, or unknown events', async () => {
    api = await createInjectApp();
    api.world.connect('node-0');
    const key = (await api.keys.create({ name: 'k' })).secret;
    const submit = (webhook: unknown, headers: Record<string, string> = { authorization: key }) => api!.post('/api/sd/txt2img/async', { ...bodies.txt2img, webhook }, headers);
    expectError(await submit({ url: 'https://hooks.example/x' }, {}), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'webhook', message: ['signed with the secret of your API key'] });
    expectError(await submit({ url: 'ftp://hooks.example/x' }), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'webhook.url' });
    expectError(await submit({ url: 'not a url' }), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'webhook.url' });
    for (const url of ['http://127.0.0.1:8080/x', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/x', 'http://10.1.2.3/x']) {
      expectError(await submit({ url }), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'webhook.url', message: ['private or local address'] });
    }
    expectError(await submit({ url: 'https://hooks.example/x', events: ['start'] }), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'webhook.events' });
    expectError(await submit({ url: 'https://hooks.example/x', secret: 'x' }), 400, 3000, { error: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'webhook.secret' });
    expect(api.world.service.load()).toEqual({ queued: 0, running: 0 });
    // null is no webhook, as leaving it out is, even for an anonymous caller.
    expect((await submit(null, {})).status).toBe(200);
    expect(api.world.service.load()).toEqual({ queued: 0, running: 1 });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
