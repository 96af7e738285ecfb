/**
 * @module api/routes/webhook-routes
 *
 * `GET /api/webhooks/deliveries`: the caller's webhook delivery log, newest
 * first: where each went, how many tries, the last answer or error, and when
 * the next try is due.
 */
import type { FastifyInstance } from 'fastify';
import type { DeliveryStore } from '../../webhooks/delivery-store.js';
import { success } from '../envelope.js';

const LOG_LENGTH = 100;

export function registerDeliveryLog(app: FastifyInstance, deliveries: DeliveryStore): void {
  app.get('/api/webhooks/deliveries', async (request) => {
    // An anonymous caller has no webhooks (they need a key's secret): its log is empty.
    const owned = request.caller.key === null ? [] : await deliveries.listFor(request.caller.owner, LOG_LENGTH);
    return success(owned.map(({ owner: _owner, ...delivery }) => delivery));
  });
}
