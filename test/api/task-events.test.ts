/**
 * `GET /api/sd/task/{taskId}/events` over a real socket, read by the
 * `eventsource` package (the browsers' EventSource for Node): a client follows
 * a task from the queue to its end, resumes after a disconnect without being
 * told again what it saw, is told 204 after the end, and cannot follow another
 * key's task. The app is the real one over the fake-node core (fake clock for
 * the tasks, real time for the stream).
 */
import { EventSource } from 'eventsource';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import { type FakeNode, pngOfSize } from '../helpers/fake-nodes.js';
import { MAX_STREAMS_PER_CALLER } from '../../src/api/routes/task-events.js';
import { createListeningApp, type InjectApp } from '../helpers/inject-app.js';
import { dataOf } from './expect-envelope.js';
import { validBodies } from './route-bodies.js';

let bodies: Record<TaskKind, Record<string, unknown>>;
/** A live preview as a node sends it: base64 of a small image. */
const PREVIEW = pngOfSize(8, 8);
let api: InjectApp | undefined;
const sources: EventSource[] = [];

beforeAll(async () => {
  bodies = await validBodies();
});

afterEach(async () => {
  sources.splice(0).forEach((s) => s.close());
  await api?.close();
  api = undefined;
});

async function listening(): Promise<{ app: InjectApp; url: string; node: FakeNode }> {
  const listened = await createListeningApp();
  api = listened.app;
  return listened;
}

interface Received {
  type: string;
  id: string;
  data: any;
}

/** An EventSource on the task's stream that records every event; `authorization` sent when given. */
function follow(url: string, taskId: string, authorization?: string) {
  const events: Received[] = [];
  const waiters: { match: (e: Received) => boolean; resolve: (e: Received) => void }[] = [];
  const source = new EventSource(`${url}/api/sd/task/${taskId}/events`, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...(authorization ? { authorization } : {}) } }),
  });
  sources.push(source);
  const record = (type: string) => (event: MessageEvent) => {
    const received = { type, id: event.lastEventId, data: JSON.parse(event.data as string) };
    events.push(received);
    for (const waiter of [...waiters]) {
      if (waiter.match(received)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(received);
      }
    }
  };
  source.addEventListener('status', record('status'));
  source.addEventListener('end', record('end'));
  source.addEventListener('preview', record('preview'));
  const next = (match: (e: Received) => boolean) =>
    new Promise<Received>((resolve) => {
      const seen = events.find(match);
      if (seen) resolve(seen);
      else waiters.push({ match, resolve });
    });
  return { source, events, next };
}

describe('task events', () => {
  it('follow a task from the queue through its progress to its images, then end', async () => {
    const { app, url, node } = await listening();
    // The node is busy with a first task: the second waits in the queue.
    const busy = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img)).taskId;
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, seed: 9 }));
    const stream = follow(url, taskId);
    const queued = await stream.next((e) => e.type === 'status');
    expect(queued.data).toMatchObject({ taskId, status: 0, queuePosition: 1 });

    await node.assignment(busy);
    node.succeed(busy);
    await app.world.settle();
    await node.assignment(taskId);
    expect((await stream.next((e) => e.data.status === 1)).data).toMatchObject({ taskId, status: 1, queuePosition: 0 });
    node.progress(taskId, 0.5, null, PREVIEW);
    expect((await stream.next((e) => e.data.progress === 0.5)).data).toMatchObject({ status: 1, progress: 0.5 });
    // The node's live preview comes as an event of its own, without an id (a reconnect resumes from the status).
    expect(await stream.next((e) => e.type === 'preview')).toMatchObject({ data: { taskId, image: PREVIEW } });
    node.succeed(taskId);
    await app.world.settle();
    const end = await stream.next((e) => e.type === 'end');
    expect(end).toMatchObject({ id: 'end', data: { taskId, status: 2, images: [expect.any(String)], seeds: [expect.any(Number)] } });
    // Each status was said once: no two events in a row alike.
    const said = stream.events.filter((e) => e.type !== 'preview').map((e) => JSON.stringify(e.data));
    expect(new Set(said).size).toBe(said.length);
  });

  it('resume after a disconnect with Last-Event-ID: what the client saw is not sent again; after the end, 204', async () => {
    const { app, url, node } = await listening();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img));
    await node.assignment(taskId);
    node.progress(taskId, 0.25);
    const first = follow(url, taskId);
    const seen = await first.next((e) => e.data.progress === 0.25);
    first.source.close();

    // Reconnect as EventSource does, with the last id: the same status is not repeated, the next change is.
    const response = await fetch(`${url}/api/sd/task/${taskId}/events`, { headers: { 'last-event-id': seen.id } });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = response.body!.getReader();
    node.progress(taskId, 0.75);
    const text = new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('"progress":0.75');
    expect(text).not.toContain('"progress":0.25');
    await reader.cancel();

    node.succeed(taskId);
    await app.world.settle();
    const after = await fetch(`${url}/api/sd/task/${taskId}/events`, { headers: { 'last-event-id': 'end' } });
    expect(after.status).toBe(204);
  });

  it('never carry what a node slips into a preview: a preview that is not base64 disconnects its node', async () => {
    const { app, url, node } = await listening();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img));
    const stream = follow(url, taskId);
    await node.assignment(taskId);
    await stream.next((e) => e.data.status === 1);
    node.progress(taskId, 0.5, null, 'AAAA"}\n\nevent: end\ndata: {"status":2}');
    await app.world.settle();
    expect(app.world.hub.sessions.size).toBe(0);
    expect(stream.events.some((e) => e.type === 'preview' || e.type === 'end')).toBe(false);
  });

  it('tell a failure in the end event, with its error id', async () => {
    const { app, url, node } = await listening();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img));
    const stream = follow(url, taskId);
    await node.assignment(taskId);
    node.fail(taskId, 'DAN_ERR_BACKEND_REJECTED', 'the WebUI said 422');
    await app.world.settle();
    expect((await stream.next((e) => e.type === 'end')).data).toMatchObject({ taskId, status: 3, error: 'DAN_ERR_BACKEND_REJECTED' });
  });

  it('are at most 16 open per caller: the next is a 429 until one closes', async () => {
    const { app, url } = await listening();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img));
    const open = await Promise.all(Array.from({ length: MAX_STREAMS_PER_CALLER }, () => fetch(`${url}/api/sd/task/${taskId}/events`)));
    expect(open.every((r) => r.status === 200)).toBe(true);
    const refused = await fetch(`${url}/api/sd/task/${taskId}/events`);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: 'DAN_ERR_RATE_LIMITED' });
    expect(refused.headers.get('retry-after')).toBe('5');
    await open[0]!.body!.cancel();
    await waitUntil(async () => {
      const again = await fetch(`${url}/api/sd/task/${taskId}/events`);
      if (again.status === 200) await again.body!.cancel();
      return again.status === 200;
    });
    await Promise.all(open.slice(1).map((r) => r.body!.cancel()));
  });

  it('are the task owner\'s only: another key gets a 404 answer, not a stream', async () => {
    const { app, url } = await listening();
    const owner = (await app.keys.create({ name: 'owner' })).secret;
    const other = (await app.keys.create({ name: 'other' })).secret;
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization: owner }));
    const refused = await fetch(`${url}/api/sd/task/${taskId}/events`, { headers: { authorization: other } });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ error: 'DAN_ERR_TASK_NOT_FOUND' });
    const allowed = await fetch(`${url}/api/sd/task/${taskId}/events`, { headers: { authorization: owner } });
    expect(allowed.status).toBe(200);
    await allowed.body!.cancel();
  });

  it('end with an error event when their key is revoked, as the key\'s next request is refused', async () => {
    const { app, url, node } = await listening();
    const created = await app.keys.create({ name: 'soon revoked' });
    const busy = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img)).taskId;
    await node.assignment(busy);
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, seed: 3 }, { authorization: created.secret }));
    const response = await fetch(`${url}/api/sd/task/${taskId}/events`, { headers: { authorization: created.secret } });
    expect(response.status).toBe(200);
    await app.keys.revoke(created.key.id);
    // The stream ends (within its next look, a second at most) with the error, and nothing after it.
    const text = await response.text();
    expect(text).toMatch(/event: error\ndata: \{"code":1000,"error":"DAN_ERR_AUTH_KEY_INVALID","message":"the API key of this stream was revoked"\}\n\n$/);
    expect(text).not.toContain('event: end');
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
