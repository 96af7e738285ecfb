/**
 * The gateway's HTTP API from the browser: JSON in and out, refusals as
 * `ApiError` (with the field at fault), and a task followed to its end over its
 * Server-Sent Events stream.
 */
import { EventSource } from 'eventsource';
import { keyHeaders } from './api-key';
import type { Envelope, TaskKind, TaskStatus } from './types';

/** A refusal or failure the API answered: its error id, message and, when one field is at fault, the field. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly error: string | null,
    readonly field: string | null,
  ) {
    super(message);
  }
}

/** Refusals of the caller's key, in the page's words: a user of the page sets a key there, not in a header. */
const KEY_REFUSALS: Readonly<Record<string, string>> = {
  DAN_ERR_AUTH_KEY_REQUIRED: 'This gateway serves only callers with an API key: enter yours under “No API key” at the top of the page.',
  DAN_ERR_AUTH_KEY_INVALID: 'The API key kept in this browser is not one this gateway knows (mistyped or revoked): change it, or forget it, under “API key” at the top of the page.',
};

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    const headers = new Headers({ ...keyHeaders(), ...(init.headers as Record<string, string> | undefined) });
    headers.set('accept', 'application/json');
    if (init.body) headers.set('content-type', 'application/json');
    response = await fetch(path, { ...init, headers });
  } catch {
    throw new ApiError('the gateway cannot be reached; is it running?', 0, null, null);
  }
  let body: Envelope<T>;
  try {
    body = (await response.json()) as Envelope<T>;
  } catch {
    throw new ApiError(`the gateway answered ${response.status} without JSON`, response.status, null, null);
  }
  if (body.code !== 200 || body.data === undefined) throw new ApiError(KEY_REFUSALS[body.error ?? ''] ?? body.message, response.status, body.error ?? null, body.field ?? null);
  return body.data;
}

export const getJson = <T>(path: string): Promise<T> => call<T>(path);
export const postJson = <T>(path: string, body: unknown): Promise<T> => call<T>(path, { method: 'POST', body: JSON.stringify(body) });

/** Submits a task without waiting for it: the answer is its first status (queue position and ETA). */
export const submitTask = (kind: TaskKind, body: unknown): Promise<TaskStatus> => postJson<TaskStatus>(`/api/sd/${kind}/async`, body);
export const cancelTask = (taskId: string): Promise<TaskStatus> => postJson<TaskStatus>('/api/sd/task/cancel', { taskId });

export interface TaskFollower {
  close(): void;
}

interface FollowHandlers {
  onStatus: (status: TaskStatus) => void;
  onPreview: (image: string) => void;
  onEnd: (status: TaskStatus) => void;
  /** The gateway could not be reached (false) while the stream reconnects, or answers again (true). */
  onReachable: (reachable: boolean) => void;
  /** The gateway refused the stream: the caller polls instead. */
  onLost: () => void;
}

/**
 * Follows a task over `GET /api/sd/task/{id}/events`: `onStatus` at each change (queue position,
 * ETA, progress), `onPreview` with the backend's live preview, `onEnd` once with the final status.
 * EventSource reconnects by itself after a dropped connection, resuming from the last event; while the
 * gateway cannot be reached, `onReachable(false)` says so (the last status shown would be stale).
 */
export function followTask(taskId: string, handlers: FollowHandlers): TaskFollower {
  // The eventsource package rather than the browser's own: that one cannot send the API key.
  const source = new EventSource(`/api/sd/task/${encodeURIComponent(taskId)}/events`, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...keyHeaders() } }),
  });
  let ended = false;
  source.addEventListener('status', (event) => handlers.onStatus(JSON.parse((event as MessageEvent<string>).data) as TaskStatus));
  source.addEventListener('preview', (event) => handlers.onPreview((JSON.parse((event as MessageEvent<string>).data) as { image: string }).image));
  source.addEventListener('end', (event) => {
    ended = true;
    source.close();
    handlers.onEnd(JSON.parse((event as MessageEvent<string>).data) as TaskStatus);
  });
  source.addEventListener('open', () => handlers.onReachable(true));
  source.addEventListener('error', (event) => {
    if (ended) return;
    // CLOSED: the gateway refused the stream (the task is not found); otherwise EventSource retries.
    if (source.readyState === EventSource.CLOSED) handlers.onLost();
    // A request that failed (a message, no HTTP code) rather than a stream the gateway ended: it is not there.
    else if ((event as ErrorEvent).message && (event as { code?: number }).code === undefined) handlers.onReachable(false);
  });
  return { close: () => source.close() };
}
