/**
 * @module gateway/task-webhooks
 *
 * A submit's `webhook` put to work, past what is stored with the task (its end
 * delivery, sent by webhooks/webhook-outbox.ts): when asked for, progress posts
 * while the task runs (from the dispatcher's watch of the task).
 */
import type { WebhookRequest } from '../api/requests/webhook-field.js';
import type { Clock } from '../util/clock.js';
import { toJsonBuffer } from '../util/json-buffer.js';
import type { Logger } from '../util/logger.js';
import type { DeliveryStore } from '../webhooks/delivery-store.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { type TaskView, webhookTypeOf } from './task-view.js';

export interface TaskWebhooksDeps {
  outbox: WebhookOutbox;
  watch(taskId: string, listener: () => void): () => void;
  /** The task's status document (for its owner). */
  view(taskId: string): Promise<TaskView>;
}

export class TaskWebhooks {
  readonly #deps: TaskWebhooksDeps;

  constructor(deps: TaskWebhooksDeps) {
    this.#deps = deps;
  }

  /** Called before a task with an end delivery is stored (with it): its end will make the delivery due. */
  expectEnd(taskId: string): void {
    this.#deps.outbox.expectEnd(taskId);
  }

  /** The task with an end delivery was not stored after all. */
  forgetEnd(taskId: string): void {
    this.#deps.outbox.forgetEnd(taskId);
  }

  /** Called once the task is stored (its end delivery was stored with it). */
  attach(taskId: string, owner: string, webhook: WebhookRequest): void {
    if (!webhook.events.includes('progress')) return;
    const unwatch = this.#deps.watch(taskId, () => {
      void this.#deps.view(taskId).then(
        (view) => {
          if (view.status >= 2) unwatch();
          else this.#deps.outbox.progress(taskId, owner, webhook.url, view);
        },
        () => unwatch(),
      );
    });
  }
}

export interface WebhookParts {
  /** Where deliveries are kept, beside the tasks (store/open-stores.ts). */
  deliveries: DeliveryStore;
  clock: Clock;
  log: Logger;
  /** The owner's webhook secret; null for a key revoked or gone. */
  secretOf(owner: string): string | null;
  allowPrivate: boolean;
  /** The task's status document (TaskService.view), bound once the service exists. */
  view(taskId: string): Promise<TaskView>;
  watch(taskId: string, listener: () => void): () => void;
  retryDelaysMs?: readonly number[];
  tried?: (result: 'delivered' | 'retry' | 'failed') => void;
}

/** The delivery store, outbox and submit side of webhooks, wired as the gateway uses them. */
export function createWebhooks(parts: WebhookParts) {
  const { deliveries } = parts;
  const outbox = new WebhookOutbox({
    store: deliveries,
    clock: parts.clock,
    log: parts.log,
    endEventOf: async (taskId) => {
      const view = await parts.view(taskId).catch(() => null);
      if (view === null) return null;
      return view.status >= 2 ? { type: webhookTypeOf(view), data: view } : 'unfinished';
    },
    secretOf: (owner) => parts.secretOf(owner),
    allowPrivate: parts.allowPrivate,
    serialize: (event) => toJsonBuffer(event),
    ...(parts.retryDelaysMs ? { retryDelaysMs: parts.retryDelaysMs } : {}),
    ...(parts.tried ? { tried: parts.tried } : {}),
  });
  return { deliveries, outbox, webhooks: new TaskWebhooks({ outbox, watch: (id, listener) => parts.watch(id, listener), view: (id) => parts.view(id) }) };
}
