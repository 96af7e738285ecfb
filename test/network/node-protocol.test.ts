/**
 * The gateway's side of the node protocol, against hand-driven WebSocket
 * clients: admission rules, and frames that break the protocol. Whatever a
 * node sends, the gateway keeps serving.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { type Gateway, startGateway } from '../../src/gateway/gateway.js';
import { DEFAULT_MAX_AWAITING_HELLO } from '../../src/network/node-hub.js';
import { PRE_HELLO_FRAME_BYTES } from '../../src/network/node-route.js';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { decodeResultFrame, encodeResultFrame } from '../../src/protocol/result-frame.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import type { Base64Image } from '../../src/util/base64-image.js';
import { toJsonBuffer } from '../../src/util/json-buffer.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(overrides: Parameters<typeof resolveGatewayConfig>[0] = {}, logger = pino({ level: 'silent' })): Promise<Gateway> {
  const config = resolveGatewayConfig({ port: 0, host: '127.0.0.1', dataDir: ':memory:', ...overrides });
  const g = await startGateway(config, logger);
  gateways.push(g);
  return g;
}

function hello(overrides: Record<string, unknown> = {}) {
  return {
    type: 'hello', protocol: PROTOCOL_VERSION, name: 'raw-node', token: null, nodeKey: 'raw-node-key-0123456789abcdefghijklmnop', agent: 'test', slots: 1,
    capabilities: makeCapabilities(), backendUp: true, backendProblem: null, loadedModel: null, draining: false, measured: null, ...overrides,
  };
}

interface Conversation {
  socket: WebSocket;
  frames: any[];
  closed: Promise<{ code: number; reason: string }>;
  next(): Promise<any>;
}

async function connect(g: Gateway, options: WebSocket.ClientOptions = {}): Promise<Conversation> {
  const socket = new WebSocket(`${g.url.replace('http', 'ws')}/api/node/ws`, options);
  const frames: any[] = [];
  const waiting: ((frame: any) => void)[] = [];
  socket.on('message', (data) => {
    // ws hands a frame over as one Buffer (binaryType 'nodebuffer', the default).
    const frame = JSON.parse((data as Buffer).toString('utf8'));
    const waiter = waiting.shift();
    if (waiter) waiter(frame);
    else frames.push(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return { socket, frames, closed, next: () => (frames.length ? Promise.resolve(frames.shift()) : new Promise((r) => waiting.push(r))) };
}

async function healthy(g: Gateway): Promise<void> {
  const response = await fetch(`${g.url}/api/health`);
  expect(response.status).toBe(200);
}

describe('admission', () => {
  it('welcomes a loopback node when the gateway has no token', async () => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello()));
    const welcome = await c.next();
    expect(welcome).toMatchObject({ type: 'welcome', protocol: PROTOCOL_VERSION, nodeId: expect.stringMatching(/^raw-node-[0-9a-f]{6}$/) });
    expect(g.hub.sessions.size).toBe(1);
    c.socket.close();
  });

  it('takes the speed a node reports as a first estimate of it', async () => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello({ measured: { unitsPerSecond: 33, switchSeconds: 5 } })));
    await c.next();
    expect(g.dispatcher.scheduler.estimates.get('raw-node')).toMatchObject({ unitsPerSecond: 33, switchSeconds: 5 });
    c.socket.close();
  });

  it('refuses a wrong token and a missing one when the gateway has a token', async () => {
    const g = await gateway({ nodeToken: 'sesame-open-1234' });
    for (const token of ['wrong-token-000', null]) {
      const c = await connect(g);
      c.socket.send(JSON.stringify(hello({ token })));
      expect(await c.next()).toMatchObject({ type: 'reject', error: 'DAN_ERR_NODE_UNAUTHORIZED' });
      expect((await c.closed).code).toBe(4001);
    }
    const ok = await connect(g);
    ok.socket.send(JSON.stringify(hello({ token: 'sesame-open-1234' })));
    expect((await ok.next()).type).toBe('welcome');
    ok.socket.close();
  });

  it('refuses a node speaking another protocol version', async () => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello({ protocol: PROTOCOL_VERSION + 1 })));
    expect(await c.next()).toMatchObject({ type: 'reject', error: 'DAN_ERR_NODE_PROTOCOL' });
    expect((await c.closed).code).toBe(4002);
  });

  it('refuses a remote node when the gateway has no token', async () => {
    const g = await gateway();
    const sent: string[] = [];
    const fake = Object.assign(new (await import('node:events')).EventEmitter(), {
      readyState: 1, OPEN: 1, send: (data: string) => sent.push(data), close: () => undefined, terminate: () => undefined,
    });
    g.hub.accept(fake as unknown as WebSocket, '203.0.113.7');
    fake.emit('message', Buffer.from(JSON.stringify(hello())), false);
    expect(JSON.parse(sent[0]!)).toMatchObject({ type: 'reject', error: 'DAN_ERR_NODE_UNAUTHORIZED' });
    expect(g.hub.sessions.size).toBe(0);
  });
});

describe('connections refused before the upgrade', () => {
  /** The HTTP answer to a WebSocket upgrade the gateway refuses: status and error envelope. */
  function refusal(g: Gateway, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${g.url.replace('http', 'ws')}/api/node/ws`, options);
      socket.on('unexpected-response', (_request, response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      socket.on('open', () => reject(new Error('the gateway accepted the connection')));
    });
  }

  it('refuses a WebSocket from a web page (it carries an Origin header), token or not', async () => {
    const g = await gateway();
    const answer = await refusal(g, { origin: 'http://evil.example' });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: 'DAN_ERR_NODE_ORIGIN', code: 1000 });
    expect(answer.body.message).toContain('http://evil.example');
    expect(g.hub.awaitingHello).toBe(0);
    // A node agent sends no Origin: admitted as before.
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello()));
    expect(await c.next()).toMatchObject({ type: 'welcome' });
  });

  it('refuses more connections that have not said hello than it lets wait, says so in its log once, and takes them again once one goes', async () => {
    const lines: { msg: string }[] = [];
    const g = await gateway({}, pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) }));
    const silent = await Promise.all(Array.from({ length: DEFAULT_MAX_AWAITING_HELLO }, () => connect(g)));
    expect(g.hub.awaitingHello).toBe(DEFAULT_MAX_AWAITING_HELLO);
    const answer = await refusal(g);
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ error: 'DAN_ERR_NODE_CONNECTIONS', code: 2000 });
    expect((await refusal(g)).status).toBe(503);
    expect(lines.filter((l) => l.msg.startsWith('refusing node connections: as many are open without a hello'))).toHaveLength(1);
    // One says hello (a real node), one goes away: room for two more.
    silent[0]!.socket.send(JSON.stringify(hello()));
    expect(await silent[0]!.next()).toMatchObject({ type: 'welcome' });
    silent[1]!.socket.close();
    await silent[1]!.closed;
    await expect.poll(() => g.hub.awaitingHello).toBe(DEFAULT_MAX_AWAITING_HELLO - 2);
    const again = await connect(g);
    again.socket.send(JSON.stringify(hello({ name: 'late-node' })));
    expect(await again.next()).toMatchObject({ type: 'welcome' });
    for (const c of silent.slice(2)) c.socket.close();
  });
});

describe('frames that break the protocol close only that node', () => {
  it.each([
    ['text that is not JSON', 'hello?'],
    ['a frame before hello', JSON.stringify({ type: 'heartbeat', backendUp: true, backendProblem: null, loadedModel: null })],
    ['a hello with a wrong field type', JSON.stringify(hello({ slots: 'one' }))],
    ['an unknown message type', JSON.stringify({ type: 'launch-missiles' })],
  ])('%s', async (_name, frame) => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(frame);
    expect((await c.closed).code).toBe(1002);
    await healthy(g);
  });

  it('garbage after a good hello drops the session', async () => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello()));
    await c.next();
    c.socket.send(JSON.stringify({ type: 'result', taskId: 'x', result: { kind: 'images', images: 42 } }));
    expect((await c.closed).code).toBe(1002);
    expect(g.hub.sessions.size).toBe(0);
    await healthy(g);
  });

  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  const resultFrame = (images: Buffer[], imageBytes = images.map((i) => i.length)) => {
    const header = Buffer.from(JSON.stringify({ type: 'result', taskId: 't', attempt: 1, result: { kind: 'images', imageBytes, seeds: [1] }, loadedModel: null, elapsedMs: 1 }));
    const prefix = Buffer.alloc(8);
    prefix.write('DAN1', 0, 'latin1');
    prefix.writeUInt32BE(header.length, 4);
    return Buffer.concat([prefix, header, ...images]);
  };

  it.each([
    ['a binary frame that is not a result frame', Buffer.from([1, 2, 3])],
    ['a result frame whose header length runs past the end', Buffer.concat([Buffer.from('DAN1', 'latin1'), Buffer.from([0, 0, 9, 0]), Buffer.from('{}')])],
    ['a result frame announcing more image bytes than it carries', resultFrame([png], [png.length + 10])],
    ['a result frame whose image is not an image', resultFrame([Buffer.from('definitely not a picture')])],
  ])('%s', async (_name, frame) => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello()));
    await c.next();
    c.socket.send(frame);
    expect((await c.closed).code).toBe(1002);
    await healthy(g);
  });

  it('a well-formed result frame decodes to images held as bytes, serialized as base64', () => {
    const message = decodeResultFrame(resultFrame([png, png]));
    expect(message.result.kind === 'images' && message.result.images.map((i) => (i as Base64Image).bytes)).toEqual([png, png]);
    const asJson = JSON.parse(toJsonBuffer(message).toString('utf8'));
    expect(asJson.result).toEqual({ kind: 'images', images: [png.toString('base64'), png.toString('base64')], seeds: [1] });
    expect(JSON.parse(JSON.stringify(message))).toEqual(asJson);
    expect(JSON.parse(toJsonBuffer(decodeResultFrame(encodeResultFrame(asJson))).toString('utf8'))).toEqual(asJson);
  });

  it('an oversized frame', async () => {
    const g = await gateway({ maxFrameBytes: 64 * 1024 });
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello({ agent: 'x'.repeat(100 * 1024) })));
    expect((await c.closed).code).toBe(1009);
    await healthy(g);
  });

  it('a large frame before hello: closed as it starts (1009), though results of that size are allowed after a hello', async () => {
    const g = await gateway();
    const silent = await connect(g);
    silent.socket.send(Buffer.alloc(PRE_HELLO_FRAME_BYTES + 1));
    expect((await silent.closed).code).toBe(1009);
    const node = await connect(g);
    node.socket.send(JSON.stringify(hello()));
    expect(await node.next()).toMatchObject({ type: 'welcome' });
    // After the hello, a frame of that size is read in full (and refused for what it is: not a result frame).
    node.socket.send(Buffer.alloc(PRE_HELLO_FRAME_BYTES + 1));
    expect((await node.closed).code).toBe(1002);
    await healthy(g);
  });

  it('a result for a task the node was never given: the node is disconnected', async () => {
    const g = await gateway();
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello()));
    await c.next();
    c.socket.send(encodeResultFrame({ type: 'result', taskId: 'not-mine', attempt: 1, result: { kind: 'caption', caption: 'x' }, loadedModel: null, elapsedMs: 1 }));
    expect(await c.closed).toEqual({ code: 1002, reason: 'sent a result for task not-mine, which it was never given' });
    expect(g.hub.sessions.size).toBe(0);
    await healthy(g);
  });

  it('a node that falls silent is dropped after three heartbeat intervals', async () => {
    const g = await gateway({ heartbeatIntervalMs: 100 });
    const c = await connect(g);
    c.socket.send(JSON.stringify(hello()));
    await c.next();
    await c.closed;
    expect(g.hub.sessions.size).toBe(0);
  });
});
