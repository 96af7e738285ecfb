/**
 * @module domain/task
 *
 * A task's life:
 *
 *   queued ──assign──▶ running ──result──▶ succeeded
 *     ▲  │               │ └────failure (not retryable, or last attempt)──▶ failed
 *     │  │               └──cancel──▶ cancelled (the node is told to interrupt)
 *     │  ├──cancel──▶ cancelled
 *     │  └──unservable for longer than the grace time──▶ failed
 *     └──requeue─────────┘   (node lost, timeout, retryable failure while attempts remain)
 *
 * The HTTP API reports states by the original deployment's numbers.
 */
import type { ErrorId } from '../errors/catalog.js';
import type { GenerationSpec, TaskKind, TaskResult } from './spec.js';

export const TaskStates = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TaskStates)[number];

/** Wire numbers of task states (`status` in the API): 0 queued, 1 running, 2 succeeded, 3 failed, 4 cancelled. */
export const TaskStatusCodes = { queued: 0, running: 1, succeeded: 2, failed: 3, cancelled: 4 } as const satisfies Record<TaskState, number>;

export interface TaskError {
  id: ErrorId;
  message: string;
}

/** A task as the store keeps it. */
export interface TaskRecord {
  id: string;
  kind: TaskKind;
  state: TaskState;
  /**
   * Who the task is for: a key id (`key_…`, only that key may see it), `anon:<address>` for a caller
   * without a key (anyone holding the id may), or null (a task stored before keys existed).
   */
  owner: string | null;
  /** The inputs; null once the task has finished (inputs are not kept). */
  spec: GenerationSpec | null;
  attempts: number;
  nodeId: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  result: TaskResult | null;
  error: TaskError | null;
}
