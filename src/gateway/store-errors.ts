/**
 * @module gateway/store-errors
 *
 * Which errors of the task store are worth trying again: a storage failure
 * (`DAN_ERR_STORE_UNAVAILABLE`, the TaskStore contract) passes when the disk or
 * the database is back; anything else is a bug that would fail the same way
 * forever, so it is logged and not retried.
 */
import { DanError } from '../errors/dan-error.js';

export function isStoreUnavailable(error: unknown): boolean {
  return error instanceof DanError && error.id === 'DAN_ERR_STORE_UNAVAILABLE';
}
