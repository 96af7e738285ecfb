/** Runs a parse and returns the DanError it threw, failing the test if it did not throw one. */
import { expect } from 'vitest';
import type { ErrorId } from '../../../src/errors/catalog.js';
import { DanError } from '../../../src/errors/dan-error.js';

export async function danErrorOf(run: () => unknown): Promise<DanError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(DanError);
    return error as DanError;
  }
  throw new Error('expected a DanError, but parsing succeeded');
}

/** Asserts the error id, the field it names and that the message contains each part. */
export async function expectRejected(
  run: () => unknown,
  expected: { id?: ErrorId; field?: string; message?: readonly (string | RegExp)[] },
): Promise<DanError> {
  const error = await danErrorOf(run);
  expect(error.id).toBe(expected.id ?? 'DAN_ERR_REQUEST_INVALID_FIELD');
  if (expected.field !== undefined) {
    expect(error.field).toBe(expected.field);
    expect(error.message.startsWith(`${expected.field}: `)).toBe(true);
  }
  for (const part of expected.message ?? []) expect(error.message).toMatch(part);
  return error;
}
