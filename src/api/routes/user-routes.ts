/**
 * @module api/routes/user-routes
 *
 * `/api/user/public-api-key`: the key anonymous clients use (the original
 * deployment's example clients fetch it before every run).
 */
import type { FastifyInstance } from 'fastify';
import { success } from '../envelope.js';

export function registerUserRoutes(app: FastifyInstance, deps: { publicApiKey: string }): void {
  app.get('/api/user/public-api-key', async () => success({ apiKey: deps.publicApiKey }));
}
