/**
 * @module api/routes/user-routes
 *
 * What a caller may ask about itself: `/api/user/public-api-key`, the key
 * anonymous clients use (the original deployment's example clients fetch it
 * before every run), and `/api/keys/me`, the caller's own limits, usage and
 * webhook secret.
 */
import type { FastifyInstance } from 'fastify';
import { keyInfoOf } from '../../auth/api-key.js';
import type { AuthMode } from '../../auth/caller.js';
import { DanError } from '../../errors/dan-error.js';
import { success } from '../envelope.js';

export interface UserRoutesDeps {
  publicApiKey: string;
  authMode: AuthMode;
  /** Unfinished tasks of an owner now. */
  unfinishedOf(owner: string): number;
}

/** Outside the caller context: anyone may ask for the public key (unless the gateway takes none). */
export function registerPublicKeyRoute(app: FastifyInstance, deps: UserRoutesDeps): void {
  app.get('/api/user/public-api-key', async () => {
    if (deps.authMode === 'required') {
      throw new DanError('DAN_ERR_AUTH_KEY_REQUIRED', 'this gateway has no public API key: every request needs a key of your own; ask the operator for one');
    }
    return success({ apiKey: deps.publicApiKey });
  });
}

/** Inside the caller context (api/auth.ts). */
export function registerCallerRoutes(app: FastifyInstance, deps: UserRoutesDeps): void {
  app.get('/api/keys/me', async (request, reply) => {
    const { caller } = request;
    const remaining = reply.getHeader('ratelimit-remaining');
    return success({
      key: caller.key ? keyInfoOf(caller.key) : null,
      anonymous: caller.key === null,
      limits: caller.limits,
      usage: {
        unfinishedTasks: deps.unfinishedOf(caller.owner),
        requestsLeftThisMinute: remaining === undefined ? null : Number(remaining),
      },
    });
  });
}
