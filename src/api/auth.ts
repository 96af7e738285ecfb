/**
 * @module api/auth
 *
 * API keys travel in `Authorization`, as `Bearer <key>` or bare (the original
 * deployment's example clients send the bare key). Keys are recorded with each
 * task; checking them and per-key limits come with the API-keys work.
 */
import type { FastifyRequest } from 'fastify';

const MAX_KEY_LENGTH = 256;

export function apiKeyOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const key = header.replace(/^Bearer\s+/i, '').trim();
  return key.length === 0 ? null : key.slice(0, MAX_KEY_LENGTH);
}
