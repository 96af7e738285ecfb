/**
 * What a node says when it cannot connect to the gateway, for the mistakes GPU owners make with TLS:
 * real sockets, the errors Node.js and OpenSSL give, and the hint logged beside them.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { hintFor } from '../../src/node/connection-hints.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

async function listening(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The error of a WebSocket to `url`, as the node's connection meets it. */
function connectionError(url: string): Promise<Error> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.on('error', resolve);
    socket.on('open', () => reject(new Error(`${url} connected`)));
  });
}

describe('a node that cannot connect over TLS', () => {
  it('says the gateway does not speak TLS when given https:// for a plain one', async () => {
    const port = await listening(createHttpServer((_request, response) => response.end()));
    const error = await connectionError(`wss://127.0.0.1:${port}/api/node`);
    expect(hintFor(error).hint).toMatch(/^the gateway does not speak TLS at that address: give it as http:\/\//);
  });

  it('says the certificate is not trusted, and how to trust it', async () => {
    const port = await listening(createHttpsServer({ key: fixture('self-signed.key.pem'), cert: fixture('self-signed.cert.pem') }, (_request, response) => response.end()));
    const error = await connectionError(`wss://127.0.0.1:${port}/api/node`);
    expect(hintFor(error).hint).toMatch(/^the gateway's TLS certificate is not trusted here \(DEPTH_ZERO_SELF_SIGNED_CERT\): give Node.js its authority's certificate with NODE_EXTRA_CA_CERTS/);
  });

  it('says a gateway serving https may have been given as http://', async () => {
    const port = await listening(createHttpsServer({ key: fixture('self-signed.key.pem'), cert: fixture('self-signed.cert.pem') }, (_request, response) => response.end()));
    const error = await connectionError(`ws://127.0.0.1:${port}/api/node`);
    expect(hintFor(error).hint).toMatch(/if the gateway serves https, give it as https:\/\//);
  });

  it('gives no hint it cannot back', () => {
    expect(hintFor(new Error('something else'))).toEqual({});
    // TLS on both sides that cannot agree (a cipher, a protocol version) is not plain HTTP.
    expect(hintFor(Object.assign(new Error('write EPROTO C0D7:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure'), { code: 'EPROTO' }))).toEqual({});
  });
});
