/**
 * @module api/routes/client-gone
 *
 * A sync request's wait ends when its client hangs up: the task goes on, and
 * nobody is left to answer.
 */
import type { FastifyReply } from 'fastify';

/** Aborts when the client hangs up before the answer is sent. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
