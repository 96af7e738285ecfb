/**
 * The API's refusals through the real app, with `inject` (no sockets, no
 * processes): every bad request gets its HTTP status and the error envelope
 * `{code, error, message, field?}`, nothing is queued, and the app goes on
 * serving. The 413 over a real socket, with a client that keeps sending, is
 * test/e2e/gateway-api.e2e.test.ts's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { FailingStore } from '../helpers/failing-store.js';
import {
  type Answer,
  capturingLogger,
  createInjectApp,
  INJECT_BODY_LIMIT_BYTES,
  type InjectApp,
  type InjectAppOptions,
} from '../helpers/inject-app.js';
import { dataOf, expectError } from './expect-envelope.js';
import { taskKinds, validBodies } from './route-bodies.js';

let bodies: Record<TaskKind, Record<string, unknown>>;
/** One app with one node for the refusals, which change nothing (each test checks that nothing was queued). */
let shared: InjectApp;
/** An app of the test's own, for tests that set the app up or take tasks. */
let api: InjectApp | undefined;

beforeAll(async () => {
  bodies = await validBodies();
  shared = await createInjectApp();
  shared.world.connect('node-0');
});

afterAll(() => shared.close());

afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** An app of the test's own, with one node offering the catalog's files unless told otherwise. */
async function start(options: InjectAppOptions & { nodes?: number } = {}): Promise<InjectApp> {
  api = await createInjectApp(options);
  for (let i = 0; i < (options.nodes ?? 1); i++) api.world.connect(`node-${i}`);
  return api;
}

/** Nothing was queued or started by the refused requests. */
function expectNothingQueued(app: InjectApp): void {
  expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
}

const submitRoutes = taskKinds.flatMap((kind) => [`/api/sd/${kind}`, `/api/sd/${kind}/async`]);
const postRoutes = [...submitRoutes, '/api/sd/task/status', '/api/sd/task/cancel'];

const postRaw = (app: InjectApp, url: string, contentType: string | undefined, payload?: string): Promise<Answer> =>
  app.send({ method: 'POST', url, ...(contentType ? { headers: { 'content-type': contentType } } : {}), ...(payload === undefined ? {} : { payload }) });

describe('bodies that are not a JSON object', () => {
  it.each(postRoutes)('POST %s answers malformed JSON with a 400 DAN_ERR_REQUEST_INVALID_JSON', async (url) => {
    const app = shared;
    expectError(await app.post(url, '{"prompt": "x",'), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_JSON',
      // What the parser found, in its words (they differ between Node versions).
      message: [/^request body is not valid JSON \(.*JSON.*\); send one JSON object$/],
    });
  });

  it.each(['{"prompt": "x", "__proto__": {"a": 1}}', '{"prompt": "x", "constructor": {"prototype": {"a": 1}}}'])('refuses %s, naming the key, not calling it invalid JSON', async (payload) => {
    const app = shared;
    expectError(await app.post('/api/sd/txt2img', payload), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_JSON',
      message: ['request body holds a "__proto__" key, or a "constructor" with a "prototype", which are refused'],
    });
    expectNothingQueued(app);
  });

  it('refuses a body of millions of tiny values before parsing it (seconds of the event loop), and takes a long prompt of commas and quotes', async () => {
    const app = shared;
    // Within the body limit (1 MiB here; 32 MiB by default).
    const keys = `{${'"a":0,'.repeat(120_000)}"b":0}`;
    expectError(await app.post('/api/sd/task/status', keys), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_JSON', message: ['more than 200000 quotes and commas'] });
    const numbers = `{"taskId": "x", "n": [${'0,'.repeat(250_000)}0]}`;
    expectError(await app.post('/api/sd/task/status', numbers), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_JSON', message: ['more than 200000 quotes and commas'] });
    // The longest prompts allowed, all commas and quotes: parsed, then refused for what they are, not for their size.
    const prompt = '\\",'.repeat(5000);
    const answer = await app.post('/api/sd/txt2img', `{"prompt": "${prompt}", "negative_prompt": "${prompt}", "model": "nowhere"}`);
    expect(answer.body.error).not.toBe('DAN_ERR_REQUEST_INVALID_JSON');
  });

  it('answers an empty JSON body with a 400 that says it is empty', async () => {
    const app = shared;
    expectError(await postRaw(app, '/api/sd/txt2img', 'application/json', ''), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_JSON',
      message: ['request body is empty; send a JSON object'],
    });
    expectNothingQueued(app);
  });

  it('answers a request with no body at all with a 400 naming the body', async () => {
    const app = shared;
    expectError(await postRaw(app, '/api/sd/txt2img/async', undefined), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_FIELD',
      field: 'body',
      message: ['body: must be a JSON object, got nothing'],
    });
  });

  it.each([
    ['null', 'got null'],
    ['[]', 'got an array'],
    ['"a fox"', 'got "a fox" (a string)'],
    ['5', 'got 5'],
  ])('answers the JSON value %s, which is not an object, with a 400 naming the body', async (payload, got) => {
    const app = shared;
    expectError(await app.post('/api/sd/txt2img', payload), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_FIELD',
      field: 'body',
      message: ['body: must be a JSON object', got],
    });
  });

  it.each(['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'image/png'])(
    'answers a %s body with a 415 asking for JSON',
    async (type) => {
      const app = shared;
      expectError(await postRaw(app, '/api/sd/txt2img', type, 'prompt=x'), 415, 3000, {
        error: 'DAN_ERR_REQUEST_UNSUPPORTED_MEDIA',
        message: ['request body must be JSON; send `Content-Type: application/json`'],
      });
      expectNothingQueued(app);
    },
  );

  it('answers a text/plain body that is not JSON with a 400 DAN_ERR_REQUEST_INVALID_JSON', async () => {
    const app = shared;
    const answer = await postRaw(app, '/api/sd/txt2img', 'text/plain', 'hello');
    expectError(answer, 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_JSON', message: ['request body is not valid JSON'] });
    expect(answer.body.message).not.toContain('application/json');
  });

  it.each(['text/plain;charset=UTF-8', 'application/json; charset=utf-8'])('reads a JSON body sent as %s and takes the task', async (type) => {
    const app = await start();
    const data = dataOf(await postRaw(app, '/api/sd/interrogate/async', type, JSON.stringify(bodies.interrogate)));
    expect(data.taskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
  });
});

describe('a body over the limit', () => {
  /** A JSON body of exactly `bytes` bytes: an interrogate request with a long (invalid) image. */
  const bodyOfSize = (bytes: number) => {
    const shell = JSON.stringify({ image: '' });
    return JSON.stringify({ image: 'A'.repeat(bytes - shell.length) });
  };

  it('is answered 413 with the limit in MiB, and the connection is closed', async () => {
    const app = shared;
    const answer = await app.post('/api/sd/interrogate', bodyOfSize(INJECT_BODY_LIMIT_BYTES + 1));
    expectError(answer, 413, 3000, { error: 'DAN_ERR_REQUEST_TOO_LARGE', message: ['request body is larger than 1 MiB'] });
    expect(answer.headers['connection']).toBe('close');
    expectNothingQueued(app);
    expect(dataOf(await app.get('/api/health')).status).toBe('ok');
  });

  it('is the configured limit: a body of exactly the limit is read (and then judged on its fields)', async () => {
    const app = shared;
    expectError(await app.post('/api/sd/interrogate', bodyOfSize(INJECT_BODY_LIMIT_BYTES)), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'image',
    });
  });

  it('applies to the task routes too', async () => {
    const app = shared;
    expectError(await app.post('/api/sd/task/status', bodyOfSize(INJECT_BODY_LIMIT_BYTES + 1)), 413, 3000, { error: 'DAN_ERR_REQUEST_TOO_LARGE' });
  });
});

describe('routes that do not exist', () => {
  it.each([
    ['GET', '/api/sd/nothing-here?x=1', 'no endpoint GET /api/sd/nothing-here; the endpoints are listed at /docs (OpenAPI document: /openapi.json)'],
    ['POST', '/api/sd/txt2img/sync', 'no endpoint POST /api/sd/txt2img/sync; the endpoints are listed at /docs (OpenAPI document: /openapi.json)'],
    ['GET', '/api/sd/task/abc/more', 'no endpoint GET /api/sd/task/abc/more; the endpoints are listed at /docs (OpenAPI document: /openapi.json)'],
    ['GET', '/nothing-here', 'no endpoint GET /nothing-here; the endpoints are listed at /docs (OpenAPI document: /openapi.json)'],
  ])('%s %s is a 404 DAN_ERR_ROUTE_NOT_FOUND naming the method and path, without the query', async (method, url, message) => {
    const app = shared;
    const answer = await app.send({ method: method as 'GET', url });
    expectError(answer, 404, 404, { error: 'DAN_ERR_ROUTE_NOT_FOUND' });
    expect(answer.body.message).toBe(message);
  });

  it.each([
    ['GET', '/api/sd/txt2img', ['POST']],
    ['POST', '/api/health', ['GET']],
    // POST /api/sd/task/status, and GET /api/sd/task/:taskId with "status" as the id.
    ['PUT', '/api/sd/task/status?taskId=x', ['POST', 'GET']],
    ['DELETE', '/api/sd/task/abc', ['GET']],
  ])('%s %s is a 405 DAN_ERR_METHOD_NOT_ALLOWED naming the methods to use, in the Allow header too', async (method, url, allow) => {
    const app = shared;
    const answer = await app.send({ method: method as 'GET', url });
    expectError(answer, 405, 3000, { error: 'DAN_ERR_METHOD_NOT_ALLOWED' });
    expect(answer.body.message).toBe(`${url.split('?')[0]} takes ${allow.join(' or ')}, not ${method}`);
    expect(answer.headers['allow']).toBe(allow.join(', '));
  });
});

describe('fields the endpoint does not take', () => {
  it('refuses a typo with a 400 naming the field and the field meant', async () => {
    const app = shared;
    expectError(await app.post('/api/sd/txt2img', { ...bodies.txt2img, sampler: 'Euler' }), 400, 3000, {
      error: 'DAN_ERR_REQUEST_UNKNOWN_FIELD',
      field: 'sampler',
      message: ['sampler: unknown field (did you mean "sampler_name"?)', 'accepted fields: prompt, negative_prompt'],
    });
    expectNothingQueued(app);
  });

  // Each route reads its own kind's fields: a field another kind takes is unknown here.
  it.each([
    ['txt2img', 'init_image', 'img2img'],
    ['img2img', 'upscale', 'txt2img'],
    ['interrogate', 'prompt', 'txt2img'],
    ['upscale', 'model', 'interrogate'],
  ] as const)('%s (sync and async) refuses %s, a field %s takes', async (kind, field, other) => {
    const app = shared;
    const value = bodies[other][field] ?? { scale: 1.5 };
    for (const url of [`/api/sd/${kind}`, `/api/sd/${kind}/async`]) {
      const answer = await app.post(url, { ...bodies[kind], [field]: value });
      expectError(answer, 400, 3000, { error: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field, message: [`${field}: unknown field`] });
    }
    expectNothingQueued(app);
  });

  it('refuses a field the task routes do not take', async () => {
    const app = shared;
    for (const url of ['/api/sd/task/status', '/api/sd/task/cancel']) {
      expectError(await app.post(url, { taskId: 'abc', task_id: 'abc' }), 400, 3000, { error: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'task_id' });
    }
  });
});

describe('fields with values the endpoint cannot use', () => {
  it.each([
    [{ steps: 500 }, 'steps'],
    [{ width: '512' }, 'width'],
    [{ cfg_scale: -1 }, 'cfg_scale'],
    [{ seed: 1.5 }, 'seed'],
    [{ upscale: { scale: 3 } }, 'upscale.scale'],
    [{ sampler_name: 'Eular a' }, 'sampler_name'],
    [{ loras: [['not-a-lora', 1]] }, 'loras[0][0]'],
    [{ model: 'no-such-model' }, 'model'],
  ])('refuses %j with a 400 naming the field', async (patch, field) => {
    const app = shared;
    for (const url of ['/api/sd/txt2img', '/api/sd/txt2img/async']) {
      const answer = await app.post(url, { ...bodies.txt2img, ...patch });
      expectError(answer, 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field });
      expect(answer.body.message.startsWith(`${field}`)).toBe(true);
    }
    expectNothingQueued(app);
  });

  it('lists the models a client may name when the model is unknown', async () => {
    const app = shared;
    expectError(await app.post('/api/sd/txt2img', { ...bodies.txt2img, model: 'no-such-model' }), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_FIELD',
      field: 'model',
      message: ['"no-such-model" is not a supported model', 'chillout_mix', 'clarity', 'anything-v4.5-pruned'],
    });
  });

  it('refuses broken base64 and bytes that are not an image, naming the image field', async () => {
    const app = shared;
    expectError(await app.post('/api/sd/img2img', { ...bodies.img2img, init_image: 'not*base64!' }), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'init_image',
    });
    const text = Buffer.from('just some text, no picture').toString('base64');
    for (const kind of ['interrogate', 'upscale'] as const) {
      expectError(await app.post(`/api/sd/${kind}/async`, { ...bodies[kind], image: text }), 400, 3000, {
        error: 'DAN_ERR_REQUEST_INVALID_IMAGE',
        field: 'image',
        message: ['is not a PNG, JPEG or WebP image'],
      });
    }
    expectNothingQueued(app);
  });

  it('refuses an image whose header is whole but whose pixel data is cut or damaged, before any node sees it', async () => {
    const app = shared;
    const png = Buffer.from(bodies.interrogate['image'] as string, 'base64');
    const cut = png.subarray(0, png.length - 20).toString('base64');
    expectError(await app.post('/api/sd/img2img', { ...bodies.img2img, init_image: cut }), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'init_image',
      message: ['init_image: is not a readable PNG image: it is cut short (truncated)'],
    });
    const badHeader = Buffer.from(png);
    badHeader[29] = (badHeader[29] ?? 0) ^ 0xff; // the IHDR chunk's CRC
    expectError(await app.post('/api/sd/img2img', { ...bodies.img2img, inpaint: { mask: badHeader.toString('base64') } }), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'inpaint.mask',
      message: ['CRC of its IHDR chunk'],
    });
    expectNothingQueued(app);
  });

  it.each([
    [{}, 'taskId: is required'],
    [{ taskId: '' }, 'taskId: must not be empty'],
    [{ taskId: 'a b' }, 'taskId: must be letters, digits and dashes only, got "a b"'],
    [{ taskId: 42 }, 'taskId'],
  ])('refuses the task id in %j on status and cancel with a 400 naming taskId', async (body, message) => {
    const app = shared;
    for (const url of ['/api/sd/task/status', '/api/sd/task/cancel']) {
      expectError(await app.post(url, body), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'taskId', message: [message] });
    }
  });

  it('refuses a malformed task id in the path of GET /api/sd/task/:taskId', async () => {
    const app = shared;
    expectError(await app.get('/api/sd/task/a%20b'), 400, 3000, {
      error: 'DAN_ERR_REQUEST_INVALID_FIELD',
      field: 'taskId',
      message: ['got "a b"'],
    });
  });
});

describe('task ids the gateway does not know', () => {
  const unknownId = '00000000-0000-0000-0000-000000000000';

  it('status, GET by id and cancel all answer 404 DAN_ERR_TASK_NOT_FOUND naming the id', async () => {
    const app = shared;
    const answers = [
      await app.post('/api/sd/task/status', { taskId: unknownId }),
      await app.get(`/api/sd/task/${unknownId}`),
      await app.post('/api/sd/task/cancel', { taskId: unknownId }),
    ];
    for (const answer of answers) {
      expectError(answer, 404, 3000, { error: 'DAN_ERR_TASK_NOT_FOUND', field: 'taskId', message: [`no task with id "${unknownId}"`] });
    }
  });
});

describe('requests no connected node can serve', () => {
  it.each(submitRoutes)('POST %s with no node connected is a 503 saying how to attach one', async (url) => {
    const app = await start({ nodes: 0 });
    const kind = url.split('/')[3] as TaskKind;
    expectError(await app.post(url, bodies[kind]), 503, 2000, {
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: ['no node is connected to the network (right after a gateway restart its nodes are back within seconds: try again shortly); its operator attaches one with `dan node --gateway'],
    });
    expectNothingQueued(app);
  });

  it('names the model the connected nodes lack, and on how many of them', async () => {
    const app = await start({ nodes: 0 });
    const withoutAnything = makeCapabilities().models.filter((m) => !m.fileName.startsWith('anything'));
    app.world.connect('a', makeCapabilities({ models: withoutAnything }));
    app.world.connect('b', makeCapabilities({ models: withoutAnything }));
    expectError(await app.post('/api/sd/txt2img', { ...bodies.txt2img, model: 'anything-v4.5-pruned' }), 503, 2000, {
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: ['no connected node can run this task now: the connected nodes lack model anything-v4.5-pruned (missing on 2 of 2)'],
    });
    expectNothingQueued(app);
    // The same node serves the models it has.
    expect(dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img)).status).toBe(1);
  });

  it('names the LoRA and the interrogator the connected node lacks', async () => {
    const app = await start({ nodes: 0 });
    app.world.connect('a', makeCapabilities({ loras: [], interrogators: ['clip'] }));
    expectError(await app.post('/api/sd/txt2img', { ...bodies.txt2img, loras: [['kobeni_v10', 0.7]] }), 503, 2000, {
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: ['kobeni_v10', '(missing on 1 of 1)'],
    });
    expectError(await app.post('/api/sd/interrogate/async', bodies.interrogate), 503, 2000, {
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: ['deepdanbooru', '(missing on 1 of 1)'],
    });
  });

  it('says when the nodes that have what the task needs cannot reach their WebUI, and what the others lack', async () => {
    const app = await start({ nodes: 0 });
    app.world.connect('down').backend(false, 'connect ECONNREFUSED 127.0.0.1:7860');
    expectError(await app.post('/api/sd/txt2img', bodies.txt2img), 503, 2000, {
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: ['no connected node can run this task now: the 1 node that has what it needs cannot reach its WebUI (try again once it is back)'],
    });
    // Another node, its WebUI up, without the model; and one down without it either.
    const withoutAnything = makeCapabilities().models.filter((m) => !m.fileName.startsWith('anything'));
    app.world.connect('up', makeCapabilities({ models: withoutAnything }));
    app.world.connect('down-too', makeCapabilities({ models: withoutAnything })).backend(false);
    await app.world.settle();
    expectError(await app.post('/api/sd/txt2img', { ...bodies.txt2img, model: 'anything-v4.5-pruned' }), 503, 2000, {
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: [
        'no connected node can run this task now: the 1 node that has what it needs cannot reach its WebUI (try again once it is back); the other nodes lack model anything-v4.5-pruned (missing on 1 of 1 whose WebUI is up); 1 of 3 node(s) cannot reach their WebUI',
      ],
    });
  });
});

describe('the per-key task limit', () => {
  it('refuses a key\'s task beyond its unfinished-task budget with a 429, code 3002; other keys go on', async () => {
    const app = await start();
    const alice = (await app.keys.create({ name: 'alice', maxTasks: 2 })).secret;
    const bob = (await app.keys.create({ name: 'bob', maxTasks: 2 })).secret;
    // Bearer or bare, it is the same key.
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization: `Bearer ${alice}` }));
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization: alice }));
    for (const url of ['/api/sd/txt2img/async', '/api/sd/txt2img']) {
      const refused = await app.post(url, bodies.txt2img, { authorization: `Bearer ${alice}` });
      expectError(refused, 429, 3002, {
        error: 'DAN_ERR_TASK_LIMIT',
        message: ['this API key already has 2 unfinished tasks, the most allowed (2)'],
      });
      // When to try again, as clients read it.
      expect(refused.headers['retry-after']).toBe('5');
    }
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization: `Bearer ${bob}` }));
    expect(app.world.service.load()).toEqual({ queued: 2, running: 1 });
  });

  it('gives the key room again once one of its tasks ends', async () => {
    const app = await start();
    const carol = { authorization: (await app.keys.create({ name: 'carol', maxTasks: 1 })).secret };
    const first = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, carol));
    expectError(await app.post('/api/sd/txt2img/async', bodies.txt2img, carol), 429, 3002, { error: 'DAN_ERR_TASK_LIMIT' });
    dataOf(await app.post('/api/sd/task/cancel', { taskId: first.taskId }, carol));
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, carol));
  });

  it('counts requests without a key per address, and the public key as no key', async () => {
    const app = await start({ anonymous: { maxTasks: 1 } });
    dataOf(await app.post('/api/sd/upscale/async', bodies.upscale));
    for (const headers of [{}, { authorization: app.publicApiKey }] as Record<string, string>[]) {
      expectError(await app.post('/api/sd/upscale/async', bodies.upscale, headers), 429, 3002, {
        error: 'DAN_ERR_TASK_LIMIT',
        message: ['requests from this address without an API key already have 1 unfinished tasks'],
      });
    }
    // Another address has a budget of its own.
    dataOf(await app.send({ method: 'POST', url: '/api/sd/upscale/async', payload: bodies.upscale, remoteAddress: '10.1.2.3' }));
    dataOf(await app.post('/api/sd/upscale/async', bodies.upscale, { authorization: `Bearer ${(await app.keys.create({ name: 'dave' })).secret}` }));
  });
});

describe('a task store that fails', () => {
  const SERVER_PATH = '/srv/dan/data/payloads/3f1c.spec.json';
  const ANSWER = 'the gateway cannot store tasks right now; try again shortly (the gateway log says why)';

  async function startFailing(): Promise<{ app: InjectApp; disk: FailingStore; lines: Record<string, unknown>[] }> {
    let disk: FailingStore | undefined;
    const { logger, lines } = capturingLogger();
    const app = await start({
      logger,
      world: { store: (inner) => (disk = new FailingStore(inner, `writing ${SERVER_PATH} failed: ENOSPC: no space left on device`)) },
    });
    return { app, disk: disk!, lines };
  }

  it.each(submitRoutes)('POST %s that cannot be stored is a 503 naming no server path; the log has the cause', async (url) => {
    const { app, disk, lines } = await startFailing();
    disk.failing.add('insert');
    const kind = url.split('/')[3] as TaskKind;
    const answer = await app.post(url, bodies[kind]);
    expectError(answer, 503, 2000, { error: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect(answer.body.message).toBe(ANSWER);
    expect(JSON.stringify(answer.body)).not.toMatch(/\/srv|ENOSPC|payloads/);
    expect(lines).toContainEqual(expect.objectContaining({ error: 'DAN_ERR_STORE_UNAVAILABLE', msg: expect.stringContaining(SERVER_PATH) }));
    expectNothingQueued(app);
    disk.failing.delete('insert');
    dataOf(await app.post(`/api/sd/${kind}/async`, bodies[kind]));
  });

  it('a status read that fails is a 503 naming no server path', async () => {
    const { app, disk } = await startFailing();
    disk.failing.add('get');
    const answer = await app.post('/api/sd/task/status', { taskId: 'no-such-task' });
    expectError(answer, 503, 2000, { error: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect(answer.body.message).toBe(ANSWER);
  });
});
