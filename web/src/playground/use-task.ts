/**
 * One task of the playground from submit to end: submitted async, then
 * followed over its event stream (queue position, ETA, progress, live
 * previews), cancellable, and ended with its images, caption or failure.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, cancelTask, followTask, getJson, submitTask, type TaskFollower } from '../api/client';
import type { TaskKind, TaskStatus } from '../api/types';
import { firstUnreadNumber, NOT_A_NUMBER } from './typed-numbers';

export type Phase = 'idle' | 'submitting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskRun {
  phase: Phase;
  status: TaskStatus | null;
  /** The latest live preview (base64), while running. */
  preview: string | null;
  /** The API's refusal of the submit (a field at fault, a limit) or of a cancel. */
  refusal: ApiError | null;
}

const IDLE: TaskRun = { phase: 'idle', status: null, preview: null, refusal: null };
const PHASES: Record<TaskStatus['status'], Phase> = { 0: 'queued', 1: 'running', 2: 'succeeded', 3: 'failed', 4: 'cancelled' };

export function isActive(phase: Phase): boolean {
  return phase === 'submitting' || phase === 'queued' || phase === 'running';
}

/** `onEnd`: the task ended (succeeded, failed or cancelled), with `body`, the request that made it. */
export function useTask(onEnd: (status: TaskStatus, body: Record<string, unknown>) => void) {
  const [run, setRun] = useState<TaskRun>(IDLE);
  const follower = useRef<TaskFollower | null>(null);
  const ended = useRef(onEnd);
  ended.current = onEnd;
  useEffect(() => () => follower.current?.close(), []);

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
    setRun({ ...IDLE, phase: PHASES[first.status], status: first });
    follower.current = followTask(first.taskId, {
      onStatus: (status) => setRun((current) => ({ ...current, phase: PHASES[status.status], status })),
      onPreview: (image) => setRun((current) => (current.phase === 'running' ? { ...current, preview: image } : current)),
      onEnd: (status) => {
        setRun({ ...IDLE, phase: PHASES[status.status], status });
        ended.current(status, body);
      },
      // The stream is gone (refused on reconnect, say by a rate limit); the task may run on: its status is polled.
      onLost: () => pollUntilEnded(first.taskId, body),
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
          setRun({ ...IDLE, phase: PHASES[status.status], status });
          ended.current(status, body);
          return;
        }
        setRun((current) => ({ ...current, phase: PHASES[status.status], status }));
      } catch (error) {
        // A task the gateway no longer knows ends here; any other error (a 429, a restart) is waited out.
        if (error instanceof ApiError && error.error === 'DAN_ERR_TASK_NOT_FOUND') {
          setRun((current) => ({ ...current, phase: 'failed', refusal: error }));
          return;
        }
      }
      setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
  }

  /** A refusal the form makes itself, before anything is sent: shown as the API's would be. */
  function refuse(field: string, message: string): void {
    follower.current?.close();
    setRun({ ...IDLE, refusal: new ApiError(message, 0, null, field) });
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
