/**
 * @module gateway/task-view
 *
 * The task status document of the HTTP API (`/api/sd/task/status`, async
 * submits, sync answers), in the original deployment's shape: `status` 0–3,
 * `queuePosition` 1-based while queued and 0 after, then `images` + `seeds`
 * or `caption`, or a `message` saying why it failed.
 */
import type { TaskResult } from '../domain/spec.js';
import { type TaskRecord, TaskStatusCodes, type TaskState } from '../domain/task.js';
import type { ErrorId } from '../errors/catalog.js';
import type { LiveStatus } from './dispatcher.js';

export interface TaskView {
  taskId: string;
  status: number;
  queuePosition: number;
  /** 0–1 while running. */
  progress?: number;
  /** Seconds left while running, as the node's backend estimates. */
  eta?: number | null;
  images?: string[];
  seeds?: number[];
  caption?: string;
  /** Why the task failed. */
  message?: string;
  error?: ErrorId;
}

function base(taskId: string, state: TaskState, queuePosition = 0): TaskView {
  return { taskId, status: TaskStatusCodes[state], queuePosition };
}

export function toLiveView(taskId: string, live: LiveStatus): TaskView {
  switch (live.state) {
    case 'queued':
      return base(taskId, 'queued', live.position);
    case 'running':
      return { ...base(taskId, 'running'), progress: live.progress, eta: live.etaSeconds };
    case 'finished': {
      const { outcome } = live;
      if (outcome.state === 'succeeded') return withResult(base(taskId, 'succeeded'), outcome.result);
      return { ...base(taskId, 'failed'), message: outcome.error.message, error: outcome.error.id };
    }
  }
}

export function withResult(view: TaskView, result: TaskResult): TaskView {
  return result.kind === 'images' ? { ...view, images: result.images, seeds: result.seeds } : { ...view, caption: result.caption };
}

export function toStoredView(record: TaskRecord): TaskView {
  const view = base(record.id, record.state);
  if (record.state === 'succeeded' && record.result) return withResult(view, record.result);
  if (record.state === 'failed' && record.error) return { ...view, message: record.error.message, error: record.error.id };
  return view;
}
