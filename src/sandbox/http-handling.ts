/**
 * @module sandbox/http-handling
 *
 * FastAPI's edges, reproduced: any body is parsed as JSON, and one that does
 * not parse is a 422 `value_error.jsondecode`; unknown routes answer
 * `{"detail":"Not Found"}`; every error leaves as A1111's JSON (A.9), so no
 * input can crash the server or produce a Fastify-shaped error.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { A1111Error, BodyValidationError, pythonException } from './http-errors.js';

/** Requests carry base64 images; A1111 sets no limit, 256 MiB is plenty for tests. */
export const BODY_LIMIT_BYTES = 256 * 1024 * 1024;

export function registerHttpHandling(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(toJsonDecodeError(text, error as Error), undefined);
    }
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ detail: 'Not Found' }));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof BodyValidationError) return reply.code(422).send({ detail: error.detail });
    if (error instanceof A1111Error) return reply.code(error.statusCode).send(error.toJSON());
    const status = error.statusCode ?? 500;
    if (status < 500) return reply.code(status).send({ detail: error.message });
    request.log.error({ err: error }, 'sandbox: unexpected error');
    return reply.code(500).send(pythonException(error.name, error.message).toJSON());
  });
}

/** Python's `json.JSONDecodeError` as FastAPI reports it: `loc ["body", pos]`. */
function toJsonDecodeError(text: string, error: Error): BodyValidationError {
  const pos = Number(/position (\d+)/.exec(error.message)?.[1] ?? 0);
  const before = text.slice(0, pos);
  const lineno = before.split('\n').length;
  const colno = pos - before.lastIndexOf('\n');
  return new BodyValidationError([
    {
      loc: ['body', pos],
      msg: `Expecting value: line ${lineno} column ${colno} (char ${pos})`,
      type: 'value_error.jsondecode',
      ctx: { msg: 'Expecting value', pos, lineno, colno },
    },
  ]);
}
