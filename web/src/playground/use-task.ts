/**
 * One task of the playground from submit to end: submitted async, then
 * followed over its event stream (queue position, ETA, progress, live
 * previews), cancellable, and ended with its images, caption or failure. The
 * running task is kept in this browser (kept-task.ts): after a reload the view
 * follows it again, and its result still reaches the gallery.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, cancelTask, followTask, getJson, submitTask, type TaskFollower } from '../api/client';
import type { TaskKind, TaskStatus } from '../api/types';
import { forgetTask, keepTask, keptTask } from './kept-task';
import { firstUnreadNumber, NOT_A_NUMBER } from './typed-numbers';

export type Phase = 'idle' | 'submitting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskRun {
  phase: Phase;
  status: TaskStatus | null;
  /** The latest live preview (base64), while running. */
  preview: string | null;
  /** The API's refusal of the submit (a field at fault, a limit) or of a cancel. */
  refusal: ApiError | null;
  /** The gateway cannot be reached now: what the task does is unknown until it answers again. */
  unreachable: boolean;
}

const IDLE: TaskRun = { phase: 'idle', status: null, preview: null, refusal: null, unreachable: false };
const PHASES: Record<TaskStatus['status'], Phase> = { 0: 'queued', 1: 'running', 2: 'succeeded', 3: 'failed', 4: 'cancelled' };

export function isActive(phase: Phase): boolean {
  return phase === 'submitting' || phase === 'queued' || phase === 'running';
}

/**
 * `view`: the view's name, under which its running task is kept. `onEnd`: the task ended (succeeded,
 * failed or cancelled), with `body`, the request that made it (without its images when the task was
 * picked up after a reload).
 */
export function useTask(view: string, onEnd: (status: TaskStatus, body: Record<string, unknown>) => void) {
  const [run, setRun] = useState<TaskRun>(IDLE);
  const follower = useRef<TaskFollower | null>(null);
  const ended = useRef(onEnd);
  ended.current = onEnd;
  useEffect(() => {
    // A task this view left running (the page was reloaded or closed): followed again, from where it is now.
    const kept = keptTask(view);
    if (kept) {
      setRun({ ...IDLE, phase: 'queued' });
      follow(kept.taskId, kept.params);
    }
    return () => follower.current?.close();
  }, []);

  async function start(kind: TaskKind, body: Record<string, unknown>): Promise<void> {
    follower.current?.close();
    // A number field left empty or garbled would go as null, which the API takes for its default: refused here, on that field.
    const unread = firstUnreadNumber(body);
    if (unread !== null) {
      refuse(unread, NOT_A_NUMBER);
      return;
    }
    setRun({ ...IDLE, phase: 'submitting' });
    let first: TaskStatus;
    try {
      first = await submitTask(kind, body);
    } catch (error) {
      setRun({ ...IDLE, refusal: error instanceof ApiError ? error : new ApiError(String(error), 0, null, null) });
      return;
    }
    keepTask(view, first.taskId, kind, body);
    setRun({ ...IDLE, phase: PHASES[first.status], status: first });
    follow(first.taskId, body);
  }

  function end(taskId: string, status: TaskStatus, body: Record<string, unknown>): void {
    forgetTask(view, taskId);
    setRun({ ...IDLE, phase: PHASES[status.status], status });
    ended.current(status, body);
  }

  function follow(taskId: string, body: Record<string, unknown>): void {
    follower.current = followTask(taskId, {
      onStatus: (status) => setRun((current) => ({ ...current, phase: PHASES[status.status], status, unreachable: false })),
      onPreview: (image) => setRun((current) => (current.phase === 'running' ? { ...current, preview: image } : current)),
      onEnd: (status) => end(taskId, status, body),
      onReachable: (reachable) => setRun((current) => (current.unreachable === !reachable ? current : { ...current, unreachable: !reachable })),
      // The stream is gone (refused on reconnect, say by a rate limit); the task may run on: its status is polled.
      onLost: () => pollUntilEnded(taskId, body),
    });
  }

  const POLL_MS = 2000;
  function pollUntilEnded(taskId: string, body: Record<string, unknown>): void {
    let stopped = false;
    follower.current = { close: () => (stopped = true) };
    const poll = async () => {
      if (stopped) return;
      try {
        const status = await getJson<TaskStatus>(`/api/sd/task/${encodeURIComponent(taskId)}`);
        if (stopped) return;
        if (status.status >= 2) {
          end(taskId, status, body);
          return;
        }
        setRun((current) => ({ ...current, phase: PHASES[status.status], status, unreachable: false }));
      } catch (error) {
        // A task the gateway no longer knows ends here; any other error (a 429, a restart) is waited out.
        if (error instanceof ApiError && error.error === 'DAN_ERR_TASK_NOT_FOUND') {
          forgetTask(view, taskId);
          setRun((current) => ({ ...current, phase: 'failed', refusal: error, unreachable: false }));
          return;
        }
        if (error instanceof ApiError && error.status === 0) setRun((current) => ({ ...current, unreachable: true }));
      }
      setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
  }

  /** A refusal the form makes itself, before anything is sent: shown as the API's would be; `error`: its id, if any. */
  function refuse(field: string, message: string, error: string | null = null): void {
    follower.current?.close();
    setRun({ ...IDLE, refusal: new ApiError(message, 0, error, field) });
  }

  async function cancel(): Promise<void> {
    const taskId = run.status?.taskId;
    if (!taskId) return;
    try {
      // The stream tells the end (status 4) as for any other.
      await cancelTask(taskId);
    } catch (error) {
      // Too late (it ended meanwhile): the stream tells how it ended.
      if (error instanceof ApiError && error.error === 'DAN_ERR_TASK_NOT_CANCELLABLE') return;
      setRun((current) => ({ ...current, refusal: error instanceof ApiError ? error : new ApiError(String(error), 0, null, null) }));
    }
  }

  return { run, start, cancel, refuse };
}
