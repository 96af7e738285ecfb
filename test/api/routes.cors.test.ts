/** CORS: which web pages' scripts may call the API (`--cors-origin`), preflights included. */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { createInjectApp, type InjectApp } from '../helpers/inject-app.js';

let api: InjectApp | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function start(corsOrigin?: string): Promise<InjectApp> {
  api = await createInjectApp(corsOrigin === undefined ? {} : { corsOrigin });
  return api;
}

/** A browser's preflight for a JSON POST with an API key (no body in its answer). */
const preflight = async (app: InjectApp, origin: string) => {
  const answer = await app.app.inject({
    method: 'OPTIONS',
    url: '/api/sd/txt2img/async',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
  });
  return { status: answer.statusCode, headers: answer.headers, body: answer.body === '' ? undefined : (JSON.parse(answer.body) as unknown) };
};

describe('CORS', () => {
  it('lets any page call the API by default: preflights and answers carry the headers', async () => {
    const app = await start();
    const answer = await preflight(app, 'https://app.example');
    expect(answer.status).toBe(204);
    expect(answer.headers['access-control-allow-origin']).toBe('*');
    expect(String(answer.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(answer.headers['access-control-allow-headers'])).toContain('authorization');
    const health = await app.get('/api/health', { origin: 'https://app.example' });
    expect(health.status).toBe(200);
    expect(health.headers['access-control-allow-origin']).toBe('*');
  });

  it('lets a page send the headers the API reads and read the ones it sets', async () => {
    const app = await start();
    const answer = await preflight(app, 'https://app.example');
    const allowed = String(answer.headers['access-control-allow-headers']).split(', ');
    expect(allowed).toEqual(expect.arrayContaining(['content-type', 'authorization', 'idempotency-key', 'last-event-id', 'prefer']));
    expect(answer.headers['access-control-max-age']).toBe('600');
    const submit = await app.post('/api/sd/task/status', { taskId: 'no-such-task' }, { origin: 'https://app.example' });
    const exposed = String(submit.headers['access-control-expose-headers']).split(', ');
    expect(exposed).toEqual(expect.arrayContaining(['x-task-id', 'ratelimit-remaining', 'retry-after', 'preference-applied']));
  });

  it('sends a client that is not a browser page (no Origin) only the allow-all header, so that a cached answer still serves pages', async () => {
    const app = await start();
    const health = await app.get('/api/health');
    expect(health.status).toBe(200);
    expect(Object.keys(health.headers).filter((h) => h.startsWith('access-control-'))).toEqual(['access-control-allow-origin']);
    expect(health.headers['access-control-allow-origin']).toBe('*');
  });

  it('answers an OPTIONS that is not a preflight as any other method a path does not take', async () => {
    const app = await start();
    const plain = await app.send({ method: 'OPTIONS', url: '/api/health', headers: { origin: 'https://app.example' } });
    expect(plain.status).toBe(405);
    expect(plain.headers['allow']).toBe('GET');
    expect((await app.send({ method: 'OPTIONS', url: '/api/nothing-here' })).status).toBe(404);
  });

  it('answers only the origins configured, telling caches that answers differ by origin', async () => {
    const app = await start('https://app.example, https://other.example');
    const allowed = await preflight(app, 'https://other.example');
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://other.example');
    expect(allowed.headers['vary']).toBe('Origin');
    const stranger = await app.get('/api/health', { origin: 'https://evil.example' });
    expect(stranger.status).toBe(200);
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    expect(stranger.headers['vary']).toBe('Origin');
    // Without Origin too: a cache keeps the answer apart from those to pages.
    expect((await app.get('/api/health')).headers['vary']).toBe('Origin');
    // A preflight from it is told why, not a 405 (the browser only reports a failed preflight).
    const refused = await preflight(app, 'https://evil.example');
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'DAN_ERR_CORS_ORIGIN', message: 'pages of https://evil.example may not call this API: the gateway allows https://app.example, https://other.example (--cors-origin)' });
  });

  it('takes a text/plain JSON body (what fetch sends for a string) only while any page may call the API', async () => {
    const body = JSON.stringify({ taskId: 'no-such-task' });
    const asText = (app: InjectApp) => app.send({ method: 'POST', url: '/api/sd/task/status', payload: body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    expect((await asText(await start())).body).toMatchObject({ error: 'DAN_ERR_TASK_NOT_FOUND' });
    await api!.close();
    // A CORS-simple request needs no preflight: from an origin not allowed it would still act.
    expect((await asText(await start('https://app.example'))).body).toMatchObject({ error: 'DAN_ERR_REQUEST_UNSUPPORTED_MEDIA' });
  });

  it('sends no CORS headers when off', async () => {
    const app = await start('off');
    expect((await app.get('/api/health', { origin: 'https://app.example' })).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('still tells a wrong method (405) from a missing path (404), though every path takes a preflight', async () => {
    const app = await start();
    expect((await app.get('/api/sd/txt2img')).status).toBe(405);
    expect((await app.get('/api/nothing-here')).status).toBe(404);
  });

  it('refuses a corsOrigin that is not *, off or a list of origins, at start', () => {
    expect(() => resolveGatewayConfig({ corsOrigin: 'app.example' })).toThrow(/corsOrigin must be \*, off, or origins such as https:\/\/app.example/);
    expect(resolveGatewayConfig({ corsOrigin: 'https://a.example,http://b.example:8080' }).corsOrigin).toBe('https://a.example,http://b.example:8080');
  });
});
