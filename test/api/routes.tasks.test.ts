/**
 * A task's life through the real routes, with `inject` and a node played by
 * the test: async submit and status from queued to running to done, sync
 * answers (result, failure, cancel, sync timeout), and cancel. What a real
 * node and WebUI make of each task: test/e2e/gateway-api.e2e.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import type { AssignMessage } from '../../src/protocol/messages.js';
import type { ResultMessage } from '../../src/protocol/result-frame.js';
import { HOUR, SECOND } from '../../src/util/clock.js';
import { type FakeNode, PNG_512, pngOfSize } from '../helpers/fake-nodes.js';
import { type Answer, createInjectApp, type InjectApp, type InjectAppOptions } from '../helpers/inject-app.js';
import { dataOf, expectError } from './expect-envelope.js';
import { taskKinds, validBodies } from './route-bodies.js';

let api: InjectApp | undefined;
let bodies: Record<TaskKind, Record<string, unknown>>;

beforeAll(async () => {
  bodies = await validBodies();
});

afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** The app and one node with one slot, offering the catalog's files. */
async function start(options: InjectAppOptions = {}): Promise<{ app: InjectApp; node: FakeNode }> {
  api = await createInjectApp(options);
  return { app: api, node: api.world.connect('gpu') };
}

/** Submits to `/api/sd/<kind>/async`; resolves with the answer's data. */
async function submit(app: InjectApp, kind: TaskKind = 'txt2img'): Promise<{ taskId: string; status: number; queuePosition: number }> {
  return dataOf(await app.post(`/api/sd/${kind}/async`, bodies[kind]));
}

async function statusOf(app: InjectApp, taskId: string): Promise<any> {
  return dataOf(await app.post('/api/sd/task/status', { taskId }));
}

/** Resolves once the task has ended (its outcome announced), whatever the clock. */
async function ended(app: InjectApp, taskId: string): Promise<void> {
  expect(await app.world.service.waitForOutcome(taskId, HOUR)).not.toBeNull();
}

/** The node's `n`-th assignment (1-based), received or to come. */
function nthAssignment(node: FakeNode, n: number): Promise<AssignMessage> {
  let seen = 0;
  return node.next((m): m is AssignMessage => m.type === 'assign' && ++seen === n);
}

/**
 * The assignment of a sync request's task (its id comes with it), once the node
 * gets it; fails at once, showing the answer, if the request is answered first.
 */
async function assignmentOf(node: FakeNode, pending: Promise<Answer>): Promise<AssignMessage> {
  const first = await Promise.race([nthAssignment(node, 1).then((assigned) => ({ assigned })), pending.then((answer) => ({ answer }))]);
  if ('answer' in first) throw new Error(`answered before the node got the task: ${first.answer.status} ${JSON.stringify(first.answer.body)}`);
  return first.assigned;
}

/** What a node answers for each kind: images and seeds, or a caption. */
const results: Record<TaskKind, ResultMessage['result']> = {
  // Of the size each body of route-bodies.ts asks for: 512² by default, a 64² init image, a 64² image upscaled 2×.
  txt2img: { kind: 'images', images: [PNG_512], seeds: [7] },
  img2img: { kind: 'images', images: [pngOfSize(64, 64)], seeds: [8] },
  interrogate: { kind: 'caption', caption: '1girl, solo, smile' },
  upscale: { kind: 'images', images: [pngOfSize(128, 128)], seeds: [] },
};

/** The result as the status document and sync answers carry it. */
function resultFields(kind: TaskKind): Record<string, unknown> {
  const result = results[kind];
  return result.kind === 'images' ? { images: result.images, seeds: result.seeds } : { caption: result.caption };
}

/** Parts of the spec the node must receive for each kind's body in route-bodies.ts: the route used its kind's parser. */
const specParts: Record<TaskKind, Record<string, unknown>> = {
  txt2img: { kind: 'txt2img', prompt: 'a fox', seed: 7, steps: 12, model: expect.objectContaining({ name: 'clarity' }) },
  img2img: { kind: 'img2img', prompt: 'a cat', width: 64, height: 64, denoisingStrength: 0.4, initImage: expect.any(String) },
  interrogate: { kind: 'interrogate', interrogator: 'deepdanbooru', image: expect.any(String) },
  upscale: { kind: 'upscale', scale: 2, upscaler: 'Lanczos', sourceWidth: 64, sourceHeight: 64 },
};

describe('async submit and task status', () => {
  it('answers at once with the task id, and status follows the task from queued to running to succeeded with its images', async () => {
    const { app, node } = await start();
    const first = await submit(app);
    expect(first).toMatchObject({ taskId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f-]{27}$/), status: 1, queuePosition: 0 });
    const second = await submit(app);
    expect(second).toMatchObject({ status: 0, queuePosition: 1, eta: expect.any(Number) });
    expect(await statusOf(app, second.taskId)).toMatchObject({ taskId: second.taskId, status: 0, queuePosition: 1 });

    node.succeed(first.taskId);
    await node.assignment(second.taskId);
    expect(await statusOf(app, second.taskId)).toMatchObject({ status: 1, queuePosition: 0, progress: 0 });
    node.progress(second.taskId, 0.5, 3);
    expect(await statusOf(app, second.taskId)).toMatchObject({ status: 1, progress: 0.5, eta: 3 });

    node.succeed(second.taskId);
    await ended(app, second.taskId);
    const done = { taskId: second.taskId, status: 2, queuePosition: 0, images: [PNG_512], seeds: [1] };
    expect(await statusOf(app, second.taskId)).toStrictEqual(done);
    expect(dataOf(await app.get(`/api/sd/task/${second.taskId}`))).toStrictEqual(done);
  });

  it.each(taskKinds)('%s/async sends the node the task its body describes, and status returns the result', async (kind) => {
    const { app, node } = await start();
    const { taskId } = await submit(app, kind);
    const assigned = await node.assignment(taskId);
    expect(assigned.spec).toMatchObject(specParts[kind]);
    node.answer(taskId, results[kind]);
    await ended(app, taskId);
    expect(await statusOf(app, taskId)).toStrictEqual({ taskId, status: 2, queuePosition: 0, ...resultFields(kind) });
  });

  it('ranks queued tasks 1, 2, 3 behind the running one, and moves them up as tasks end', async () => {
    const { app, node } = await start();
    const submitted = await Promise.all([1, 2, 3, 4].map(() => submit(app)));
    // The one sent at once is running (position 0); the others queue behind it, 1-based, in the order they came.
    const byPosition = [...submitted].sort((a, b) => a.queuePosition - b.queuePosition);
    expect(byPosition.map((t) => [t.status, t.queuePosition])).toEqual([[1, 0], [0, 1], [0, 2], [0, 3]]);
    const [running, ...queued] = byPosition.map((t) => t.taskId) as [string, ...string[]];
    for (const [i, taskId] of queued.entries()) expect(await statusOf(app, taskId)).toMatchObject({ status: 0, queuePosition: i + 1 });

    node.succeed(running);
    await node.assignment(queued[0]!);
    expect(await statusOf(app, queued[0]!)).toMatchObject({ status: 1, queuePosition: 0 });
    expect(await statusOf(app, queued[1]!)).toMatchObject({ status: 0, queuePosition: 1 });
    expect(await statusOf(app, queued[2]!)).toMatchObject({ status: 0, queuePosition: 2 });
  });
});

describe('sync submit', () => {
  it.each(taskKinds)('POST /api/sd/%s answers with the result once the node has it', async (kind) => {
    const { app, node } = await start();
    let answered = false;
    const pending = app.post(`/api/sd/${kind}`, bodies[kind]).finally(() => (answered = true));
    const { taskId, spec } = await assignmentOf(node, pending);
    expect(spec).toMatchObject(specParts[kind]);
    expect(await statusOf(app, taskId)).toMatchObject({ status: 1 });
    expect(answered).toBe(false);
    node.answer(taskId, results[kind]);
    const answer = await pending;
    expect(dataOf(answer)).toStrictEqual({ taskId, status: 2, queuePosition: 0, ...resultFields(kind) });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it.each([
    ['DAN_ERR_BACKEND_REJECTED', 'WebUI 422: lora not found: no_such_lora'],
    ['DAN_ERR_NODE_INTERNAL', 'TypeError: cannot read properties of undefined'],
  ] as const)('a task that fails with %s answers 502, code 4001, the node\'s reason and the taskId', async (error, message) => {
    const { app, node } = await start();
    const pending = app.post('/api/sd/txt2img', bodies.txt2img);
    const { taskId } = await assignmentOf(node, pending);
    node.fail(taskId, error, message);
    expectError(await pending, 502, 4001, { error, taskId, message: [message] });
    expect(await statusOf(app, taskId)).toStrictEqual({ taskId, status: 3, queuePosition: 0, error, message });
  });

  it('a task that fails on every attempt answers 502 DAN_ERR_TASK_ATTEMPTS_EXHAUSTED with each attempt\'s reason', async () => {
    const { app, node } = await start({ world: { maxAttempts: 1 } });
    const pending = app.post('/api/sd/upscale', bodies.upscale);
    const { taskId } = await assignmentOf(node, pending);
    node.fail(taskId, 'DAN_ERR_BACKEND_FAILED', 'CUDA out of memory');
    expectError(await pending, 502, 4001, {
      error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED',
      taskId,
      message: ['failed once: attempt 1 on node gpu: CUDA out of memory'],
    });
  });

  it('a task cancelled while its client waits answers 409 DAN_ERR_TASK_CANCELLED, code 4002, with the taskId', async () => {
    const { app, node } = await start();
    const pending = app.post('/api/sd/txt2img', bodies.txt2img);
    const { taskId } = await assignmentOf(node, pending);
    dataOf(await app.post('/api/sd/task/cancel', { taskId }));
    expectError(await pending, 409, 4002, { error: 'DAN_ERR_TASK_CANCELLED', taskId, message: ['cancelled by the client'] });
  });

  it('answers a sync request waiting when the gateway stops with 202 and its task, not by cutting it off', async () => {
    const { app, node } = await start({ syncTimeoutMs: 30 * SECOND });
    const pending = app.post('/api/sd/img2img', bodies.img2img);
    const { taskId } = await assignmentOf(node, pending);
    await app.world.dispatcher.close();
    const answer = await pending;
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ code: 202, data: { taskId, status: 1 }, message: expect.stringContaining('this gateway is stopping; poll POST /api/sd/task/status with this taskId') });
  });

  it('answers 202 with code 202 and the task status when the task is unfinished after the sync timeout; the task goes on', async () => {
    const { app, node } = await start({ syncTimeoutMs: 30 * SECOND });
    const pending = app.post('/api/sd/img2img', bodies.img2img);
    const { taskId } = await assignmentOf(node, pending);
    await app.world.clock.advance(30 * SECOND);
    const answer = await pending;
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({
      code: 202,
      data: { taskId, status: 1, queuePosition: 0 },
      message: 'not finished after 30 s; poll POST /api/sd/task/status with this taskId',
    });
    node.succeed(taskId);
    await ended(app, taskId);
    expect(await statusOf(app, taskId)).toMatchObject({ status: 2, images: [pngOfSize(64, 64)] });
  });
});

describe('cancel', () => {
  const cancelled = (taskId: string) => ({ taskId, status: 4, queuePosition: 0, error: 'DAN_ERR_TASK_CANCELLED', message: 'cancelled by the client' });

  it('cancels a queued task: status 4, and the node is never sent it', async () => {
    const { app, node } = await start();
    const running = await submit(app);
    const queued = await submit(app);
    expect(dataOf(await app.post('/api/sd/task/cancel', { taskId: queued.taskId }))).toStrictEqual(cancelled(queued.taskId));
    expect(node.cancels()).toEqual([]);
    node.succeed(running.taskId);
    const next = await submit(app);
    expect((await nthAssignment(node, 2)).taskId).toBe(next.taskId);
    expect(dataOf(await app.get(`/api/sd/task/${queued.taskId}`))).toStrictEqual(cancelled(queued.taskId));
  });

  it('cancels a running task: the node is sent a cancel, its slot takes the next task, and a late result changes nothing', async () => {
    const { app, node } = await start();
    const running = await submit(app);
    const queued = await submit(app);
    await node.assignment(running.taskId);
    expect(dataOf(await app.post('/api/sd/task/cancel', { taskId: running.taskId }))).toStrictEqual(cancelled(running.taskId));
    expect(node.received).toContainEqual({ type: 'cancel', taskId: running.taskId, reason: 'cancelled by the client' });
    await node.assignment(queued.taskId);
    node.succeed(running.taskId);
    expect(await statusOf(app, running.taskId)).toStrictEqual(cancelled(running.taskId));
  });

  it.each([
    ['succeeded', 2, (node: FakeNode, taskId: string) => node.succeed(taskId)],
    ['failed', 3, (node: FakeNode, taskId: string) => node.fail(taskId, 'DAN_ERR_BACKEND_REJECTED', 'WebUI 422')],
  ] as const)('refuses to cancel a task that %s with a 409 naming its status', async (_, status, end) => {
    const { app, node } = await start();
    const { taskId } = await submit(app);
    end(node, taskId);
    await ended(app, taskId);
    expectError(await app.post('/api/sd/task/cancel', { taskId }), 409, 3000, {
      error: 'DAN_ERR_TASK_NOT_CANCELLABLE',
      field: 'taskId',
      message: [`task "${taskId}" has already finished (status ${status})`],
    });
    expect(await statusOf(app, taskId)).toMatchObject({ status });
  });

  it('refuses to cancel a task twice', async () => {
    const { app } = await start();
    const { taskId } = await submit(app);
    dataOf(await app.post('/api/sd/task/cancel', { taskId }));
    expectError(await app.post('/api/sd/task/cancel', { taskId }), 409, 3000, {
      error: 'DAN_ERR_TASK_NOT_CANCELLABLE',
      field: 'taskId',
      message: ['(status 4)'],
    });
  });
});
