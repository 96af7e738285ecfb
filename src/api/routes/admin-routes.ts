/**
 * @module api/routes/admin-routes
 *
 * `/api/admin/*`: the operator's API, behind the admin token (`--admin-token`).
 * Keys: list, create (the answer holds the secret, once), read, change, revoke.
 * Node tokens: list, create, revoke (its nodes are disconnected).
 * Off when no admin token is configured; never open to browser pages (no CORS).
 */
import type { FastifyInstance } from 'fastify';
import { nodeTokenInfoOf } from '../../auth/api-key.js';
import type { KeyAdmin } from '../../auth/key-admin.js';
import { DanError } from '../../errors/dan-error.js';
import { adminTokenCheck } from '../auth.js';
import { success } from '../envelope.js';
import { parseKeySettings, parseNodeTokenSettings } from '../requests/key-settings-request.js';

export interface AdminRoutesDeps {
  keys: KeyAdmin;
  /** null: the admin API is off. */
  adminToken: string | null;
}

export const ADMIN_PREFIX = '/api/admin';

export async function registerAdminRoutes(app: FastifyInstance, deps: AdminRoutesDeps): Promise<void> {
  await app.register(async (admin) => {
    // Never open to browser pages: no CORS headers on any admin route, and a preflight of its own (more
    // specific than the catch-all OPTIONS route of api/cors.ts) that grants nothing.
    admin.addHook('onRoute', (route) => {
      route.config = { ...route.config, cors: false };
    });
    admin.options('/*', async (_request, reply) => reply.code(204).send());
    const check = adminTokenCheck(deps.adminToken);
    admin.addHook('onRequest', async (request) => {
      const standing = check(request);
      if (standing === 'off') throw new DanError('DAN_ERR_AUTH_ADMIN_OFF', 'the admin API is off: the gateway was started without --admin-token');
      if (standing === 'wrong') throw new DanError('DAN_ERR_AUTH_ADMIN_TOKEN', 'the admin API needs Authorization: Bearer <admin token>; the token sent is missing or wrong');
    });
    admin.get('/keys', async () => success(await deps.keys.list()));
    admin.post('/keys', async (request) => {
      const created = await deps.keys.create(parseKeySettings(request.body));
      return success({ ...created.key, secret: created.secret });
    });
    admin.get<{ Params: { id: string } }>('/keys/:id', async (request) => success(await deps.keys.get(request.params.id)));
    admin.patch<{ Params: { id: string } }>('/keys/:id', async (request) => success(await deps.keys.set(request.params.id, parseKeySettings(request.body))));
    admin.delete<{ Params: { id: string } }>('/keys/:id', async (request) => success(await deps.keys.revoke(request.params.id)));
    admin.get('/node-tokens', async () => success((await deps.keys.list('node')).map(nodeTokenInfoOf)));
    admin.post('/node-tokens', async (request) => {
      const { name } = parseNodeTokenSettings(request.body);
      const created = await deps.keys.create({ name }, 'node');
      return success({ ...nodeTokenInfoOf(created.key), secret: created.secret });
    });
    admin.delete<{ Params: { id: string } }>('/node-tokens/:id', async (request) => success(nodeTokenInfoOf(await deps.keys.revoke(request.params.id, 'node'))));
  }, { prefix: ADMIN_PREFIX });
}
