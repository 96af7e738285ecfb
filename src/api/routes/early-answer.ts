/**
 * @module api/routes/early-answer
 *
 * A sync answer whose status line and headers go out as soon as the task is
 * stored, before the wait, when the client asks for it with the RFC 7240
 * preference `Prefer: early-task-id`. A client that then loses the connection
 * has already read `X-Task-Id` and can poll or follow the task.
 *
 * The price is the status code: it is sent before the outcome is known, so it
 * is 200 whatever happens, and the body's `code` tells the outcome (200 with
 * the images; the error's code, id and message otherwise; 202 when the sync
 * timeout passed first). That is why it is opt-in: a client that reads only
 * the HTTP status would take a failure for a success (decision 0014).
 *
 * While the task waits, a newline goes out every 15 s: JSON allows whitespace
 * before the value, and proxies that close idle connections (often after 60 to
 * 100 s) see a live one.
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The preference token a sync client sends in `Prefer` to get its headers before the wait. */
export const EARLY_TASK_ID = 'early-task-id';
/** How often a waiting early answer sends a newline to keep idle-closing proxies from cutting it. */
export const EARLY_KEEPALIVE_MS = 15_000;

/** Whether the request's `Prefer` headers name `early-task-id` (tokens are case-insensitive; any may carry `=value` or `;params`). */
export function prefersEarlyTaskId(request: FastifyRequest): boolean {
  const header = request.headers['prefer'];
  if (header === undefined) return false;
  return [header]
    .flat()
    .flatMap((value) => value.split(','))
    .some((preference) => preference.split(/[=;]/, 1)[0]!.trim().toLowerCase() === EARLY_TASK_ID);
}

/** An answer already begun: `end` writes its body and closes it. */
export interface EarlyAnswer {
  end(body: unknown): void;
}

/**
 * Sends the reply's status (200) and headers now, with `Preference-Applied`,
 * and keeps the connection alive until `end`. Headers set on `reply` before
 * this call (X-Task-Id, CORS, rate limits) are among them.
 */
export function beginEarlyAnswer(reply: FastifyReply, keepAliveMs = EARLY_KEEPALIVE_MS): EarlyAnswer {
  const body = new PassThrough();
  // `X-Accel-Buffering: no`: nginx would otherwise hold the newlines back, and the idle timeout with them.
  reply.code(200).header('preference-applied', EARLY_TASK_ID).type('application/json; charset=utf-8').header('cache-control', 'no-store').header('x-accel-buffering', 'no');
  void reply.send(body);
  // The first byte sends the status line and headers: Node holds them until the body starts.
  body.write('\n');
  const keepAlive = setInterval(() => body.write('\n'), keepAliveMs);
  keepAlive.unref();
  body.once('close', () => clearInterval(keepAlive));
  return {
    end(value) {
      clearInterval(keepAlive);
      body.end(JSON.stringify(value));
    },
  };
}
