/**
 * @module util/logger
 *
 * The logging the gateway's core needs: structured fields first, then the
 * message. pino's logger (and so Fastify's) satisfies it; tests pass a silent
 * or recording one. The core never names a logging library.
 */

type LogFn = (fields: object, message?: string) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
