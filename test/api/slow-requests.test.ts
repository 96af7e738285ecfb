/**
 * A client that sends its request slowly, or never finishes it, is cut off; a sync request that waits for
 * its GPU is not. Headers too large and compressed bodies are named as such. Real sockets (the timeout
 * and the header limit are the HTTP server's own).
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { capturingLogger, createInjectApp, type InjectApp } from '../helpers/inject-app.js';

let api: InjectApp | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function listening(requestTimeoutMs: number): Promise<{ api: InjectApp; port: number }> {
  api = await createInjectApp({ requestTimeoutMs });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  const address = api.app.server.address();
  return { api, port: typeof address === 'object' && address ? address.port : 0 };
}

describe('requests sent slowly', () => {
  it('a body that never ends gets a 408 and its connection closed', async () => {
    const { port } = await listening(300);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('POST /api/sd/txt2img/async HTTP/1.1\r\nHost: dan\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"prompt":');
      });
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
      setTimeout(() => reject(new Error('the connection was still open after 5 s')), 5000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 3000, error: 'DAN_ERR_REQUEST_TIMEOUT' });
    expect(body['message']).toContain('not received in full');
  });

  it('a client that leaves in the middle of its body is no error of the gateway: logged as the client leaving, not as an internal error', async () => {
    const { logger, lines } = capturingLogger();
    api = await createInjectApp({ logger });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    const address = api.app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const starts = [
      'POST /api/sd/txt2img/async HTTP/1.1\r\nHost: dan\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"prompt":"',
      'POST /v1/images/edits HTTP/1.1\r\nHost: dan\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG',
    ];
    for (const start of starts) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(start);
          setTimeout(() => socket.destroy(), 100);
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
    }
    await expect.poll(() => lines.filter((l) => l['msg'] === 'client left before its request was read').length).toBe(2);
    expect(lines.filter((l) => Number(l['level']) >= 50)).toEqual([]);
  });

  it('headers larger than the server takes get a 431 saying so, not a 400 naming a parser error', async () => {
    const { port } = await listening(5_000);
    const response = await fetch(`http://127.0.0.1:${port}/api/sd/task/status`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-big': 'a'.repeat(20_000) }, body: '{}' });
    expect(response.status).toBe(431);
    expect(await response.json()).toMatchObject({ error: 'DAN_ERR_REQUEST_TOO_LARGE', message: expect.stringMatching(/headers are larger than this server takes/) });
  });

  it('a request that is not HTTP gets a 400 in the API\'s envelope, with its error id', async () => {
    const { port } = await listening(5_000);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('HELLO WORLD\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 3000, error: 'DAN_ERR_REQUEST_INVALID_FIELD', field: 'request', message: expect.stringMatching(/^the request is not valid HTTP/) });
  });

  it('a compressed body gets a 415 saying to send it uncompressed', async () => {
    const { port } = await listening(5_000);
    const { gzipSync } = await import('node:zlib');
    const response = await fetch(`http://127.0.0.1:${port}/api/sd/task/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ taskId: 'x' })),
    });
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ error: 'DAN_ERR_REQUEST_UNSUPPORTED_MEDIA', message: expect.stringContaining('Content-Encoding gzip is not taken; send it uncompressed') });
  });

  it('a sync request waiting for its GPU longer than that is answered', async () => {
    const { api, port } = await listening(300);
    const node = api.world.connect('gpu');
    await api.world.settle();
    const pending = fetch(`http://127.0.0.1:${port}/api/sd/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a', model: 'clarity' }) });
    const { taskId } = await node.next((m) => m.type === 'assign');
    await new Promise((resolve) => setTimeout(resolve, 900));
    node.succeed(taskId);
    const response = await pending;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { status: number } }).data.status).toBe(2);
  });
});
