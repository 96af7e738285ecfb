/**
 * @module api/openai/openai-errors
 *
 * Errors under `/v1` in OpenAI's shape, `{error: {message, type, param,
 * code}}`, with the HTTP statuses DAN gives them: the official SDKs raise their
 * typed errors from the status (400 BadRequestError, 401 AuthenticationError,
 * 404 NotFoundError, 429 RateLimitError, 5xx InternalServerError) and show
 * `message` and `param`. `code` is DAN's error id, so the documentation of
 * each (docs/errors.md) applies.
 *
 * The SDK retries 408, 409, 429 and 5xx answers twice by itself. A retried
 * generation runs again (the SDK sends no Idempotency-Key unless told to), so
 * every error answer says `x-should-retry: false` except those where nothing
 * was started: the rate limit, the store being away, a request cut short.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorId } from '../../errors/catalog.js';
import { toDanError } from '../../errors/dan-error.js';
import { httpStatusOf } from '../error-answers.js';
import { clientErrorBodyOf, toAnswerableError } from '../error-handler.js';

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** Errors after which a retry starts nothing twice: the SDK may retry them as it does. */
const SAFE_TO_RETRY = new Set<ErrorId>(['DAN_ERR_RATE_LIMITED', 'DAN_ERR_STORE_UNAVAILABLE', 'DAN_ERR_REQUEST_TIMEOUT']);

function typeOf(status: number, id: ErrorId): string {
  if (status === 401 || status === 403) return id === 'DAN_ERR_AUTH_KEY_REQUIRED' || id === 'DAN_ERR_AUTH_KEY_INVALID' ? 'authentication_error' : 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** `param` as OpenAI names it: DAN's `width`/`height` come from `size`. */
function paramOf(field: string | undefined): string | null {
  if (field === undefined) return null;
  return field === 'width' || field === 'height' ? 'size' : field;
}

/** The OpenAI-shaped body and status of `error`; an operator's error keeps its detail in the log (clientErrorBodyOf). */
export function openAiErrorOf(error: unknown, request: FastifyRequest): { status: number; body: OpenAiErrorBody; retry: boolean } {
  const danError = toDanError(error);
  const status = httpStatusOf(danError.id);
  const { message } = clientErrorBodyOf(danError, error, request);
  return {
    status,
    body: { error: { message, type: typeOf(status, danError.id), param: paramOf(danError.field), code: danError.id } },
    retry: SAFE_TO_RETRY.has(danError.id),
  };
}

export function sendOpenAiError(reply: FastifyReply, request: FastifyRequest, error: unknown): FastifyReply {
  const { status, body, retry } = openAiErrorOf(error, request);
  if (!retry) reply.header('x-should-retry', 'false');
  return reply.code(status).send(body);
}

/** Every error of the routes of `app` (an encapsulated context: `/v1`) in OpenAI's shape. */
export function installOpenAiErrors(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => sendOpenAiError(reply, request, await toAnswerableError(error, request, reply, bodyLimitBytes)));
}
