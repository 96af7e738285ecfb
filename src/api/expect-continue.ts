/**
 * @module api/expect-continue
 *
 * `Expect: 100-continue` answered only once a request has passed the checks made before its body is read: its
 * key (api/auth.ts), its rate limits, its address's share of bodies on their way (api/address-limits.ts), its
 * declared length against the body limit. Node answers `100 Continue` the moment the headers arrive unless
 * the server listens for `checkContinue`, so a client that asked first (curl does for bodies over 1 MB: an
 * img2img upload) was told to send tens of MB that the gateway then refused unread with a 401, 413 or 429.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** Requests told `100 Continue`. */
const told = new WeakSet<IncomingMessage>();

/**
 * Whether a request's client waits to be told before it sends its body, and was not told: it sends nothing
 * (curl sends after a second anyway, by which time the answer has come), so an answer need not wait for it.
 */
export function waitsToBeTold(request: IncomingMessage): boolean {
  return asksFirst(request) && !told.has(request);
}

function asksFirst(request: IncomingMessage): boolean {
  return request.headers.expect?.toLowerCase() === '100-continue';
}

export function continueAfterChecks(app: FastifyInstance): void {
  // With a listener, Node leaves the interim answer to the server: the request goes on as any other.
  app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response));
  // After the onRequest hooks (those that refuse a request refuse it before this runs), before the body is read.
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (asksFirst(request.raw) && !reply.raw.headersSent && fitsBodyLimit(request.headers['content-length'], request.routeOptions.bodyLimit)) {
      reply.raw.writeContinue();
      told.add(request.raw);
    }
    done(null, payload);
  });
}

/** Whether a declared length is within the route's limit (a body over it is refused unread: no reason to send it). */
function fitsBodyLimit(length: string | undefined, limit: number | undefined): boolean {
  if (length === undefined || limit === undefined) return true;
  const bytes = Number(length);
  return !Number.isFinite(bytes) || bytes <= limit;
}
