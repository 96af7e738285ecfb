/**
 * API keys through the real app, with `inject`: who may call (`--auth`), whose
 * tasks a caller sees (another key's are 404), request rates (429 and the
 * RateLimit headers), a key's own limits, `/api/keys/me`, and the admin API.
 * The CLI on a running gateway's store is test/e2e/keys-cli.e2e.test.ts's.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskKind } from '../../src/domain/spec.js';
import { createInjectApp, type InjectApp, type InjectAppOptions } from '../helpers/inject-app.js';
import { dataOf, expectError } from './expect-envelope.js';
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

async function start(options: InjectAppOptions = {}): Promise<InjectApp> {
  api = await createInjectApp(options);
  api.world.connect('node-0');
  return api;
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('who may call', () => {
  it('refuses a key the gateway does not know with a 401 instead of treating it as anonymous', async () => {
    const app = await start();
    for (const authorization of ['Bearer sk-made-up', 'sk-made-up']) {
      expectError(await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization }), 401, 1000, {
        error: 'DAN_ERR_AUTH_KEY_INVALID',
        message: ['not one this gateway knows'],
      });
    }
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });

  it('takes "Bearer" with an empty key (a client whose key variable is empty) as no key: anonymous', async () => {
    const app = await start();
    for (const authorization of ['Bearer ', 'Bearer', 'bearer   ']) dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization }));
    expect(app.world.service.load().queued + app.world.service.load().running).toBe(3);
  });

  it('refuses a revoked key at its next request, naming its prefix, not the key', async () => {
    const app = await start();
    const { key, secret } = await app.keys.create({ name: 'erin' });
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, bearer(secret)));
    await app.keys.revoke(key.id);
    const answer = await app.post('/api/sd/txt2img/async', bodies.txt2img, bearer(secret));
    expectError(answer, 401, 1000, { error: 'DAN_ERR_AUTH_KEY_INVALID', message: [`${secret.slice(0, 7)}… was revoked`] });
    expect(answer.body.message).not.toContain(secret);
  });

  it('with --auth required, refuses requests without a key and with the public key; a key of its own works', async () => {
    const app = await start({ auth: 'required' });
    expectError(await app.post('/api/sd/txt2img/async', bodies.txt2img), 401, 1000, { error: 'DAN_ERR_AUTH_KEY_REQUIRED' });
    expectError(await app.post('/api/sd/txt2img/async', bodies.txt2img, bearer(app.publicApiKey)), 401, 1000, {
      error: 'DAN_ERR_AUTH_KEY_REQUIRED',
      message: ['does not take the public API key'],
    });
    expectError(await app.get('/api/sd/supportedModelInfo'), 401, 1000, { error: 'DAN_ERR_AUTH_KEY_REQUIRED' });
    expectError(await app.get('/api/nodes'), 401, 1000, { error: 'DAN_ERR_AUTH_KEY_REQUIRED' });
    expectError(await app.get('/api/user/public-api-key'), 401, 1000, { error: 'DAN_ERR_AUTH_KEY_REQUIRED', message: ['no public API key'] });
    const { secret } = await app.keys.create({ name: 'fay' });
    expect(dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, bearer(secret))).taskId).toBeTruthy();
    // Health is for everyone: load balancers carry no key.
    expect(dataOf(await app.get('/api/health')).status).toBe('ok');
  });

  it('with --auth off, reads no key and limits nothing', async () => {
    const app = await start({ auth: 'off', anonymous: { maxTasks: 1, requestsPerMinute: 1 } });
    for (let i = 0; i < 3; i++) {
      const answer = await app.post('/api/sd/txt2img/async', bodies.txt2img, { authorization: 'Bearer sk-anything' });
      dataOf(answer);
      expect(answer.headers['ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('whose tasks', () => {
  it('answers another key\'s task, and an anonymous caller asking for it, as a task that does not exist', async () => {
    const app = await start();
    const gina = bearer((await app.keys.create({ name: 'gina' })).secret);
    const hal = bearer((await app.keys.create({ name: 'hal' })).secret);
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, gina));
    expect(dataOf(await app.get(`/api/sd/task/${taskId}`, gina)).taskId).toBe(taskId);
    for (const headers of [hal, {}]) {
      expectError(await app.get(`/api/sd/task/${taskId}`, headers), 404, 3000, { error: 'DAN_ERR_TASK_NOT_FOUND', field: 'taskId' });
      expectError(await app.post('/api/sd/task/status', { taskId }, headers), 404, 3000, { error: 'DAN_ERR_TASK_NOT_FOUND', field: 'taskId' });
      expectError(await app.post('/api/sd/task/cancel', { taskId }, headers), 404, 3000, { error: 'DAN_ERR_TASK_NOT_FOUND', field: 'taskId' });
    }
    // The same answer as for an id nobody has: nothing tells the two apart.
    const unknown = await app.get('/api/sd/task/00000000-0000-4000-8000-000000000000', hal);
    expect(unknown.body.message.replace(/"[^"]+"/, '')).toBe((await app.get(`/api/sd/task/${taskId}`, hal)).body.message.replace(/"[^"]+"/, ''));
    // Still running for its owner, who may cancel it.
    expect(dataOf(await app.post('/api/sd/task/cancel', { taskId }, gina)).status).toBe(4);
  });

  it('keeps a finished task its key\'s, read back from the store', async () => {
    const app = await start();
    const ivy = bearer((await app.keys.create({ name: 'ivy' })).secret);
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, ivy));
    dataOf(await app.post('/api/sd/task/cancel', { taskId }, ivy));
    await app.world.clock.advance(60_000);
    expect(await app.world.store.get(taskId)).toMatchObject({ state: 'cancelled' });
    expectError(await app.get(`/api/sd/task/${taskId}`), 404, 3000, { error: 'DAN_ERR_TASK_NOT_FOUND', field: 'taskId' });
    expect(dataOf(await app.get(`/api/sd/task/${taskId}`, ivy)).status).toBe(4);
  });

  it('lets anyone holding an anonymous task\'s id read it, with or without a key', async () => {
    const app = await start();
    const { taskId } = dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img));
    const jon = bearer((await app.keys.create({ name: 'jon' })).secret);
    expect(dataOf(await app.get(`/api/sd/task/${taskId}`, jon)).taskId).toBe(taskId);
    expect(dataOf(await app.send({ method: 'GET', url: `/api/sd/task/${taskId}`, remoteAddress: '10.9.9.9' })).taskId).toBe(taskId);
  });
});

describe('request rates', () => {
  it('answers the 4th request of a 3-a-minute key with 429, Retry-After and RateLimit headers; other keys go on', async () => {
    const app = await start();
    const kim = bearer((await app.keys.create({ name: 'kim', requestsPerMinute: 3 })).secret);
    const lee = bearer((await app.keys.create({ name: 'lee', requestsPerMinute: 3 })).secret);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await app.get('/api/sd/supportedModelInfo', kim);
      dataOf(answer);
      expect(answer.headers['ratelimit-limit']).toBe('3');
      remaining.push(String(answer.headers['ratelimit-remaining']));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await app.post('/api/sd/txt2img/async', bodies.txt2img, kim);
    expectError(refused, 429, 3002, { error: 'DAN_ERR_RATE_LIMITED', message: ['this API key may make 3 requests a minute; try again in'] });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
    dataOf(await app.get('/api/sd/supportedModelInfo', lee));
  });

  it('counts callers without a key per address, the public key with them', async () => {
    const app = await start({ anonymous: { requestsPerMinute: 2 } });
    dataOf(await app.get('/api/sd/supportedModelInfo'));
    dataOf(await app.get('/api/sd/supportedModelInfo', { authorization: app.publicApiKey }));
    expectError(await app.get('/api/sd/supportedModelInfo'), 429, 3002, { error: 'DAN_ERR_RATE_LIMITED', message: ['this address (no API key) may make 2 requests a minute'] });
    dataOf(await app.send({ method: 'GET', url: '/api/sd/supportedModelInfo', remoteAddress: '10.0.0.7' }));
  });

  it('does not count health checks and the public key endpoint', async () => {
    const app = await start({ anonymous: { requestsPerMinute: 1 } });
    for (let i = 0; i < 3; i++) {
      expect((await app.get('/api/health')).status).toBe(200);
      expect((await app.get('/api/user/public-api-key')).status).toBe(200);
    }
    expect((await app.get('/api/sd/supportedModelInfo')).status).toBe(200);
    expect((await app.get('/api/sd/supportedModelInfo')).status).toBe(429);
  });
});

describe('a key\'s own limits', () => {
  it('refuses images larger than the key may make with a 403 naming the field and the bound', async () => {
    const app = await start();
    const small = bearer((await app.keys.create({ name: 'small', maxPixels: 512 * 512 })).secret);
    dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, width: 512, height: 512 }, small));
    expectError(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, width: 768, height: 512 }, small), 403, 1000, {
      error: 'DAN_ERR_KEY_NOT_ALLOWED',
      field: 'width',
      message: ['393216 pixels', 'at most 262144 (about 512×512)'],
    });
    expectError(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, width: 512, height: 512, upscale: { scale: 1.5 } }, small), 403, 1000, {
      error: 'DAN_ERR_KEY_NOT_ALLOWED',
      field: 'upscale.scale',
    });
    const tiny = bearer((await app.keys.create({ name: 'tiny', maxPixels: 256 * 256 })).secret);
    dataOf(await app.post('/api/sd/upscale/async', { ...bodies.upscale, upscalingRate: 4 }, tiny));
    expectError(await app.post('/api/sd/upscale/async', { ...bodies.upscale, upscalingRate: 5 }, tiny), 403, 1000, { error: 'DAN_ERR_KEY_NOT_ALLOWED', field: 'upscalingRate' });
  });

  it('refuses more steps than the key may use, and checkpoints outside its list', async () => {
    const app = await start();
    const narrow = bearer((await app.keys.create({ name: 'narrow', maxSteps: 20, models: ['chillout_mix'] })).secret);
    expectError(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, model: 'chillout_mix', steps: 21 }, narrow), 403, 1000, {
      error: 'DAN_ERR_KEY_NOT_ALLOWED',
      field: 'steps',
      message: ['at most 20 steps, got 21'],
    });
    expectError(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, model: 'clarity' }, narrow), 403, 1000, {
      error: 'DAN_ERR_KEY_NOT_ALLOWED',
      field: 'model',
      message: ['may use only "chillout_mix", not "clarity"'],
    });
    dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, model: 'chillout_mix', steps: 20 }, narrow));
  });
});

describe('GET /api/keys/me', () => {
  it('tells a key its limits, usage and webhook secret, never its hash', async () => {
    const app = await start();
    const { key, secret } = await app.keys.create({ name: 'mia', maxTasks: 5, requestsPerMinute: 50 });
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, bearer(secret)));
    const me = dataOf(await app.get('/api/keys/me', bearer(secret)));
    expect(me).toMatchObject({
      anonymous: false,
      key: { id: key.id, name: 'mia', prefix: secret.slice(0, 7), webhookSecret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) },
      limits: { maxTasks: 5, requestsPerMinute: 50, weight: 1, models: null },
      usage: { unfinishedTasks: 1, requestsLeftThisMinute: 48 },
    });
    expect(JSON.stringify(me)).not.toContain(secret);
    expect(me.key.hash).toBeUndefined();
  });

  it('tells an anonymous caller the anonymous limits', async () => {
    const app = await start({ anonymous: { maxTasks: 10, requestsPerMinute: 120 } });
    expect(dataOf(await app.get('/api/keys/me'))).toEqual({
      anonymous: true,
      key: null,
      limits: { maxTasks: 10, requestsPerMinute: 120, maxPixels: 0, maxSteps: 0, weight: 1, models: null },
      usage: { unfinishedTasks: 0, requestsLeftThisMinute: 119 },
    });
  });
});

describe('the admin API', () => {
  const TOKEN = 'admin-token-for-tests-0123';
  const admin = { authorization: `Bearer ${TOKEN}` };

  it('is off without an admin token, and refuses a wrong token', async () => {
    const off = await start();
    expectError(await off.get('/api/admin/keys', admin), 403, 1000, { error: 'DAN_ERR_AUTH_ADMIN_OFF' });
    await off.close();
    api = undefined;
    const app = await start({ adminToken: TOKEN });
    expectError(await app.get('/api/admin/keys'), 401, 1000, { error: 'DAN_ERR_AUTH_ADMIN_TOKEN' });
    expectError(await app.get('/api/admin/keys', { authorization: `Bearer ${TOKEN}x` }), 401, 1000, { error: 'DAN_ERR_AUTH_ADMIN_TOKEN' });
    // An API key is not an admin token.
    const { secret } = await app.keys.create({ name: 'nia' });
    expectError(await app.get('/api/admin/keys', bearer(secret)), 401, 1000, { error: 'DAN_ERR_AUTH_ADMIN_TOKEN' });
  });

  it('creates a key that works at once, lists it without secret or hash, changes and revokes it', async () => {
    const app = await start({ adminToken: TOKEN });
    const created = dataOf(await app.post('/api/admin/keys', { name: 'ops', requestsPerMinute: 2, models: ['clarity'] }, admin));
    expect(created).toMatchObject({ id: expect.stringMatching(/^key_[A-Za-z0-9]{12}$/), name: 'ops', secret: expect.stringMatching(/^sk-[A-Za-z0-9]{48}$/), limits: { requestsPerMinute: 2, maxTasks: 100, models: ['clarity'] } });
    const key = bearer(created.secret);
    dataOf(await app.post('/api/sd/txt2img/async', bodies.txt2img, key));

    const listed = dataOf(await app.get('/api/admin/keys', admin));
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    expect(listed[0].hash).toBeUndefined();
    expect(listed[0]).toMatchObject({ id: created.id, revokedAt: null });

    // A change applies at the key's next request: a higher rate, any model.
    const changed = dataOf(await app.send({ method: 'PATCH', url: `/api/admin/keys/${created.id}`, payload: { requestsPerMinute: 100, models: null }, headers: admin }));
    expect(changed.limits).toMatchObject({ requestsPerMinute: 100, models: null, maxTasks: 100 });
    dataOf(await app.post('/api/sd/txt2img/async', { ...bodies.txt2img, model: 'chillout_mix' }, key));
    dataOf(await app.get('/api/sd/supportedModelInfo', key));

    const revoked = dataOf(await app.send({ method: 'DELETE', url: `/api/admin/keys/${created.id}`, headers: admin }));
    expect(revoked.revokedAt).toEqual(expect.any(Number));
    expectError(await app.get('/api/sd/supportedModelInfo', key), 401, 1000, { error: 'DAN_ERR_AUTH_KEY_INVALID' });
  });

  it('names the field of a bad setting and the id of an unknown key', async () => {
    const app = await start({ adminToken: TOKEN });
    expectError(await app.post('/api/admin/keys', { requestsPerMinute: 5 }, admin), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'name' });
    // A name that would reach operators' terminals as escape codes.
    for (const name of ['a\u0000b', 'red \u001b[31m!', 'two\nlines', 'c1 \u009b', 'admin\u202egpj.exe']) {
      expectError(await app.post('/api/admin/keys', { name }, admin), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'name', message: ['no control characters'] });
    }
    dataOf(await app.post('/api/admin/keys', { name: 'Zoë 漢字 🚀' }, admin));
    expectError(await app.post('/api/admin/keys', { name: 'x', weight: 1000 }, admin), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'weight', message: ['from 0.1 to 100, got 1000'] });
    expectError(await app.post('/api/admin/keys', { name: 'x', models: [] }, admin), 400, 3000, { error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'models' });
    expectError(await app.post('/api/admin/keys', { name: 'x', rpm: 5 }, admin), 400, 3000, { error: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'rpm' });
    expectError(await app.send({ method: 'PATCH', url: '/api/admin/keys/key_nope', payload: { maxTasks: 1 }, headers: admin }), 404, 3000, { error: 'DAN_ERR_KEY_NOT_FOUND', field: 'id' });
  });

  it('is never open to web pages: no CORS headers, preflight included', async () => {
    const app = await start({ adminToken: TOKEN });
    const preflight = await app.send({
      method: 'OPTIONS',
      url: '/api/admin/keys',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    // Answered by the admin API's own route (the token check refuses it), with no CORS headers.
    expect(preflight.status).toBe(401);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
    const listed = await app.get('/api/admin/keys', { ...admin, origin: 'https://evil.example' });
    expect(listed.headers['access-control-allow-origin']).toBeUndefined();
    // The API itself stays open to pages.
    expect((await app.get('/api/sd/supportedModelInfo', { origin: 'https://app.example' })).headers['access-control-allow-origin']).toBe('*');
  });
});
