/**
 * The OpenAPI document (`/openapi.json`) against the real app: every route is
 * in it and everything in it is a route; every schema compiles as JSON Schema
 * 2020-12 (what OpenAPI 3.1 uses); and real answers of every endpoint, success
 * and error, match the schema the document gives for their path, method and
 * status (a status the document does not list for the operation fails too).
 * `/docs` serves Swagger UI from the package.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import type { FakeNode } from '../helpers/fake-nodes.js';
import { type Answer, createInjectApp, type InjectApp } from '../helpers/inject-app.js';
import { validBodies } from './route-bodies.js';

const ADMIN = 'admin-token-for-openapi-tests';
let app: InjectApp;
let node: FakeNode;
let doc: any;
let bodies: Record<TaskKind, Record<string, unknown>>;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

beforeAll(async () => {
  bodies = await validBodies();
  app = await createInjectApp({ adminToken: ADMIN, anonymous: { requestsPerMinute: 1000 } });
  node = app.world.connect('node-0');
  doc = (await app.get('/openapi.json')).body;
});

afterAll(() => app.close());

/** Every method and full path of the app's routes, from Fastify's route tree. */
function routesOf(tree: string): { method: string; path: string }[] {
  const stack: string[] = [];
  const out: { method: string; path: string }[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (.+?) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of match[3]!.split(', ')) out.push({ method, path: stack.join('') });
  }
  return out;
}

/** `/api/sd/task/:taskId` → `/api/sd/task/{taskId}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');
// The API proper: not the docs, the node socket, the catch-all preflight, nor the web app (/, /index.html, /assets/…).
const NOT_API = /^\/(docs|openapi\.json)|^\/api\/node\/ws$|^\*$|^\/$|^\/index\.html$|^\/assets\//;

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and names this version', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('describes every route, and only routes that exist', () => {
    const routes = routesOf(app.app.printRoutes({ commonPrefix: false }))
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !NOT_API.test(r.path))
      .map((r) => `${r.method} ${openApiPath(r.path)}`)
      .sort();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(routes.length).toBeGreaterThan(25);
    expect(documented).toEqual(routes);
  });

  it('has schemas that compile, an operationId per operation, and every error id of the catalog', () => {
    const ids = new Set<string>();
    for (const operations of Object.values<Record<string, any>>(doc.paths)) {
      for (const operation of Object.values(operations)) {
        expect(ids.has(operation.operationId)).toBe(false);
        ids.add(operation.operationId);
        for (const media of [operation.requestBody?.content, ...Object.values(operation.responses).map((r: any) => r.content)]) {
          const schema = media?.['application/json']?.schema;
          if (schema) expect(() => ajv.compile(schema)).not.toThrow();
        }
      }
    }
    const errorIds = doc.components.schemas.Error.properties.error.anyOf.map((s: any) => s.const);
    expect(errorIds).toContain('DAN_ERR_RATE_LIMITED');
    expect(errorIds).toContain('DAN_ERR_TASK_NOT_FOUND');
  });
});

/** Checks an answer against the document's schema for it. */
function expectConforms(method: string, path: string, answer: Answer): void {
  const operation = doc.paths[path]?.[method];
  expect(operation, `${method} ${path} is documented`).toBeDefined();
  const response = operation.responses[String(answer.status)];
  expect(response, `${method} ${path} documents status ${answer.status}: ${JSON.stringify(answer.body).slice(0, 200)}`).toBeDefined();
  const schema = response.content['application/json'].schema;
  const validate = ajv.compile<unknown>(schema);
  expect(validate(answer.body), `${method} ${path} ${answer.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(answer.body).slice(0, 300)}`).toBe(true);
}

describe('real answers match the document', () => {
  const admin = { authorization: `Bearer ${ADMIN}` };

  it('of the submits, sync and async, and the task endpoints', async () => {
    const key = (await app.keys.create({ name: 'docs' })).secret;
    const auth = { authorization: key };
    for (const kind of ['txt2img', 'img2img', 'interrogate', 'upscale'] as const) {
      const accepted = await app.post(`/api/sd/${kind}/async`, bodies[kind], auth);
      expectConforms('post', `/api/sd/${kind}/async`, accepted);
      const { taskId } = accepted.body.data;
      done.add(taskId);
      expectConforms('get', '/api/sd/task/{taskId}', await app.get(`/api/sd/task/${taskId}`, auth));
      await node.assignment(taskId);
      expectConforms('post', '/api/sd/task/status', await app.post('/api/sd/task/status', { taskId }, auth));
      finish(kind, taskId);
      await app.world.settle();
      expectConforms('post', '/api/sd/task/status', await app.post('/api/sd/task/status', { taskId }, auth));
      expectConforms('post', '/api/sd/task/cancel', await app.post('/api/sd/task/cancel', { taskId }, auth));

      const sync = app.post(`/api/sd/${kind}`, bodies[kind], auth);
      const assign = await nextAssign();
      finish(kind, assign.taskId);
      await app.world.settle();
      expectConforms('post', `/api/sd/${kind}`, await sync);
    }
    const failing = app.post('/api/sd/txt2img', { ...bodies.txt2img, seed: 99 }, auth);
    const assign = await nextAssign();
    node.fail(assign.taskId, 'DAN_ERR_BACKEND_REJECTED', 'the WebUI said 422');
    await app.world.settle();
    expectConforms('post', '/api/sd/txt2img', await failing);
    // Under Prefer: early-task-id the status is sent before the outcome: a 200 whose body is the error.
    const early = app.post('/api/sd/txt2img', { ...bodies.txt2img, seed: 98 }, { ...auth, prefer: 'early-task-id' });
    const cancelled = await nextAssign();
    await app.post('/api/sd/task/cancel', { taskId: cancelled.taskId }, auth);
    const earlyAnswer = await early;
    expect(earlyAnswer).toMatchObject({ status: 200, body: { error: 'DAN_ERR_TASK_CANCELLED' } });
    expectConforms('post', '/api/sd/txt2img', earlyAnswer);
  });

  it('of the OpenAI-compatible API: images, models, its errors', async () => {
    const generated = app.post('/v1/images/generations', { prompt: 'docs', model: 'clarity', size: '256x256' });
    finish('txt2img', (await nextAssign()).taskId);
    await app.world.settle();
    expectConforms('post', '/v1/images/generations', await generated);
    const linked = app.post('/v1/images/generations', { prompt: 'docs', model: 'clarity', response_format: 'url' });
    finish('txt2img', (await nextAssign()).taskId);
    await app.world.settle();
    expectConforms('post', '/v1/images/generations', await linked);
    expectConforms('post', '/v1/images/generations', await app.post('/v1/images/generations', { prompt: 'docs', n: 0 }));
    expectConforms('post', '/v1/images/generations', await app.post('/v1/images/generations', { prompt: 'docs' }, { authorization: 'sk-nope' }));
    expectConforms('get', '/v1/models', await app.get('/v1/models'));
  });

  it('of the refusals: bad field, unknown key, unknown task, idempotency mismatch, rate limit', async () => {
    expectConforms('post', '/api/sd/txt2img/async', await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, steps: 'many' }));
    expectConforms('post', '/api/sd/txt2img/async', await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization: 'sk-nope' }));
    expectConforms('get', '/api/sd/task/{taskId}', await app.get('/api/sd/task/00000000-0000-4000-8000-000000000000'));
    const key = { authorization: (await app.keys.create({ name: 'slow', requestsPerMinute: 3 })).secret, 'idempotency-key': 'k1' };
    expectConforms('post', '/api/sd/upscale/async', await app.post('/api/sd/upscale/async', bodies.upscale, key));
    expectConforms('post', '/api/sd/upscale/async', await app.post('/api/sd/upscale/async', { ...bodies.upscale, upscalingRate: 3 }, key));
    await app.post('/api/sd/upscale/async', bodies.upscale, key);
    const limited = await app.post('/api/sd/upscale/async', bodies.upscale, key);
    expect(limited.status).toBe(429);
    expectConforms('post', '/api/sd/upscale/async', limited);
  });

  it('of the network, key and admin endpoints', async () => {
    expectConforms('get', '/api/sd/supportedModelInfo', await app.get('/api/sd/supportedModelInfo'));
    expectConforms('get', '/api/health', await app.get('/api/health'));
    expectConforms('get', '/api/nodes', await app.get('/api/nodes'));
    expectConforms('get', '/api/network', await app.get('/api/network'));
    expectConforms('get', '/healthz', await app.get('/healthz'));
    expectConforms('get', '/readyz', await app.get('/readyz'));
    expectConforms('get', '/api/user/public-api-key', await app.get('/api/user/public-api-key'));
    expectConforms('get', '/api/keys/me', await app.get('/api/keys/me'));
    const created = await app.post('/api/admin/keys', { name: 'ops', models: ['clarity'] }, admin);
    expectConforms('post', '/api/admin/keys', created);
    const auth = { authorization: created.body.data.secret };
    expectConforms('get', '/api/keys/me', await app.get('/api/keys/me', auth));
    expectConforms('get', '/api/webhooks/deliveries', await app.get('/api/webhooks/deliveries', auth));
    expectConforms('get', '/api/admin/keys', await app.get('/api/admin/keys', admin));
    expectConforms('get', '/api/admin/keys/{id}', await app.get(`/api/admin/keys/${created.body.data.id}`, admin));
    expectConforms('patch', '/api/admin/keys/{id}', await app.send({ method: 'PATCH', url: `/api/admin/keys/${created.body.data.id}`, payload: { weight: 2 }, headers: admin }));
    expectConforms('delete', '/api/admin/keys/{id}', await app.send({ method: 'DELETE', url: `/api/admin/keys/${created.body.data.id}`, headers: admin }));
    expectConforms('get', '/api/admin/keys/{id}', await app.get('/api/admin/keys/key_nope', admin));
    expectConforms('get', '/api/admin/keys', await app.get('/api/admin/keys'));
    const token = await app.post('/api/admin/node-tokens', { name: 'gpu-owner' }, admin);
    expectConforms('post', '/api/admin/node-tokens', token);
    expectConforms('get', '/api/admin/node-tokens', await app.get('/api/admin/node-tokens', admin));
    expectConforms('delete', '/api/admin/node-tokens/{id}', await app.send({ method: 'DELETE', url: `/api/admin/node-tokens/${token.body.data.id}`, headers: admin }));
  });
});

/** Tasks the node was given already. */
const done = new Set<string>();

/** The node's next assignment of a task it was not given before. */
async function nextAssign(): Promise<{ taskId: string }> {
  const assign = await node.next((m): m is Extract<typeof m, { type: 'assign' }> => m.type === 'assign' && !done.has(m.taskId));
  done.add(assign.taskId);
  return assign;
}

/** Answers a task as its kind's backend would: a caption for an interrogation, an image otherwise. */
function finish(kind: TaskKind, taskId: string): void {
  if (kind === 'interrogate') node.answer(taskId, { kind: 'caption', caption: 'a fox in the snow' });
  else node.succeed(taskId);
}

describe('/docs', () => {
  it('serves Swagger UI from the package, pointing at the document, with no CDN', async () => {
    const page = await app.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs|jsdelivr)/);
    const json = await app.app.inject({ method: 'GET', url: '/docs/json' });
    expect(JSON.parse(json.body).openapi).toBe('3.1.0');
  });

  it('answers a path out of its static folder, or a byte it cannot take, with a 404, not a 500', async () => {
    for (const url of ['/docs/static/../x', '/docs/static/.%2e/x', '/docs/static/%00', '/docs/static//x', '/docs/static/a%5cx']) {
      const answer = await app.app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(404);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'DAN_ERR_ROUTE_NOT_FOUND' });
    }
  });

  it('is where an unknown path points', async () => {
    const answer = await app.get('/api/sd/txt2image');
    expect(answer.status).toBe(404);
    expect(answer.body.message).toContain('/docs');
  });
});
