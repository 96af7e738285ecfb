/**
 * @module gateway/task-service
 *
 * What the front doors ask of the gateway: submit a task (check that someone
 * can serve it → store → queue), read its status, wait for its outcome, cancel
 * it, and the load of the queue. Transport-neutral: each front door parses its
 * own dialect into a `GenerationSpec` and translates answers back.
 */
import { randomUUID } from 'node:crypto';
import { type Caller, mayAccess } from '../auth/caller.js';
import { networkFamilyOf } from '../domain/binding.js';
import type { ModelFamily } from '../domain/families.js';
import type { GenerationSpec, ResourceRef } from '../domain/spec.js';
import { DanError } from '../errors/dan-error.js';
import { IdempotencyKeyTaken, type TaskStore } from '../store/task-store.js';
import type { Dispatcher, TaskOutcome } from './dispatcher.js';
import type { LivePreview } from './dispatcher-types.js';
import type { WebhookRequest } from '../api/requests/webhook-field.js';
import { assertWithinKeyLimits } from './key-policy.js';
import type { TaskWebhooks } from './task-webhooks.js';
import { newDeliveryId } from '../webhooks/webhook-outbox.js';
import { assertServable } from './servability.js';
import { type TaskView, toLiveView, toStoredView } from './task-view.js';
import type { NodeListing } from './node-listing.js';

/** A task to submit: what to make, for whom. */
export interface TaskRequest {
  spec: GenerationSpec;
  caller: Caller;
  /** Where to post the task's end (and progress), signed with the caller's key's secret. */
  webhook?: WebhookRequest;
  /**
   * The client's Idempotency-Key and the hash of the endpoint and body it came with (api/idempotency.ts).
   * `asSent`: the key as the client sent it, when `key` is one of several derived from it (a task per image).
   * `formerly`: the key an earlier version stored the same task under, looked up when `key` is not found.
   */
  idempotency?: { key: string; bodyHash: string; asSent?: string; formerly?: string };
  /** When the request arrived (`performance.now()`), for the overhead meter. */
  receivedAt?: number;
}

/** How long a status answer waits for another gateway to tell a task's progress (its first ask). */
const RELAY_WAIT_MS = 250;

export interface TaskServiceDeps {
  dispatcher: Dispatcher;
  store: TaskStore;
  /** The network's nodes (network-catalog.ts `nodes`): a submit none of them can serve is refused. */
  nodes: () => Iterable<NodeListing>;
  /** The family the network knows a model by (the catalog's), for nodes that cannot tell their file's. @defaultValue none */
  familyOf?: (model: ResourceRef) => ModelFamily | null;
  /** Epoch ms (the gateway's clock). @defaultValue Date.now */
  now?: () => number;
  /** Takes the webhooks of submits; without it a submit with a webhook is refused. */
  webhooks?: TaskWebhooks | null;
}

/** How long an Idempotency-Key names its task. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

export class TaskService {
  readonly #deps: Required<TaskServiceDeps>;
  /** Submits with an Idempotency-Key under way, by owner and key. */
  readonly #keyed = new Map<string, Promise<unknown>>();

  constructor(deps: TaskServiceDeps) {
    this.#deps = { now: Date.now, webhooks: null, familyOf: () => null, ...deps };
  }

  /** Checks servability and stores a task; resolves with its first status. */
  async submit(request: TaskRequest): Promise<{ view: TaskView; replayed: boolean }> {
    const { taskId, replayed } = await this.enqueue(request);
    return { view: await this.status(taskId, request.caller), replayed };
  }

  /**
   * `submit` without the first status: a sync request only needs the id, and a
   * status ranks the task in the whole queue. With an Idempotency-Key the owner used
   * before (within 24 h) for the same endpoint and body, it stores nothing and answers
   * with that task (`replayed`); for another body it refuses (422).
   */
  async enqueue(request: TaskRequest): Promise<{ taskId: string; replayed: boolean }> {
    const { idempotency, caller } = request;
    if (!idempotency) return { taskId: await this.#store(request), replayed: false };
    // One submit per owner and key at a time, in arrival order: a retry that arrives while the first is being
    // stored waits for it. Chained before any await, so that three at once cannot both find no task.
    const slot = `${caller.owner}\n${idempotency.key}`;
    const earlier = this.#keyed.get(slot) ?? Promise.resolve();
    const work = earlier.catch(() => undefined).then(() => this.#enqueueOnce(request, idempotency));
    this.#keyed.set(slot, work);
    try {
      return await work;
    } finally {
      if (this.#keyed.get(slot) === work) this.#keyed.delete(slot);
    }
  }

  async #enqueueOnce(request: TaskRequest, idempotency: NonNullable<TaskRequest['idempotency']>, again = false): Promise<{ taskId: string; replayed: boolean }> {
    const since = this.#deps.now() - IDEMPOTENCY_WINDOW_MS;
    const known =
      (await this.#deps.store.findIdempotent(request.caller.owner, idempotency.key, since)) ??
      (idempotency.formerly === undefined ? undefined : await this.#deps.store.findIdempotent(request.caller.owner, idempotency.formerly, since));
    if (!known) {
      try {
        return { taskId: await this.#store(request), replayed: false };
      } catch (error) {
        // Another gateway sharing the store took the key first: its task is the answer (looked up once more).
        if (error instanceof IdempotencyKeyTaken && !again) return this.#enqueueOnce(request, idempotency, true);
        throw error;
      }
    }
    if (known.bodyHash !== idempotency.bodyHash) {
      throw new DanError(
        'DAN_ERR_IDEMPOTENCY_MISMATCH',
        `Idempotency-Key "${idempotency.asSent ?? idempotency.key}" was used for another request (task ${known.taskId}); use a new key for a new request`,
        { field: 'Idempotency-Key' },
      );
    }
    return { taskId: known.taskId, replayed: true };
  }

  async #store(request: TaskRequest): Promise<string> {
    const { spec, caller, receivedAt, idempotency, webhook } = request;
    if (webhook && caller.key === null) {
      throw new DanError('DAN_ERR_REQUEST_INVALID_FIELD', 'webhook: webhooks are signed with the secret of your API key; send a key of your own (Authorization: Bearer <key>)', { field: 'webhook' });
    }
    if (webhook && this.#deps.webhooks === null) throw new DanError('DAN_ERR_REQUEST_INVALID_FIELD', 'webhook: this gateway sends no webhooks', { field: 'webhook' });
    assertWithinKeyLimits(spec, caller.limits);
    assertServable(spec, this.#deps.nodes(), networkFamilyOf(spec, this.#deps.familyOf));
    const id = randomUUID();
    const { maxTasks, weight } = caller.limits;
    const endWebhook = webhook?.events.includes('end') ? { id: newDeliveryId(), url: webhook.url } : undefined;
    if (endWebhook) this.#deps.webhooks?.expectEnd(id);
    try {
      await this.#deps.dispatcher.submit({
        id,
        kind: spec.kind,
        spec,
        owner: caller.owner,
        maxTasks,
        weight,
        ...(idempotency === undefined ? {} : { idempotency }),
        ...(endWebhook ? { endWebhook } : {}),
        ...(receivedAt === undefined ? {} : { receivedAt }),
      });
    } catch (error) {
      // Not stored: no end will come for it.
      if (endWebhook) this.#deps.webhooks?.forgetEnd(id);
      throw error;
    }
    if (webhook) this.#deps.webhooks?.attach(id, caller.owner, webhook);
    return id;
  }

  /** The task's status document, whoever owns it: for the gateway's own use (webhooks), never for a caller. */
  async view(id: string): Promise<TaskView> {
    const found = await this.#find(id);
    if (!found) throw taskNotFound(id);
    return found.view;
  }

  /** Unfinished tasks of `owner` (a key id, or an anonymous caller's `anon:<address>`). */
  unfinishedOf(owner: string): number {
    return this.#deps.dispatcher.unfinishedOf(owner);
  }

  /** Calls `listener` when the task starts, progresses, is requeued or ends; returns the unsubscribe (dispatcher.ts `watch`). */
  watch(id: string, listener: () => void): () => void {
    return this.#deps.dispatcher.watch(id, listener);
  }

  /** The latest live preview of a running task that is watched (dispatcher.ts `previewOf`). */
  previewOf(id: string): LivePreview | undefined {
    return this.#deps.dispatcher.previewOf(id);
  }

  /** Tasks waiting and running now. */
  load(): { queued: number; running: number } {
    return { queued: this.#deps.dispatcher.queuedCount, running: this.#deps.dispatcher.runningCount };
  }

  /**
   * The task's status, for `caller`; throws DAN_ERR_TASK_NOT_FOUND for an unknown or expired id, and
   * for another key's task (the same answer, so ids cannot be probed).
   */
  async status(id: string, caller: Caller): Promise<TaskView> {
    const found = await this.#find(id);
    if (!found || !mayAccess(caller, found.owner)) throw taskNotFound(id);
    return found.view;
  }

  /** The task's status document and owner: from memory while the dispatcher holds it, else from the store. */
  async #find(id: string): Promise<{ view: TaskView; owner: string | null } | undefined> {
    let live = this.#deps.dispatcher.liveStatus(id);
    // Running on another gateway's node that has not told its progress yet: asked just now, it answers in
    // milliseconds.
    if (live?.state === 'running' && live.nodeId === '') {
      await this.#deps.dispatcher.progressFromElsewhere(id, RELAY_WAIT_MS);
      live = this.#deps.dispatcher.liveStatus(id);
    }
    if (live) return { view: toLiveView(id, live), owner: live.owner };
    const record = await this.#deps.store.get(id);
    return record ? { view: toStoredView(record), owner: record.owner } : undefined;
  }

  /** Whether the gateway is stopping: a wait that ends unfinished then ended for that, not its timeout. */
  get stopping(): boolean {
    return this.#deps.dispatcher.stopping;
  }

  /**
   * Resolves with the outcome, or null if the task is still unfinished after
   * `timeoutMs`, when `signal` aborts (the client went away), or when the gateway stops.
   */
  async waitForOutcome(id: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskOutcome | null> {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const waiting = this.#deps.dispatcher.waitFor(id, timeoutMs, stop.signal);
      // The task may have finished before we started listening: then memory or the store has the outcome.
      const live = this.#deps.dispatcher.liveStatus(id);
      const outcome = live ? (live.state === 'finished' ? live.outcome : null) : await this.#storedOutcome(id);
      if (outcome) {
        stop.abort();
        return outcome;
      }
      return await waiting;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #storedOutcome(id: string): Promise<TaskOutcome | null> {
    const record = await this.#deps.store.get(id);
    if (record?.state === 'succeeded' && record.result) return { id, state: 'succeeded', result: record.result };
    if ((record?.state === 'failed' || record?.state === 'cancelled') && record.error) return { id, state: record.state, error: record.error };
    return null;
  }

  /** Cancels a queued or running task of `caller`'s; throws for an unknown, another key's or a finished one. */
  async cancel(id: string, caller: Caller): Promise<TaskView> {
    const live = this.#deps.dispatcher.liveStatus(id);
    if (live && !mayAccess(caller, live.owner)) throw taskNotFound(id);
    if (!(await this.#deps.dispatcher.cancel(id, 'cancelled by the client'))) {
      const view = await this.status(id, caller);
      throw new DanError('DAN_ERR_TASK_NOT_CANCELLABLE', `task "${id}" has already finished (status ${view.status})`, { field: 'taskId' });
    }
    return this.status(id, caller);
  }
}

function taskNotFound(id: string): DanError {
  return new DanError('DAN_ERR_TASK_NOT_FOUND', `no task with id "${id}"; results are kept for a limited time after a task ends`, { field: 'taskId' });
}
