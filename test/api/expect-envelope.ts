/** Assertions on the API's envelopes (docs/http-api.md, docs/errors.md) for the route tests. */
import { expect } from 'vitest';
import { errorAnswers } from '../../src/api/error-answers.js';
import type { ErrorId } from '../../src/errors/catalog.js';
import type { Answer } from '../helpers/inject-app.js';

export interface ExpectedError {
  error: ErrorId;
  /** The request field at fault; when absent, the body must have no `field`. */
  field?: string;
  /** The task the error is about; when absent, the body must have no `taskId`. */
  taskId?: string;
  /** Parts the message must contain (strings) or match (regexes). */
  message?: readonly (string | RegExp)[];
}

/**
 * Asserts an error answer: the id's HTTP status and `code` family as docs/errors.md
 * lists them (the literals are written out by the callers, so a wrong table fails too),
 * and nothing in the body but the envelope's fields.
 */
export function expectError(answer: Answer, status: number, code: number, expected: ExpectedError): void {
  expect({ status: answer.status, code: answer.body.code }).toEqual({ status, code });
  expect(errorAnswers[expected.error]).toEqual({ status, code });
  const envelope: Record<string, unknown> = { code, error: expected.error, message: expect.any(String) };
  if (expected.field !== undefined) envelope['field'] = expected.field;
  if (expected.taskId !== undefined) envelope['taskId'] = expected.taskId;
  expect(answer.body).toStrictEqual(envelope);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  for (const part of expected.message ?? []) {
    if (typeof part === 'string') expect(answer.body.message).toContain(part);
    else expect(answer.body.message).toMatch(part);
  }
}

/** Asserts a success answer (HTTP 200, `{code: 200, data, message: "success"}`) and returns its `data`. */
export function dataOf(answer: Answer): any {
  expect(answer.body).toMatchObject({ code: 200, message: 'success' });
  expect(answer.status).toBe(200);
  expect(Object.keys(answer.body).sort()).toEqual(['code', 'data', 'message']);
  return answer.body.data;
}
