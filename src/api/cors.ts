/**
 * @module api/cors
 *
 * CORS for browser clients: a page's script may call the API from the origins
 * configured (any, by default: the API is meant for strangers' apps; keys, not
 * origins, say who may do what). Never the admin API (its routes set
 * `config.cors = false`), preflights included. The node endpoint refuses
 * every browser (node-route.ts), whatever this allows.
 *
 * The long list of exposed headers goes only to requests that carry `Origin`:
 * a browser sends it with every cross-origin request, and other clients (SDKs,
 * scripts, curl) have no use for it. Written here rather than with
 * @fastify/cors: that plugin set both headers on every answer, which cost a
 * client and the gateway 5 % of their time per status request (BENCHMARKS.md,
 * requests per second).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DanError } from '../errors/dan-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: this route answers no browser page (no CORS headers, no preflight). */
    cors?: false;
  }
}

/** Headers a page's script may read from an answer. */
const EXPOSED = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after', 'x-task-id', 'idempotent-replayed', 'preference-applied'].join(', ');
/** Headers a page's script may send. */
const ALLOWED = ['content-type', 'authorization', 'idempotency-key', 'last-event-id', 'prefer'].join(', ');
const METHODS = 'GET, POST';
/** How long a browser may keep a preflight's answer. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * Sends CORS headers to the origins allowed: `'*'` any page, or a list of origins
 * (`https://app.example`). A preflight (OPTIONS with `Access-Control-Request-Method`) from an
 * allowed origin is answered 204 here, one from another origin 403 `DAN_ERR_CORS_ORIGIN`; any other
 * OPTIONS is a 405 or 404.
 */
export function registerCors(app: FastifyInstance, origins: '*' | readonly string[]): void {
  const anyOrigin = origins === '*';
  const allowed = new Set(anyOrigin ? [] : origins);
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (request.routeOptions.config?.cors === false) return done();
    const origin = request.headers.origin;
    // Caches must not give one origin's answer to another: with a list the answer depends on the Origin
    // sent, and with any origin every answer allows every page (a cached one included), only the exposed
    // headers going to browsers alone.
    if (anyOrigin) reply.header('access-control-allow-origin', '*');
    else reply.header('vary', 'Origin');
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (origin !== undefined && !anyOrigin && !allowed.has(origin) && preflight) {
      // Said plainly to whoever debugs it (the browser only reports a failed preflight): not a 405.
      return done(new DanError('DAN_ERR_CORS_ORIGIN', `pages of ${origin} may not call this API: the gateway allows ${[...allowed].join(', ')} (--cors-origin)`));
    }
    if (origin === undefined || (!anyOrigin && !allowed.has(origin))) return done();
    if (!anyOrigin) reply.header('access-control-allow-origin', origin);
    reply.header('access-control-expose-headers', EXPOSED);
    if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return done();
    // A preflight: answered here, before routing to a handler. Safari needs Content-Length on a 204.
    void reply
      .code(204)
      .header('access-control-allow-methods', METHODS)
      .header('access-control-allow-headers', ALLOWED)
      .header('access-control-max-age', PREFLIGHT_MAX_AGE_S)
      .header('content-length', '0')
      .send();
  });
  // Every path takes a preflight; an OPTIONS that is not one (or from an origin not allowed) goes to the
  // not-found handler: a 405 naming the methods a path takes, or a 404.
  app.options('*', (_request, reply) => {
    reply.callNotFound();
  });
}
