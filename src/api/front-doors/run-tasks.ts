/**
 * @module api/front-doors/run-tasks
 *
 * What the compatible front doors (api/openai, api/a1111) share: a request
 * that asks for several images runs as several tasks, one image each, spread
 * over the nodes like any others, and waits for all of them. Their clients
 * have no place for task ids, so the wait is the answer: every task's result,
 * or the first failure, or, past the gateway's sync timeout, a 504 naming the
 * tasks, which go on.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationSpec, RelayedResult } from '../../domain/spec.js';
import { DanError } from '../../errors/dan-error.js';
import type { TaskOutcome } from '../../gateway/outcome-book.js';
import type { TaskService } from '../../gateway/task-service.js';
import { idempotencyKeyOf, requestHashOf } from '../idempotency.js';
import { clientGone } from '../routes/client-gone.js';

export interface RunDeps {
  service: TaskService;
  /** How long a request waits for its tasks (the gateway's `--sync-timeout-s`). */
  syncTimeoutMs: number;
}

/** A task that succeeded: its id and its result. */
export interface Finished {
  id: string;
  result: RelayedResult;
}

export interface RunOptions {
  /**
   * The client's Idempotency-Key and body hash: task i gets `key#i` (one task too: a request for one image and
   * one for two, under the same key, then meet at `key#0` and the second is refused), so a retry runs nothing twice.
   */
  idempotency?: { key: string; bodyHash: string } | undefined;
  /** Told the tasks' ids once they are all stored, before the wait. */
  enqueued?: (ids: readonly string[]) => void;
}

/**
 * The request's Idempotency-Key with a hash of what the client sent (its own fields, not their translation:
 * a retry after the default checkpoint changed is still the same request); files count by their digest.
 */
export function idempotencyOf(request: FastifyRequest): { key: string; bodyHash: string } | undefined {
  const key = idempotencyKeyOf(request);
  if (key === undefined) return undefined;
  const body = request.body;
  const sent = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.fromEntries(Object.entries(body).map(([name, value]) => [name, digestOfFiles(value)])) : body;
  return { key, bodyHash: requestHashOf(request.url, sent) };
}

function digestOfFiles(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return `sha256:${createHash('sha256').update(value).digest('hex')}`;
  return Array.isArray(value) ? value.map(digestOfFiles) : value;
}

/**
 * Stores `specs` as tasks of the request's caller and answers their ids (in the `x-task-id` header too). All
 * or none: a request the caller's task budget cannot hold whole is refused before any task is stored, and
 * when storing one fails, those stored before it are cancelled (a retry then runs nothing twice).
 */
export async function enqueueTasks(deps: RunDeps, specs: readonly GenerationSpec[], request: FastifyRequest, reply: FastifyReply, options: RunOptions = {}): Promise<string[]> {
  const { idempotency } = options;
  const { caller } = request;
  const { maxTasks } = caller.limits;
  const unfinished = deps.service.unfinishedOf(caller.owner);
  if (specs.length > 1 && maxTasks > 0 && unfinished + specs.length > maxTasks) {
    throw new DanError('DAN_ERR_TASK_LIMIT', `this request asks for ${specs.length} images, a task each; the caller has ${unfinished} unfinished tasks of the ${maxTasks} allowed`);
  }
  const ids: string[] = [];
  let replays = 0;
  try {
    for (const [i, spec] of specs.entries()) {
      // The first task under the key as sent, the same slot a native submit's key takes: one key reused across
      // doors (or endpoints) meets its earlier request, and is refused for its other body, not run twice. Until
      // 2026-12-05 it was stored as `key#0`: a retry from before then still finds it (the window is a day).
      const keyed = idempotency && {
        key: i === 0 ? idempotency.key : `${idempotency.key}#${i}`,
        bodyHash: idempotency.bodyHash,
        asSent: idempotency.key,
        ...(i === 0 ? { formerly: `${idempotency.key}#0` } : {}),
      };
      const { taskId, replayed } = await deps.service.enqueue({ spec, caller, receivedAt: request.receivedAt, ...(keyed ? { idempotency: keyed } : {}) });
      ids.push(taskId);
      if (replayed) replays += 1;
    }
  } catch (error) {
    for (const id of ids) await deps.service.cancel(id, caller).catch(() => undefined);
    throw error;
  }
  // Not part of these APIs' answers, but a client that lost the answer can still find its tasks.
  reply.header('x-task-id', ids.join(','));
  // As the native API says it (docs/http-api.md): the answer is an earlier request's.
  if (replays === ids.length && ids.length > 0) reply.header('idempotent-replayed', 'true');
  options.enqueued?.(ids);
  return ids;
}

/**
 * Runs `specs` for the request's caller and waits for them all; null when the client left first (the tasks
 * go on). Stored all or none (`enqueueTasks`).
 */
export async function runTasks(deps: RunDeps, specs: readonly GenerationSpec[], request: FastifyRequest, reply: FastifyReply, options: RunOptions = {}): Promise<Finished[] | null> {
  const ids = await enqueueTasks(deps, specs, request, reply, options);
  const signal = clientGone(reply);
  const outcomes = await Promise.all(ids.map((id) => deps.service.waitForOutcome(id, deps.syncTimeoutMs, signal)));
  if (signal.aborted) {
    request.log.info({ tasks: ids }, 'client left before its tasks were done; they go on');
    return null;
  }
  const waiting = ids.filter((_, i) => outcomes[i] === null);
  if (waiting.length > 0) {
    const ended = waitEnded(deps, waiting, options.idempotency !== undefined);
    // A stopping gateway is back soon: the client may try again in a moment.
    if (ended.id === 'DAN_ERR_GATEWAY_STOPPING') reply.header('retry-after', '5');
    throw ended;
  }
  return outcomes.map((outcome) => {
    if (outcome === null) throw new Error('unreachable: every outcome was checked');
    if (outcome.state !== 'succeeded') throw taskFailed(outcome, ids.length);
    return { id: outcome.id, result: outcome.result };
  });
}

/**
 * The error that ends a wait with tasks still `waiting`: the gateway is stopping (503, to retry: with the same
 * Idempotency-Key, `keyed`, the same tasks answer), or the sync timeout passed (504). Either way they go on.
 */
export function waitEnded(deps: RunDeps, waiting: readonly string[], keyed: boolean): DanError {
  if (deps.service.stopping) {
    const tasks = `the task${waiting.length > 1 ? 's go' : ' goes'} on: ${waiting.join(', ')}`;
    const again = keyed ? 'send the request again with the same Idempotency-Key once it is back, or ' : '';
    return new DanError('DAN_ERR_GATEWAY_STOPPING', `this gateway is stopping; ${tasks} (${again}GET /api/sd/task/{taskId})`);
  }
  const seconds = Math.round(deps.syncTimeoutMs / 1000);
  return new DanError('DAN_ERR_WAIT_TIMEOUT', `not finished after ${seconds} s; the task${waiting.length > 1 ? 's go' : ' goes'} on: ${waiting.join(', ')} (GET /api/sd/task/{taskId})`);
}

/** A task of a request for `count` images that ended without them: its error, naming it when there are several. */
export function taskFailed(outcome: Extract<TaskOutcome, { state: 'failed' | 'cancelled' }>, count: number): DanError {
  return new DanError(outcome.error.id, count > 1 ? `task ${outcome.id}: ${outcome.error.message}` : outcome.error.message);
}

/** The same spec `count` times; a given seed counts up (seed, seed + 1, …), a random one (-1) is drawn per task. */
export function seededCopies<S extends { seed: number }>(spec: S, count: number): S[] {
  return Array.from({ length: count }, (_, i) => (spec.seed === -1 || i === 0 ? spec : { ...spec, seed: spec.seed + i }));
}
