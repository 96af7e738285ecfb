/**
 * Node tokens and node identity against a real gateway (in-memory store) and
 * hand-driven WebSocket clients: a node token per owner admits that owner's
 * nodes; revoking it disconnects them; an API key never admits a node; with a
 * token configured, loopback is no longer enough; and a node is known by its
 * token and its key, not by the name it sends.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { type Gateway, startGateway } from '../../src/gateway/gateway.js';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { makeCapabilities } from '../helpers/capabilities.js';

const gateways: Gateway[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.terminate());
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(overrides: Parameters<typeof resolveGatewayConfig>[0] = {}, parts: Parameters<typeof startGateway>[2] = {}): Promise<Gateway> {
  const g = await startGateway(resolveGatewayConfig({ port: 0, host: '127.0.0.1', dataDir: ':memory:', ...overrides }), pino({ level: 'silent' }), parts);
  gateways.push(g);
  return g;
}

const KEY_A = 'node-key-a-0123456789abcdefghijklmnopqrstuv';
const KEY_B = 'node-key-b-0123456789abcdefghijklmnopqrstuv';

/** Says hello with `token` and `nodeKey`; resolves with the first frame back and the close that may follow. */
async function join(g: Gateway, token: string | null, options: { name?: string; nodeKey?: string } = {}) {
  const socket = new WebSocket(`${g.url.replace('http', 'ws')}/api/node/ws`);
  sockets.push(socket);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const first = new Promise<any>((resolve) => socket.once('message', (data) => resolve(JSON.parse((data as Buffer).toString()))));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({
    type: 'hello', protocol: PROTOCOL_VERSION, name: options.name ?? 'gpu', token, nodeKey: options.nodeKey ?? KEY_A, agent: 'test', slots: 1,
    capabilities: makeCapabilities(), backendUp: true, backendProblem: null, loadedModel: null, draining: false, measured: null,
  }));
  return { first: await first, closed };
}

describe('node tokens', () => {
  it('admit their owner\'s nodes, known by the token; a node without one is refused, loopback or not', async () => {
    const g = await gateway();
    const { key, secret } = await g.keys.create({ name: 'alice' }, 'node');
    expect(secret).toMatch(/^dnt-[A-Za-z0-9]{48}$/);
    const { first } = await join(g, secret);
    expect(first).toMatchObject({ type: 'welcome' });
    const session = [...g.hub.sessions.values()][0]!;
    expect(session).toMatchObject({ tokenId: key.id, identity: expect.stringMatching(new RegExp(`^${key.id}/gpu/[0-9a-f]{16}$`)) });

    const refused = await join(g, null);
    expect(refused.first).toMatchObject({ type: 'reject', error: 'DAN_ERR_NODE_UNAUTHORIZED', message: expect.stringContaining('node token only') });
    expect((await refused.closed).code).toBe(4001);
  });

  it('refuses an API key as a node token, and a made-up token', async () => {
    const g = await gateway();
    await g.keys.create({ name: 'alice' }, 'node');
    const apiKey = (await g.keys.create({ name: 'app' })).secret;
    for (const [token, what] of [[apiKey, 'this is an API key (sk-…), not a node token'], ['dnt-made-up', 'this gateway knows no such node token']] as const) {
      const { first } = await join(g, token);
      expect(first).toMatchObject({ type: 'reject', error: 'DAN_ERR_NODE_UNAUTHORIZED', message: `wrong node token: ${what}; ask the operator for one (dan nodes token create --name <you>)` });
      expect(first.message).not.toContain(token);
    }
    expect(g.hub.sessions.size).toBe(0);
  });

  it('names the gateway\'s shared token in the refusal of a wrong one, when it has one', async () => {
    const g = await gateway({ nodeToken: 'shared-secret-1' });
    const { first } = await join(g, 'shared-secret-2');
    expect(first).toMatchObject({ type: 'reject', error: 'DAN_ERR_NODE_UNAUTHORIZED', message: expect.stringMatching(/ask the operator for the gateway's shared node token \(its --node-token\), or one of your own/) });
  });

  it('disconnects a revoked token\'s nodes at once and refuses them after; other tokens\' nodes stay', async () => {
    const g = await gateway();
    const alice = await g.keys.create({ name: 'alice' }, 'node');
    const bob = await g.keys.create({ name: 'bob' }, 'node');
    const aliceNode = await join(g, alice.secret, { name: 'alice-gpu' });
    await join(g, bob.secret, { name: 'bob-gpu' });
    expect(g.hub.sessions.size).toBe(2);
    await g.keys.revoke(alice.key.id, 'node');
    expect(await aliceNode.closed).toEqual({ code: 4001, reason: 'its node token was revoked' });
    expect([...g.hub.sessions.values()].map((s) => s.name)).toEqual(['bob-gpu']);
    const again = await join(g, alice.secret, { name: 'alice-gpu' });
    expect(again.first).toMatchObject({ type: 'reject', message: expect.stringContaining('revoked') });
  });

  it('disconnect a node of this machine that joined without a token once the first token is made', async () => {
    const g = await gateway();
    const local = await join(g, null, { name: 'local-gpu' });
    expect(local.first).toMatchObject({ type: 'welcome' });
    const alice = await g.keys.create({ name: 'alice' }, 'node');
    expect(await local.closed).toEqual({ code: 4001, reason: expect.stringContaining('takes nodes with a node token only') });
    expect(g.hub.sessions.size).toBe(0);
    expect((await join(g, alice.secret)).first).toMatchObject({ type: 'welcome' });
  });

  it('leave the gateway\'s own node (dan start, dan demo) in, joined with the process\'s own secret, before and after the first token', async () => {
    const g = await gateway({}, { ownNodeToken: 'own-secret-of-this-process' });
    const own = await join(g, 'own-secret-of-this-process', { name: 'own-gpu' });
    expect(own.first).toMatchObject({ type: 'welcome' });
    await g.keys.create({ name: 'alice' }, 'node');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([...g.hub.sessions.values()].map((s) => s.name)).toEqual(['own-gpu']);
    expect((await join(g, 'own-secret-of-this-process', { name: 'own-again', nodeKey: KEY_B })).first).toMatchObject({ type: 'welcome' });
    expect((await join(g, null, { name: 'other' })).first).toMatchObject({ type: 'reject' });
  });

  it('keep the shared --node-token working beside them', async () => {
    const g = await gateway({ nodeToken: 'shared-token-123' });
    await g.keys.create({ name: 'alice' }, 'node');
    expect((await join(g, 'shared-token-123')).first).toMatchObject({ type: 'welcome' });
    expect([...g.hub.sessions.values()][0]!.identity).toMatch(/^shared\/gpu\//);
  });
});

describe('node identity', () => {
  it('tells apart two nodes of one name by the key each keeps', async () => {
    const g = await gateway();
    await join(g, null, { name: 'gpu', nodeKey: KEY_A });
    await join(g, null, { name: 'gpu', nodeKey: KEY_B });
    const identities = [...g.hub.sessions.values()].map((s) => s.identity);
    expect(identities).toHaveLength(2);
    expect(new Set(identities).size).toBe(2);
    for (const identity of identities) {
      expect(identity).toMatch(/^local\/gpu\/[0-9a-f]{16}$/);
      expect(identity).not.toContain(KEY_A);
    }
  });
});
