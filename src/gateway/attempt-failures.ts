/**
 * @module gateway/attempt-failures
 *
 * What a failed attempt says, by its error id: whether another attempt may
 * succeed (the catalog's `retryable`, decided here, whatever the node that
 * failed claims), and whom it blames (scheduler/node-health.ts):
 *
 * - `node`: the node's connection dropped while it ran the task, or it gave no
 *   answer within the attempt's timeout (three times the time its measured
 *   speed makes for, plus 30 s): that says how the node is doing, so it
 *   counts against the node, once per task.
 * - `node-or-task`: the WebUI failed or answered garbage. A broken node does
 *   that, and so does a request its WebUI cannot take (an image it cannot
 *   decode): it counts against the node unless the task fails the same way on
 *   another node too; then the task is at fault (and fails at once).
 * - `none`: the WebUI refused the request as invalid, the node was stopping,
 *   the node agent hit a bug, the WebUI went unreachable (the node reports
 *   that itself and gets no work while it lasts).
 */
import { type ErrorId, errorCatalog } from '../errors/catalog.js';
import { isErrorId } from '../errors/dan-error.js';
import type { AttemptFailure } from '../scheduler/scheduler.js';

const BLAME: Partial<Record<ErrorId, AttemptFailure['blame']>> = {
  DAN_ERR_NODE_LOST: 'node',
  DAN_ERR_BACKEND_FAILED: 'node-or-task',
  DAN_ERR_BACKEND_BAD_RESPONSE: 'node-or-task',
  DAN_ERR_TASK_TIMEOUT: 'node',
};

export interface AttemptError {
  id: ErrorId;
  message: string;
}

/** A failure frame's error as the gateway takes it: an id it does not know is the WebUI failing. */
export function toAttemptError(error: string, message: string): AttemptError {
  return { id: isErrorId(error) ? error : 'DAN_ERR_BACKEND_FAILED', message };
}

export function isRetryable(error: AttemptError): boolean {
  return errorCatalog[error.id].retryable;
}

export function toAttemptFailure(error: AttemptError): AttemptFailure {
  return { kind: error.id, reason: error.message, blame: BLAME[error.id] ?? 'none' };
}
