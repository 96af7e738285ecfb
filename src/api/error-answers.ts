/**
 * @module api/error-answers
 *
 * How each error of the catalog (errors/catalog.ts) is answered over HTTP: its
 * status, and `code`, the numeric family of the original deployment that its
 * clients read (1000 permission, 2000 resource unavailable, 3000 invalid
 * argument, 3002 too many tasks, 4001 node error, 4002 cancelled). The
 * `satisfies` makes the compiler refuse a catalog id without an answer.
 */
import type { ErrorId } from '../errors/catalog.js';

export interface ErrorAnswer {
  /** HTTP status. */
  status: number;
  /** The original deployment's numeric family, in the envelope's `code`. */
  code: number;
}

export const errorAnswers = {
  DAN_ERR_REQUEST_INVALID_JSON: { status: 400, code: 3000 },
  DAN_ERR_REQUEST_INVALID_FIELD: { status: 400, code: 3000 },
  DAN_ERR_REQUEST_UNKNOWN_FIELD: { status: 400, code: 3000 },
  DAN_ERR_REQUEST_INVALID_IMAGE: { status: 400, code: 3000 },
  DAN_ERR_REQUEST_TOO_LARGE: { status: 413, code: 3000 },
  DAN_ERR_REQUEST_UNSUPPORTED_MEDIA: { status: 415, code: 3000 },
  DAN_ERR_ROUTE_NOT_FOUND: { status: 404, code: 404 },
  DAN_ERR_REQUEST_TIMEOUT: { status: 408, code: 3000 },
  DAN_ERR_METHOD_NOT_ALLOWED: { status: 405, code: 3000 },
  DAN_ERR_CORS_ORIGIN: { status: 403, code: 1000 },
  DAN_ERR_TASK_NOT_FOUND: { status: 404, code: 3000 },
  DAN_ERR_GATEWAY_STOPPING: { status: 503, code: 2000 },
  DAN_ERR_MODEL_NOT_FOUND: { status: 404, code: 3000 },
  DAN_ERR_TASK_UNSERVABLE: { status: 503, code: 2000 },
  DAN_ERR_TASK_LIMIT: { status: 429, code: 3002 },
  DAN_ERR_TASK_CANCELLED: { status: 409, code: 4002 },
  DAN_ERR_TASK_NOT_CANCELLABLE: { status: 409, code: 3000 },
  DAN_ERR_TASK_FAILED: { status: 502, code: 4001 },
  DAN_ERR_TASK_ATTEMPTS_EXHAUSTED: { status: 502, code: 4001 },
  DAN_ERR_TASK_TIMEOUT: { status: 504, code: 4001 },
  DAN_ERR_WAIT_TIMEOUT: { status: 504, code: 4001 },
  DAN_ERR_IDEMPOTENCY_MISMATCH: { status: 422, code: 3000 },
  DAN_ERR_AUTH_KEY_REQUIRED: { status: 401, code: 1000 },
  DAN_ERR_AUTH_KEY_INVALID: { status: 401, code: 1000 },
  DAN_ERR_AUTH_ADMIN_TOKEN: { status: 401, code: 1000 },
  DAN_ERR_AUTH_ADMIN_OFF: { status: 403, code: 1000 },
  DAN_ERR_RATE_LIMITED: { status: 429, code: 3002 },
  DAN_ERR_KEY_NOT_ALLOWED: { status: 403, code: 1000 },
  DAN_ERR_KEY_NOT_FOUND: { status: 404, code: 3000 },
  DAN_ERR_NODE_LOST: { status: 502, code: 4001 },
  DAN_ERR_NODE_DRAINING: { status: 502, code: 4001 },
  DAN_ERR_NODE_PROTOCOL: { status: 502, code: 4001 },
  DAN_ERR_NODE_UNAUTHORIZED: { status: 401, code: 1000 },
  DAN_ERR_NODE_ORIGIN: { status: 403, code: 1000 },
  DAN_ERR_NODE_CONNECTIONS: { status: 503, code: 2000 },
  DAN_ERR_NODE_LOOP: { status: 508, code: 4001 },
  DAN_ERR_BACKEND_UNREACHABLE: { status: 502, code: 4001 },
  DAN_ERR_BACKEND_REJECTED: { status: 502, code: 4001 },
  DAN_ERR_BACKEND_FAILED: { status: 502, code: 4001 },
  DAN_ERR_BACKEND_BAD_RESPONSE: { status: 502, code: 4001 },
  DAN_ERR_NODE_INTERNAL: { status: 502, code: 4001 },
  DAN_ERR_STORE_UNAVAILABLE: { status: 503, code: 2000 },
  DAN_ERR_INTERNAL: { status: 500, code: 500 },
} as const satisfies Record<ErrorId, ErrorAnswer>;

export function httpStatusOf(id: ErrorId): number {
  return errorAnswers[id].status;
}
