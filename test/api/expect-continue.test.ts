/**
 * `Expect: 100-continue` (api/expect-continue.ts), over raw sockets: a request the gateway will take is told to
 * send its body; one it refuses before reading the body (its address's share of uploads taken, a length over
 * the limit) gets its refusal at once, never a `100 Continue` that would have it upload the body for nothing.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BODIES_PER_ADDRESS } from '../../src/api/address-limits.js';
import { createListeningApp, type InjectApp } from '../helpers/inject-app.js';

let api: InjectApp | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await api?.close();
  api = undefined;
});

const BODY_LIMIT = 1024 * 1024;

async function listening(): Promise<number> {
  const listened = await createListeningApp({ addressLimits: { maxConnections: 0 }, bodyLimitBytes: BODY_LIMIT });
  api = listened.app;
  return Number(new URL(listened.url).port);
}

/** Sends a POST's headers only, asking to be told to go on; resolves with the first thing the gateway answers. */
async function askToSend(port: number, bytes: number): Promise<{ socket: Socket; first: string; received: () => string }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.write(`POST /api/sd/txt2img/async HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\nExpect: 100-continue\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  return { socket, first: received, received: () => received };
}

describe('a client that asks before sending its body', () => {
  it('is told to go on, and answered once its body has come', async () => {
    const port = await listening();
    const body = JSON.stringify({ prompt: 'a lighthouse', model: 'clarity' });
    const asked = await askToSend(port, Buffer.byteLength(body));
    expect(asked.first).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    asked.socket.write(body);
    await expect.poll(() => asked.received()).toMatch(/HTTP\/1\.1 200 OK[\s\S]*"taskId"/);
  });

  it('gets the refusal at once, without being told to go on, when its address has its share of uploads on their way', async () => {
    const port = await listening();
    for (let i = 0; i < BODIES_PER_ADDRESS; i++) {
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => {});
      socket.write(`POST /api/sd/txt2img/async HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY_LIMIT - 10}\r\n\r\n{"prompt":`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const asked = await askToSend(port, 2000);
    expect(asked.first).toMatch(/^HTTP\/1\.1 429 /);
    expect(asked.first).not.toContain('100 Continue');
  });

  it('gets the refusal at once when its body would be over the limit', async () => {
    const port = await listening();
    const asked = await askToSend(port, BODY_LIMIT + 1);
    expect(asked.first).toMatch(/^HTTP\/1\.1 413 /);
  });
});
