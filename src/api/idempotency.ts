/**
 * @module api/idempotency
 *
 * The `Idempotency-Key` header of submits: a client that retries after a
 * timeout or a dropped connection (the gateway restarted, say) sends the same
 * key, and gets the task its first try made instead of a second one. A key is
 * the owner's (two keys' clients never collide); it names one endpoint and body
 * (hashed in a canonical form, so the order of fields does not matter): the same
 * key with another body is refused (gateway/task-service.ts).
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import stringify from 'safe-stable-stringify';
import { invalidField } from '../errors/dan-error.js';

const HEADER = 'idempotency-key';
/** Printable ASCII, as Stripe and the IETF draft allow; long enough for a UUID or a hash. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key, or undefined without the header; a malformed one is a 400. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers[HEADER];
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header.join(',') : header;
  if (!KEY_PATTERN.test(key)) {
    throw invalidField('Idempotency-Key', 'must be 1 to 255 printable ASCII characters without spaces (a UUID, say)');
  }
  return key;
}

/**
 * The hash that ties a key to its request: the endpoint (`url`'s path) and the body in a canonical form.
 * Not the query string: no submit reads one, and a client's cache buster (`?_=1733…`) differs on every
 * retry. Only for a body its parser took (of bounded depth: a hostile body nested thousands deep would
 * exhaust the stack).
 */
export function requestHashOf(url: string, body: unknown): string {
  const endpoint = url.split('?', 1)[0]!;
  return createHash('sha256').update(endpoint).update('\n').update(stringify(body) ?? '').digest('hex');
}
