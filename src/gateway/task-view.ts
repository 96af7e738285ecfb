/**
 * @module gateway/task-view
 *
 * The task status document of the HTTP API (`/api/sd/task/status`, async
 * submits, sync answers), in the original deployment's shape: `status` 0–3,
 * `queuePosition` 1-based while queued and 0 after, then `images` + `seeds`
 * or `caption`, or a `message` saying why it failed.
 */
import type { RelayedResult } from '../domain/spec.js';
import type { Base64Image } from '../util/base64-image.js';
import { TaskStatusCodes, type TaskState } from '../domain/task.js';
import type { StoredTask } from '../store/task-store.js';
import type { ErrorId } from '../errors/catalog.js';
import type { LiveStatus } from './dispatcher.js';

export interface TaskView {
  taskId: string;
  status: number;
  queuePosition: number;
  /** 0–1 while running. */
  progress?: number;
  /** Seconds until the task starts (queued) or ends (running), from the plan and measured node speeds. */
  eta?: number | null;
  /** Base64 PNGs; held as bytes until the answer is serialized (util/json-buffer.ts). */
  images?: (string | Base64Image)[];
  seeds?: number[];
  caption?: string;
  /**
   * Why the task failed or was cancelled; while queued, why no node can serve it now, or why none of those
   * that can takes work; while running, that it is held ready on its node and has not begun.
   */
  message?: string;
  error?: ErrorId;
}

function base(taskId: string, state: TaskState, queuePosition = 0): TaskView {
  return { taskId, status: TaskStatusCodes[state], queuePosition };
}

/** A running task's message while its node holds it ready behind the task it runs (`dan node --prefetch`). */
export const HELD_MESSAGE = 'held ready on its node: begins when the task before it ends';

const roundEta = (eta: number | null) => (eta === null ? null : Math.round(eta * 10) / 10);

export function toLiveView(taskId: string, live: LiveStatus): TaskView {
  switch (live.state) {
    // Written out, not spread from base(): these answer every status poll.
    case 'queued': {
      const view: TaskView = { taskId, status: TaskStatusCodes.queued, queuePosition: live.position, eta: roundEta(live.etaSeconds) };
      if (live.waiting) view.message = `waiting: ${live.waiting}`;
      return view;
    }
    case 'running': {
      const view: TaskView = { taskId, status: TaskStatusCodes.running, queuePosition: 0, progress: live.progress, eta: roundEta(live.etaSeconds) };
      if (live.held) view.message = HELD_MESSAGE;
      return view;
    }
    case 'finished': {
      const { outcome } = live;
      if (outcome.state === 'succeeded') return withResult(base(taskId, 'succeeded'), outcome.result);
      return { ...base(taskId, outcome.state), message: outcome.error.message, error: outcome.error.id };
    }
  }
}

export function withResult(view: TaskView, result: RelayedResult): TaskView {
  return result.kind === 'images' ? { ...view, images: result.images, seeds: result.seeds } : { ...view, caption: result.caption };
}

export function toStoredView(record: StoredTask): TaskView {
  const view = base(record.id, record.state);
  if (record.state === 'succeeded' && record.result) return withResult(view, record.result);
  if ((record.state === 'failed' || record.state === 'cancelled') && record.error) {
    return { ...view, message: record.error.message, error: record.error.id };
  }
  return view;
}

/** The Standard Webhooks event type of a finished task's status: `task.succeeded`, `task.failed` or `task.cancelled`. */
export function webhookTypeOf(view: TaskView): string {
  const state = Object.entries(TaskStatusCodes).find(([, code]) => code === view.status)?.[0] ?? 'unknown';
  return `task.${state}`;
}
