/**
 * @module errors/dan-error
 *
 * The one error type that crosses layers. It carries a catalog id; transports
 * map the id to their own form (HTTP status, protocol failure frame). Errors
 * are classified by `id`, never by `instanceof`, because they cross process
 * boundaries as plain `{ code, message }` data.
 */
import { type ErrorId, errorCatalog } from './catalog.js';

export interface DanErrorOptions {
  /** The request field at fault, as a dotted path (`control_net[0].weight`). */
  field?: string;
  cause?: unknown;
}

export class DanError extends Error {
  override readonly name = 'DanError';
  readonly id: ErrorId;
  readonly field: string | undefined;

  constructor(id: ErrorId, message: string, options: DanErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.id = id;
    this.field = options.field;
  }

  get retryable(): boolean {
    return errorCatalog[this.id].retryable;
  }
}

/** A field-level validation error: `field: what is wrong`. */
export function invalidField(field: string, problem: string): DanError {
  return new DanError('DAN_ERR_REQUEST_INVALID_FIELD', `${field}: ${problem}`, { field });
}

export function isErrorId(value: unknown): value is ErrorId {
  return typeof value === 'string' && Object.hasOwn(errorCatalog, value);
}

/**
 * Normalises anything thrown into a DanError, keeping the original as `cause`.
 * What is not a DanError is a bug of whoever caught it: `DAN_ERR_INTERNAL` in
 * the gateway, `DAN_ERR_NODE_INTERNAL` in the node agent.
 */
export function toDanError(error: unknown, unexpected: 'DAN_ERR_INTERNAL' | 'DAN_ERR_NODE_INTERNAL' = 'DAN_ERR_INTERNAL'): DanError {
  if (error instanceof DanError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new DanError(unexpected, message, { cause: error });
}
