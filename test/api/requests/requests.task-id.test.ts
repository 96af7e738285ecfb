import { describe, expect, it } from 'vitest';
import { parseTaskIdRequest } from '../../../src/api/requests/index.js';
import { expectRejected } from './expect-error.js';

describe('parseTaskIdRequest', () => {
  it('returns a UUID task id', () => {
    expect(parseTaskIdRequest({ taskId: '803f1804-c79b-4c33-afd2-0d054076dea9' })).toBe('803f1804-c79b-4c33-afd2-0d054076dea9');
  });

  it('accepts 64 characters and rejects 65', async () => {
    expect(parseTaskIdRequest({ taskId: 'a'.repeat(64) })).toHaveLength(64);
    await expectRejected(() => parseTaskIdRequest({ taskId: 'a'.repeat(65) }), { field: 'taskId', message: ['at most 64 characters'] });
  });

  it.each([
    [{}, /is required/],
    [{ taskId: null }, /is required/],
    [{ taskId: '' }, /must not be empty/],
    [{ taskId: 'abc/../x' }, /letters, digits and dashes only/],
    [{ taskId: 'abc def' }, /letters, digits and dashes only/],
    [{ taskId: 42 }, /must be a string, got 42/],
  ])('rejects %j', async (body, message) => {
    await expectRejected(() => parseTaskIdRequest(body), { field: 'taskId', message: [message] });
  });

  it('rejects other fields and non-object bodies', async () => {
    await expectRejected(() => parseTaskIdRequest({ taskid: 'x' }), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'taskid', message: ['did you mean "taskId"?'] });
    await expectRejected(() => parseTaskIdRequest('803f1804'), { field: 'body' });
  });
});
