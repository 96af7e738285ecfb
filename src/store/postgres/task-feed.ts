/**
 * @module store/postgres/task-feed
 *
 * What the other gateways sharing the database do to tasks, as they commit it
 * (`dan_tasks`, told by postgres-task-store.ts): a task stored or put back in
 * the queue, an attempt started, a task ended. A gateway's own changes are
 * skipped (it made them). After the listening connection was lost and came
 * back, `resync` says that news was missed: read the unfinished tasks again.
 */
import type { GenerationSpec, TaskKind } from '../../domain/spec.js';
import type { PgListener } from './pg-listener.js';
import { TASKS_CHANNEL } from './postgres-task-store.js';

/** A new task as its notice carries it, when it is small enough (postgres-task-store.ts `SMALL_TASK_NEWS`). */
export interface NewTaskNews {
  kind: TaskKind;
  owner: string | null;
  createdAt: number;
  /** The owner's fair-share weight. */
  weight: number;
  spec: GenerationSpec;
}

export interface TaskNews {
  /** Stored (with the task itself when small), or put back in the queue (a retry, or an attempt reclaimed from a gateway gone). */
  queued(taskId: string, task?: NewTaskNews): void;
  /** An attempt started on another gateway's node. */
  started(taskId: string, attempt: number): void;
  /** An attempt went on through another gateway: its node came there with it (TaskStore.takeOver). */
  moved(taskId: string, attempt: number): void;
  /** Succeeded, failed or cancelled. */
  ended(taskId: string): void;
  /** News may have been missed. */
  resync(): void;
}

interface Notice {
  e: 'queued' | 'started' | 'moved' | 'ended';
  g: string;
  t: string;
  a?: number;
  task?: NewTaskNews | null;
}

/** Hands the other gateways' news on `dan_tasks`, heard through `listener`, to `news` as it comes (in commit order). */
export async function followTasks(listener: PgListener, gatewayId: string, news: TaskNews, warn?: (message: string) => void): Promise<void> {
  await listener.listen(TASKS_CHANNEL, {
    onNotification: (payload) => {
      let notice: Notice;
      try {
        notice = JSON.parse(payload) as Notice;
      } catch {
        warn?.(`a notice on ${TASKS_CHANNEL} that is not JSON, skipped: ${payload.slice(0, 200)}`);
        return;
      }
      if (notice.g === gatewayId) return;
      if (notice.e === 'queued') news.queued(notice.t, notice.task ?? undefined);
      else if (notice.e === 'started') news.started(notice.t, notice.a ?? 0);
      else if (notice.e === 'moved') news.moved(notice.t, notice.a ?? 0);
      else if (notice.e === 'ended') news.ended(notice.t);
    },
    onReconnected: () => news.resync(),
  });
}
