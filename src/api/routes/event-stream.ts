/**
 * @module api/routes/event-stream
 *
 * Opening an answer as Server-Sent Events, for the routes that stream (the task
 * event stream, the OpenAI door's `stream: true`): Fastify lets go of the reply,
 * and the stream's headers go out at once with those set so far.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** Takes the answer over from Fastify and sends the headers of an event stream (and `headers`); the raw response to write events to. */
export function openEventStream(reply: FastifyReply, headers: Record<string, string> = {}): ServerResponse {
  reply.hijack();
  const raw = reply.raw;
  // Headers set so far (CORS, rate limits, the task ids) go out with the stream's own.
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers proxied answers unless told not to.
    'x-accel-buffering': 'no',
    ...headers,
  });
  raw.flushHeaders();
  return raw;
}
