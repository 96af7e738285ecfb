/**
 * Where a webhook may go. The address check runs on what the host name
 * resolves to at the moment of sending, and the connection goes to the address
 * checked, so a name that resolves to a private address (DNS rebinding, or
 * simply `localhost`) is refused before any connection. A real receiver on
 * loopback tells whether anything reached it.
 */
import { getEventListeners } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { isPrivateAddress } from '../../src/webhooks/address-policy.js';
import { sendWebhook } from '../../src/webhooks/webhook-sender.js';

let server: Server | undefined;
let hits = 0;

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  hits = 0;
});

async function receiver(answer: (response: ServerResponse) => void): Promise<number> {
  server = createServer((request, response) => {
    hits += 1;
    request.resume();
    request.on('end', () => answer(response));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const body = Buffer.from('{"type":"task.succeeded"}');

describe('isPrivateAddress', () => {
  it.each(['::127.0.0.1', 'fec0::1', '64:ff9b:1::a00:1', '2002:7f00:1::1', '127.0.0.1', '10.0.0.5', '172.16.9.9', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12::3', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not an ip'])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
});

describe('sendWebhook', () => {
  it('leaves nothing on the shutdown signal it shares with every other try once a try ends (it would keep the try\'s body alive)', async () => {
    const port = await receiver((response) => response.writeHead(hits % 2 === 0 ? 200 : 500).end());
    const shutdown = new AbortController();
    for (let i = 0; i < 20; i++) await sendWebhook(`http://127.0.0.1:${port}/hook`, {}, body, { allowPrivate: true, signal: shutdown.signal });
    expect(hits).toBe(20);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });

  it('refuses a name that resolves to a private address before connecting, and names the address', async () => {
    const port = await receiver((response) => response.writeHead(200).end());
    const result = await sendWebhook(`http://localhost:${port}/hook`, {}, body, { allowPrivate: false });
    expect(result).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/^localhost resolves to (127\.0\.0\.1|::1), a private or local address/) });
    expect(hits).toBe(0);
  });

  it('refuses a private address written as one, and delivers where the operator allows private addresses', async () => {
    const port = await receiver((response) => response.writeHead(204).end());
    expect(await sendWebhook(`http://127.0.0.1:${port}/hook`, {}, body, { allowPrivate: false })).toMatchObject({ ok: false, error: expect.stringContaining('private or local address') });
    expect(hits).toBe(0);
    expect(await sendWebhook(`http://localhost:${port}/hook`, {}, body, { allowPrivate: true })).toEqual({ ok: true, status: 204, error: null });
    expect(hits).toBe(1);
  });

  it('does not follow a redirect: a 3xx is a failed try', async () => {
    const port = await receiver((response) => response.writeHead(302, { location: 'http://169.254.169.254/' }).end());
    expect(await sendWebhook(`http://127.0.0.1:${port}/hook`, {}, body, { allowPrivate: true })).toEqual({ ok: false, status: 302, error: 'the receiver answered 302' });
    expect(hits).toBe(1);
  });

  it('gives up on a receiver that drips its answer slower than the deadline, though the socket never goes quiet', async () => {
    let drip: NodeJS.Timeout | undefined;
    const port = await receiver((response) => {
      response.writeHead(200);
      drip = setInterval(() => response.write('.'), 50);
    });
    const started = Date.now();
    const result = await sendWebhook(`http://127.0.0.1:${port}/hook`, {}, body, { allowPrivate: true, timeoutMs: 400 });
    clearInterval(drip);
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('no complete answer within') });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const port = await receiver(() => undefined);
    const result = await sendWebhook(`http://127.0.0.1:${port}/hook`, {}, body, { allowPrivate: true, timeoutMs: 200 });
    expect(result).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/no (complete )?answer within/) });
  });
});
