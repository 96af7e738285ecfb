/**
 * `Prefer: early-task-id` on a sync submit, over a real socket: the status
 * line and headers (X-Task-Id) reach the client while its task is still
 * running, and the body follows when the task ends, telling its outcome in
 * `code`. Without the preference a sync answer is sent whole at the end, with
 * the outcome's own HTTP status.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import type { AssignMessage } from '../../src/protocol/messages.js';
import { prefersEarlyTaskId } from '../../src/api/routes/early-answer.js';
import type { FakeNode } from '../helpers/fake-nodes.js';
import { createListeningApp, type InjectApp } from '../helpers/inject-app.js';
import { dataOf } from './expect-envelope.js';
import { validBodies } from './route-bodies.js';

let bodies: Record<TaskKind, Record<string, unknown>>;
let api: InjectApp | undefined;

beforeAll(async () => {
  bodies = await validBodies();
});

afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function listening(): Promise<{ app: InjectApp; url: string; node: FakeNode }> {
  const listened = await createListeningApp();
  api = listened.app;
  return listened;
}

/** POSTs `body` and resolves as soon as the status line and headers arrive; `text()` reads the rest. */
function postForHeaders(url: string, body: unknown, headers: Record<string, string>): Promise<{ response: IncomingMessage; text: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/api/sd/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      const ended = new Promise<string>((done) => {
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
      });
      resolve({ response, text: () => ended });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const isAssign = (m: { type: string }): m is AssignMessage => m.type === 'assign';

describe('Prefer: early-task-id', () => {
  it('sends X-Task-Id before the task ends, then the images in the body', async () => {
    const { url, node } = await listening();
    const headersFirst = postForHeaders(url, bodies.txt2img, { prefer: 'early-task-id' });
    const assign = await node.next(isAssign);
    // The task is still running (the node has not answered), and the client already holds its id.
    const { response, text } = await headersFirst;
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ 'x-task-id': assign.taskId, 'preference-applied': 'early-task-id' });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    node.succeed(assign.taskId);
    const answer = JSON.parse(await text()) as { code: number; data: { taskId: string; images: string[] } };
    expect(answer.code).toBe(200);
    expect(answer.data.taskId).toBe(assign.taskId);
    expect(answer.data.images).toHaveLength(1);
  });

  it('tells a task that ended without images in the body: its error code, id and task', async () => {
    const { app, url, node } = await listening();
    const headersFirst = postForHeaders(url, bodies.txt2img, { prefer: 'wait=10, Early-Task-Id' });
    const assign = await node.next(isAssign);
    const { response, text } = await headersFirst;
    expect(response.statusCode).toBe(200);
    dataOf(await app.post('/api/sd/task/cancel', { taskId: assign.taskId }));
    const answer = JSON.parse(await text()) as Record<string, unknown>;
    expect(answer).toMatchObject({ code: 4002, error: 'DAN_ERR_TASK_CANCELLED', taskId: assign.taskId });
  });

  it('answers as before without the preference: nothing until the end, then the outcome\'s own status', async () => {
    const { app, url, node } = await listening();
    let headersSeen = false;
    const plain = postForHeaders(url, bodies.txt2img, {}).then((r) => {
      headersSeen = true;
      return r;
    });
    const assign = await node.next(isAssign);
    await app.world.settle();
    expect(headersSeen).toBe(false);
    dataOf(await app.post('/api/sd/task/cancel', { taskId: assign.taskId }));
    const { response, text } = await plain;
    expect(response.statusCode).toBe(409);
    expect(response.headers['preference-applied']).toBeUndefined();
    expect(JSON.parse(await text())).toMatchObject({ code: 4002, error: 'DAN_ERR_TASK_CANCELLED' });
  });
});

describe('prefersEarlyTaskId', () => {
  const asked = (prefer: string | string[] | undefined) => prefersEarlyTaskId({ headers: { prefer } } as never);
  it('finds the token among others, in any case, with or without parameters', () => {
    expect(asked('early-task-id')).toBe(true);
    expect(asked('respond-async, EARLY-TASK-ID')).toBe(true);
    expect(asked(['wait=5', 'early-task-id; x=1'])).toBe(true);
    expect(asked(undefined)).toBe(false);
    expect(asked('early-task-identity')).toBe(false);
    expect(asked('return=early-task-id')).toBe(false);
  });
});
