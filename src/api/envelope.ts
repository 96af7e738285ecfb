/**
 * @module api/envelope
 *
 * The response envelope of the DAN API. Success: HTTP 200
 * `{code: 200, data, message: "success"}`. Failure: a non-200 status with
 * `{code, error, message}` — `code` is the original deployment's numeric
 * family, `error` the stable DAN_ERR_* id, `message` what is wrong and how to
 * fix it, plus `field` when one request field is at fault.
 */
import type { ErrorId } from '../errors/catalog.js';
import type { DanError } from '../errors/dan-error.js';
import { errorAnswers } from './error-answers.js';

export interface SuccessBody<T> {
  code: 200;
  data: T;
  message: 'success';
}

export interface ErrorBody {
  code: number;
  error: ErrorId;
  message: string;
  field?: string;
  taskId?: string;
}

export function success<T>(data: T): SuccessBody<T> {
  return { code: 200, data, message: 'success' };
}

export function errorBodyOf(error: DanError, extra: { taskId?: string } = {}): ErrorBody {
  const body: ErrorBody = { code: errorAnswers[error.id].code, error: error.id, message: error.message };
  if (error.field !== undefined) body.field = error.field;
  if (extra.taskId !== undefined) body.taskId = extra.taskId;
  return body;
}
