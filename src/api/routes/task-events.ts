/**
 * @module api/routes/task-events
 *
 * `GET /api/sd/task/{taskId}/events`: a task's life as Server-Sent Events, so
 * a client follows it without polling.
 *
 * - `status`: the task's status document (as `/api/sd/task/status` answers it) whenever it changes:
 *   queue position and ETA while queued (looked at every second), start, progress while running.
 * - `preview`: `{taskId, image}`, the backend's live preview of the image being made (base64), where the
 *   backend gives one (A1111 with live previews on; the node asks for one every 2 s).
 * - `end`: the final status document (images, caption, or the error), after which the stream closes.
 * - A comment line every 15 s keeps proxies from closing a quiet stream.
 *
 * Every event has an id. A client that reconnects with `Last-Event-ID` (EventSource does it by itself)
 * gets the current status at once unless it already had it, and a stream asked for after its `end`
 * answers 204, which tells EventSource to stop reconnecting. The stream is the task's owner's only,
 * like its status (404 for anyone else), and ends with an `error` event (the error envelope) when its
 * key is revoked meanwhile.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TaskService } from '../../gateway/task-service.js';
import type { TaskView } from '../../gateway/task-view.js';
import { DanError } from '../../errors/dan-error.js';
import { toJsonBuffer } from '../../util/json-buffer.js';
import { parseTaskIdRequest } from '../requests/index.js';
import { errorBodyOf } from '../envelope.js';
import { openEventStream } from './event-stream.js';

export interface TaskEventsOptions {
  service: TaskService;
  /** Whether the key of a keyed caller is revoked (or gone) now: its open streams end, as its next request is refused. */
  keyRevoked?: (keyId: string) => boolean;
  /** How often a queued task's position and ETA are looked at. @defaultValue 1 s */
  pollMs?: number;
  /** How often a quiet stream gets a keep-alive comment. @defaultValue 15 s */
  heartbeatMs?: number;
}

/** The id of a stream's last event: a client that saw it has seen everything. */
const END_ID = 'end';
const FINAL_STATUSES = new Set([2, 3, 4]);

/** A status event's id: a digest of what it says, so a status the client already has is not sent again. */
function eventIdOf(view: TaskView): string {
  const said = `${view.status}/${view.queuePosition}/${view.eta ?? ''}/${view.progress ?? ''}/${view.message ?? ''}`;
  return createHash('sha256').update(said).digest('base64url').slice(0, 16);
}

/** Streams one caller may hold open at once: each costs a socket and a look at its task every second. */
export const MAX_STREAMS_PER_CALLER = 16;
/** A client that lets this much of its stream pile up unread gets no previews; twice this, no stream. */
const BACKLOG_SKIP_PREVIEWS = 1024 * 1024;

export function registerTaskEvents(app: FastifyInstance, options: TaskEventsOptions): void {
  const open = new Map<string, number>();
  app.get<{ Params: { taskId: string } }>('/api/sd/task/:taskId/events', (request, reply) => streamTask(request, reply, options, open));
}

async function streamTask(request: FastifyRequest<{ Params: { taskId: string } }>, reply: FastifyReply, options: TaskEventsOptions, open: Map<string, number>): Promise<void> {
  const { service } = options;
  const taskId = parseTaskIdRequest({ taskId: request.params.taskId });
  const caller = request.caller;
  // Before the stream opens: an unknown or another key's task is an ordinary 404 answer.
  let view = await service.status(taskId, caller);
  const streams = open.get(caller.owner) ?? 0;
  if (streams >= MAX_STREAMS_PER_CALLER) {
    throw new DanError('DAN_ERR_RATE_LIMITED', `${streams} task streams are open for this ${caller.key ? 'API key' : 'address'}, the most allowed; close one (or poll) first`);
  }
  const lastEventId = request.headers['last-event-id'];
  if (lastEventId === END_ID && FINAL_STATUSES.has(view.status)) {
    await reply.code(204).send();
    return;
  }

  const raw = openEventStream(reply, { 'x-task-id': taskId });

  let sent = typeof lastEventId === 'string' ? lastEventId : null;
  let previewSent = 0;
  let closed = false;
  // A change that comes while the loop is busy is kept (`due`), not lost: the loop looks again at once.
  let due = false;
  let wake: (() => void) | null = null;
  const nudge = () => {
    due = true;
    wake?.();
  };
  const unwatch = service.watch(taskId, nudge);
  const poll = setInterval(nudge, options.pollMs ?? 1000);
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
  const stop = () => {
    closed = true;
    nudge();
  };
  raw.once('close', stop);

  const write = (event: string, id: string, data: TaskView) => {
    raw.write(`id: ${id}\nevent: ${event}\ndata: `);
    raw.write(toJsonBuffer(data));
    raw.write('\n\n');
  };

  open.set(caller.owner, (open.get(caller.owner) ?? 0) + 1);
  try {
    for (;;) {
      if (FINAL_STATUSES.has(view.status)) {
        write('end', END_ID, view);
        break;
      }
      // A client that does not read its stream is not held in memory: it is ended.
      if (raw.writableLength > 2 * BACKLOG_SKIP_PREVIEWS) break;
      const id = eventIdOf(view);
      if (id !== sent) {
        write('status', id, view);
        sent = id;
      }
      // Previews carry no id: a client that reconnects resumes from the last status, not from a picture.
      const preview = service.previewOf(taskId);
      if (preview && preview.seq !== previewSent && raw.writableLength < BACKLOG_SKIP_PREVIEWS) {
        raw.write(`event: preview\ndata: {"taskId":"${taskId}","image":"`);
        raw.write(preview.image);
        raw.write('"}\n\n');
        previewSent = preview.seq;
      }
      if (!due) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      due = false;
      if (closed) return;
      if (caller.key && options.keyRevoked?.(caller.key.id)) {
        raw.write(`event: error\ndata: ${JSON.stringify(errorBodyOf(new DanError('DAN_ERR_AUTH_KEY_INVALID', 'the API key of this stream was revoked')))}\n\n`);
        break;
      }
      try {
        view = await service.status(taskId, caller);
      } catch {
        // Expired between two looks (a very short retention): nothing more to tell.
        break;
      }
    }
  } finally {
    const left = (open.get(caller.owner) ?? 1) - 1;
    if (left > 0) open.set(caller.owner, left);
    else open.delete(caller.owner);
    clearInterval(poll);
    clearInterval(heartbeat);
    unwatch();
    raw.off('close', stop);
    if (!raw.writableEnded) raw.end();
  }
}
