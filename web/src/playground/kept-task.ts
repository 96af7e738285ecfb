/**
 * The task a view has running, kept in this browser (localStorage) until it
 * ends: a reload or a closed tab would otherwise lose it and its image. The
 * view picks it up again when the page loads, follows it, and its result
 * reaches the gallery. Kept: its id, kind and the request without its images
 * (what the gallery keeps of it; an image would not fit localStorage's few
 * megabytes).
 */
import type { TaskKind } from '../api/types';
import { paramsOf } from '../gallery/gallery-store';

export interface KeptTask {
  taskId: string;
  kind: TaskKind;
  params: Record<string, unknown>;
}

/** One per view (`txt2img`, `inpaint`, …): each view runs one task at a time. */
const keyOf = (view: string) => `dan-task:${view}`;

export function keptTask(view: string): KeptTask | null {
  try {
    const kept = JSON.parse(localStorage.getItem(keyOf(view)) ?? 'null') as KeptTask | null;
    return kept && typeof kept.taskId === 'string' ? kept : null;
  } catch {
    return null;
  }
}

export function keepTask(view: string, taskId: string, kind: TaskKind, body: Record<string, unknown>): void {
  try {
    localStorage.setItem(keyOf(view), JSON.stringify({ taskId, kind, params: paramsOf(body) } satisfies KeptTask));
  } catch {
    // Storage full or off (a private window): the task runs on, only a reload loses it, as before.
  }
}

export function forgetTask(view: string, taskId: string): void {
  try {
    // Only that task: another tab may have started a newer one in this view since.
    if (keptTask(view)?.taskId === taskId) localStorage.removeItem(keyOf(view));
  } catch {
    // Nothing was kept.
  }
}
