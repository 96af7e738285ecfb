/**
 * What one client address may hold of the gateway at once (api/address-limits.ts), over real sockets: its
 * connections beyond the limit are closed at once, and request bodies on their way beyond its share are
 * refused with a 429 before they are read; others, and the same client once its bodies arrived, go on.
 * A client that asks before it sends a body (`Expect: 100-continue`) is told to go on only once its request
 * passed those checks, and is refused at once otherwise. (The limits leave loopback alone in a real gateway;
 * these tests hold the test's loopback client to them.)
 */
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BODIES_PER_ADDRESS, holderOf } from '../../src/api/address-limits.js';
import { createListeningApp, type InjectApp } from '../helpers/inject-app.js';

let api: InjectApp | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await api?.close();
  api = undefined;
});

const BODY_LIMIT = 1024 * 1024;

async function listening(maxConnections: number) {
  const listened = await createListeningApp({ addressLimits: { maxConnections }, bodyLimitBytes: BODY_LIMIT });
  api = listened.app;
  const { port } = new URL(listened.url);
  return { url: listened.url, port: Number(port) };
}

/** A raw connection that says nothing yet; resolves once open, with whether the gateway has closed it since. */
async function idleConnection(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed: () => closed };
}

/** A POST whose headers say `bytes` of body and whose body never comes. */
function unfinishedUpload(port: number, bytes: number): { socket: Socket } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  socket.write(`POST /api/sd/txt2img/async HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n{"prompt":`);
  return { socket };
}

describe('per client address', () => {
  it('closes connections beyond the limit at once; a freed place is taken again', async () => {
    const { port, url } = await listening(4);
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await idleConnection(port));
    const fifth = await idleConnection(port);
    await expect.poll(fifth.closed).toBe(true);
    expect(held.every((c) => !c.closed())).toBe(true);
    held[0]!.socket.destroy();
    await expect.poll(async () => (await fetch(`${url}/healthz`).catch(() => null))?.status ?? 0).toBe(200);
  });

  it('refuses a request body beyond the bodies its address has on their way, with a 429 before reading it', async () => {
    const { port, url } = await listening(0);
    // Bodies of nearly the limit each, declared and never sent.
    const pending = Array.from({ length: BODIES_PER_ADDRESS }, () => unfinishedUpload(port, BODY_LIMIT - 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await fetch(`${url}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x'.repeat(2000) }) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: 'DAN_ERR_RATE_LIMITED', message: expect.stringMatching(/MiB of request bodies are on their way from this address/) });
    // A request without a body is not held back.
    expect((await fetch(`${url}/api/sd/supportedModelInfo`)).status).toBe(200);
    // Once the uploads are gone, the address has room again.
    pending.forEach(({ socket }) => socket.destroy());
    await expect
      .poll(async () => (await fetch(`${url}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a lighthouse', model: 'clarity' }) })).status)
      .toBe(200);
  });
});

describe('a body refused before it was read', () => {
  it('gives its share back once its answer is out, whatever the client does next (it would stay counted for good)', async () => {
    const { port, url } = await listening(0);
    // Answered before their bodies are read (a compressed body is refused at once), the clients then gone.
    for (let i = 0; i < BODIES_PER_ADDRESS * 2; i++) {
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => {});
      await new Promise<void>((resolve) => {
        socket.write(`POST /api/sd/txt2img/async HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${BODY_LIMIT}\r\n\r\n`);
        socket.once('data', () => resolve());
      });
      socket.destroy();
    }
    // A GET that says it has a body is not counted either.
    for (let i = 0; i < BODIES_PER_ADDRESS * 2; i++) expect((await fetch(`${url}/api/sd/supportedModelInfo`, { headers: { 'content-length': '0' } })).status).toBe(200);
    const after = await fetch(`${url}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a lighthouse', model: 'clarity' }) });
    expect(after.status).toBe(200);
  });
});

describe('a gateway out of file descriptors', () => {
  it('says so in its log, once a minute, naming what to raise', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const listened = await createListeningApp({ logger });
    api = listened.app;
    const refused = Object.assign(new Error('accept EMFILE'), { syscall: 'accept', code: 'EMFILE' });
    listened.app.app.server.emit('error', refused);
    listened.app.app.server.emit('error', refused);
    const said = lines.filter((l) => l.msg.startsWith('the gateway cannot accept connections'));
    expect(said).toHaveLength(1);
    expect(said[0]!.msg).toMatch(/out of file descriptors; raise the limit \(ulimit -n, systemd LimitNOFILE\)/);
    // The gateway still answers.
    expect((await fetch(`${listened.url}/healthz`)).status).toBe(200);
  });
});

describe('who an address is, for counting', () => {
  it('is an IPv4 address itself, and an IPv6 one by its /64, however it is written', () => {
    expect(holderOf('203.0.113.9')).toBe('203.0.113.9');
    expect(holderOf('::ffff:203.0.113.9')).toBe('::ffff:203.0.113.9');
    expect(['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:0:0:7', '2001:DB8:1:2:abcd::'].map(holderOf)).toEqual(Array(3).fill('2001:db8:1:2::/64'));
    expect(holderOf('2001:db8:1:3::1')).not.toBe(holderOf('2001:db8:1:2::1'));
    expect(holderOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

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

describe('a client that asks before sending its body (Expect: 100-continue, api/expect-continue.ts)', () => {
  it('is told to go on, and answered once its body has come', async () => {
    const { port } = await listening(0);
    const body = JSON.stringify({ prompt: 'a lighthouse', model: 'clarity' });
    const asked = await askToSend(port, Buffer.byteLength(body));
    expect(asked.first).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    asked.socket.write(body);
    await expect.poll(() => asked.received()).toMatch(/HTTP\/1\.1 200 OK[\s\S]*"taskId"/);
  });

  it('gets the refusal at once, without being told to go on, when its address has its share of uploads on their way', async () => {
    const { port } = await listening(0);
    for (let i = 0; i < BODIES_PER_ADDRESS; i++) unfinishedUpload(port, BODY_LIMIT - 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const asked = await askToSend(port, 2000);
    expect(asked.first).toMatch(/^HTTP\/1\.1 429 /);
    expect(asked.first).not.toContain('100 Continue');
  });

  it('gets the refusal at once, without being told to go on, when its key is wrong', async () => {
    const listened = await createListeningApp({ auth: 'required', bodyLimitBytes: BODY_LIMIT });
    api = listened.app;
    const socket = connect(Number(new URL(listened.url).port), '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write(`POST /api/sd/txt2img/async HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dan_not-a-key\r\nContent-Type: application/json\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n`);
    await expect.poll(() => received).toMatch(/^HTTP\/1\.1 401 /);
    expect(received).not.toContain('100 Continue');
    expect(received).toContain('DAN_ERR_');
  });

  it('gets the refusal at once when its body would be over the limit', async () => {
    const { port } = await listening(0);
    const asked = await askToSend(port, BODY_LIMIT + 1);
    expect(asked.first).toMatch(/^HTTP\/1\.1 413 /);
  });
});
