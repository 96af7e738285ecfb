/**
 * @module api/address-limits
 *
 * What one client address may hold of the gateway at once, so that one stranger cannot take it down for
 * everyone (the rate limits of api/auth.ts count requests, not what a request holds while it lasts):
 *
 * - **Connections.** Each socket holds a file descriptor, of which the process has a few thousand, and an
 *   idle one or one whose headers trickle in lasts up to the request timeout. A peer address may have
 *   `maxConnectionsPerAddress` open; one more is closed at once. Loopback peers are not counted (a reverse
 *   proxy in front, local nodes and tools), nor any peer when the gateway is told of a proxy (`trustProxy`:
 *   every connection then comes from it, and limiting connections is its job).
 * - **Request bodies on their way.** A body is read into memory whole before it is parsed, and one that
 *   never finishes is memory held until the request timeout. A caller's address (the client's, through a
 *   trusted proxy) may have `BODIES_PER_ADDRESS` bodies' worth of the body limit on its way at once (429):
 *   counted from what each request declares (`Content-Length`; a body without one, the whole limit), until
 *   it has arrived or its request or answer ended.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DanError } from '../errors/dan-error.js';
import type { Logger } from '../util/logger.js';
import { isLoopback } from '../util/loopback.js';

/** Bodies' worth of the body limit one address may have on its way at once. */
export const BODIES_PER_ADDRESS = 4;
/** An address refused connections is said so at most this often. */
const SAY_AGAIN_MS = 60_000;

export interface AddressLimitsOptions {
  /** Sockets one peer address may hold open; 0: no limit. */
  maxConnectionsPerAddress: number;
  /** The largest request body (`--body-limit-mb`), in bytes. */
  bodyLimitBytes: number;
  /** Whether a proxy in front tells the client's address: connections then all come from it. */
  behindProxy: boolean;
  log: Logger;
  /** Whether loopback addresses are left alone (tests of these limits say no). @defaultValue true */
  exemptLoopback?: boolean;
}

/**
 * Who an address is, for counting: an IPv4 address itself, an IPv6 one by its /64 (one host commonly has a
 * whole /64 to pick addresses from; counted apart, each of them would have a share of its own).
 */
export function holderOf(address: string): string {
  if (address.includes('.') || !address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Closes a peer's connections beyond the limit as they come (see the module's comment). */
export function limitConnections(server: Server, options: AddressLimitsOptions): void {
  const max = options.maxConnectionsPerAddress;
  if (max <= 0 || options.behindProxy) return;
  const exemptLoopback = options.exemptLoopback ?? true;
  const open = new Map<string, number>();
  /** When each address was last said to be refused: once a minute each, not once per connection. */
  const saidAt = new Map<string, number>();
  server.prependListener('connection', (socket: Socket) => {
    const peer = socket.remoteAddress;
    if (peer === undefined || (exemptLoopback && isLoopback(peer))) return;
    const address = holderOf(peer);
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      const now = Date.now();
      if (now - (saidAt.get(address) ?? 0) >= SAY_AGAIN_MS) {
        if (saidAt.size >= 1024) saidAt.clear();
        saidAt.set(address, now);
        options.log.warn({ remoteAddress: address, open: max }, `refusing connections from ${address}: it holds ${max} open, the most one address may (--max-connections-per-address)`);
      }
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/**
 * Says, at most once a minute, that the server cannot accept connections (out of file descriptors, most
 * often): clients then hang with nothing in the log to tell the operator why.
 */
export function reportAcceptErrors(server: Server, log: Logger): void {
  let saidAt = 0;
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall !== 'accept') return;
    const now = Date.now();
    if (now - saidAt < SAY_AGAIN_MS) return;
    saidAt = now;
    const fds = error.code === 'EMFILE' || error.code === 'ENFILE' ? ': out of file descriptors; raise the limit (ulimit -n, systemd LimitNOFILE) or lower --max-connections-per-address' : '';
    log.error({ err: error.message, code: error.code }, `the gateway cannot accept connections${fds}`);
  });
}

/**
 * Refuses a request whose body would take its caller's address past its share of bodies on their way (see the
 * module's comment). Only per address: a budget of all callers together would let a few addresses that open
 * uploads and send nothing refuse everyone else (a cheap denial of service), while memory needs bodies that
 * actually arrive, which the per-address share and the connection cap bound.
 */
export function limitBodiesInFlight(app: FastifyInstance, options: AddressLimitsOptions): void {
  const perAddress = BODIES_PER_ADDRESS * options.bodyLimitBytes;
  const exemptLoopback = options.exemptLoopback ?? true;
  const byAddress = new Map<string, number>();
  app.addHook('onRequest', (request, reply, done) => {
    const bytes = declaredBodyBytes(request, options.bodyLimitBytes);
    if (bytes === 0) return done();
    // Behind a trusted proxy the client's own address (the proxy's is everyone's), and a client that claims to
    // be on loopback shares that one; else the socket's peer, loopback left alone (a proxy, local tools).
    const peer = options.behindProxy ? request.ip : (request.socket.remoteAddress ?? request.ip);
    if (!options.behindProxy && exemptLoopback && isLoopback(peer)) return done();
    const address = holderOf(peer);
    const mine = byAddress.get(address) ?? 0;
    if (mine + bytes > perAddress) {
      return done(new DanError('DAN_ERR_RATE_LIMITED', `${mebibytes(mine)} MiB of request bodies are on their way from this address, and this one would take it past ${mebibytes(perAddress)} MiB; send it once they have arrived`));
    }
    byAddress.set(address, mine + bytes);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (byAddress.get(address) ?? bytes) - bytes;
      if (left <= 0) byAddress.delete(address);
      else byAddress.set(address, left);
    };
    // No longer on its way once it arrived whole, or its request or its answer ended (an answer given before the
    // body was read, then the client gone: the request itself may never say more).
    request.raw.once('end', release);
    request.raw.once('close', release);
    reply.raw.once('close', release);
    done();
  });
}

/** What a request says its body will be, within the limit; 0 for a request without one (a GET, an upgrade). */
function declaredBodyBytes(request: FastifyRequest, limit: number): number {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS' || request.headers.upgrade !== undefined) return 0;
  const length = request.headers['content-length'];
  if (length !== undefined) {
    const bytes = Number(length);
    return Number.isFinite(bytes) && bytes > 0 ? Math.min(bytes, limit) : 0;
  }
  return request.headers['transfer-encoding'] === undefined ? 0 : limit;
}

function mebibytes(bytes: number): string {
  return (bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0);
}
