/**
 * @module sandbox/http-errors
 *
 * The two error shapes an A1111 server answers with (backends.md A.9):
 * - FastAPI's validation shape, `422 {"detail":[{loc, msg, type}]}`, for bodies
 *   pydantic refuses. Checks the sandbox makes on top of the real API use the same
 *   shape with `type: "value_error.sandbox_strict"`, so a reader sees at once
 *   that the real WebUI would have accepted (and probably mishandled) the request.
 * - A1111's exception middleware shape, `{"error","detail","body","errors"}`,
 *   for everything raised while handling the request.
 */

export type Loc = (string | number)[];

export interface FieldError {
  loc: Loc;
  msg: string;
  type: string;
  ctx?: Record<string, unknown>;
}

/** Marks checks the real WebUI does not make. */
export const STRICT_ERROR_TYPE = 'value_error.sandbox_strict';

/** A refused request body: FastAPI's 422. */
export class BodyValidationError extends Error {
  readonly statusCode = 422;
  readonly detail: FieldError[];

  constructor(detail: FieldError[]) {
    super(detail.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('; '));
    this.name = 'BodyValidationError';
    this.detail = detail;
  }
}

/** One sandbox-only refusal at `loc`, e.g. an unknown checkpoint override. */
export function strictError(loc: Loc, msg: string): BodyValidationError {
  return new BodyValidationError([{ loc, msg, type: STRICT_ERROR_TYPE }]);
}

/** An exception as A1111's `api_middleware.handle_exception` reports it. */
export class A1111Error extends Error {
  readonly statusCode: number;
  readonly errorName: string;
  readonly detail: string;

  constructor(statusCode: number, errorName: string, detail: string, message: string) {
    super(message);
    this.name = 'A1111Error';
    this.statusCode = statusCode;
    this.errorName = errorName;
    this.detail = detail;
  }

  toJSON(): Record<string, string> {
    return { error: this.errorName, detail: this.detail, body: '', errors: this.message };
  }
}

/** FastAPI/Starlette `HTTPException(status, detail)`; `str(e)` is "<status>: <detail>". */
export function httpException(statusCode: number, detail: string): A1111Error {
  return new A1111Error(statusCode, 'HTTPException', detail, `${statusCode}: ${detail}`);
}

/** A plain Python exception escaping the handler: 500 with an empty detail. */
export function pythonException(errorName: string, message: string): A1111Error {
  return new A1111Error(500, errorName, '', message);
}

export const invalidEncodedImage = (): A1111Error => httpException(500, 'Invalid encoded image');
