import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendClient } from '../../src/node/backends/backend-client.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A WebUI whose first request on each path has its connection closed under it (as after the machine slept); `seen` counts requests per path. */
async function droppingFirst(): Promise<{ url: string; seen: Map<string, number> }> {
  const seen = new Map<string, number>();
  server = createServer((request, response) => {
    const key = `${request.method} ${request.url}`;
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    if (count === 1) return void request.socket.destroy();
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, seen };
}

describe('BackendClient and a connection closed under a request', () => {
  it('asks a read again on a new connection, once', async () => {
    const { url, seen } = await droppingFirst();
    expect(await new BackendClient({ baseUrl: url }).get('/sdapi/v1/sd-models')).toEqual({ ok: true });
    expect(seen.get('GET /sdapi/v1/sd-models')).toBe(2);
  });

  it('does not send a generation twice: it may have begun', async () => {
    const { url, seen } = await droppingFirst();
    await expect(new BackendClient({ baseUrl: url }).post('/sdapi/v1/txt2img', {})).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_UNREACHABLE' });
    expect(seen.get('POST /sdapi/v1/txt2img')).toBe(1);
  });
});
