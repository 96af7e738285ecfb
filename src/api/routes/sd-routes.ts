/**
 * @module api/routes/sd-routes
 *
 * `/api/sd/*`: submit (sync and async) for each task kind, task status, and
 * the supported values. Routes translate HTTP to TaskService calls and back;
 * they hold no rules of their own.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationSpec, TaskKind } from '../../domain/spec.js';
import type { RequestContext } from '../../domain/request-context.js';
import {
  parseImg2ImgRequest,
  parseInterrogateRequest,
  parseTaskIdRequest,
  parseTxt2ImgRequest,
  parseUpscaleRequest,
} from '../requests/index.js';
import { DanError, toDanError } from '../../errors/dan-error.js';
import type { NetworkCatalog } from '../../gateway/network-catalog.js';
import type { OverheadMeter } from '../../gateway/overhead-meter.js';
import type { TaskRequest, TaskService } from '../../gateway/task-service.js';
import { withResult } from '../../gateway/task-view.js';
import { errorBodyOf, success } from '../envelope.js';
import { idempotencyKeyOf, requestHashOf } from '../idempotency.js';
import { takeWebhook } from '../requests/webhook-field.js';
import { httpStatusOf } from '../error-answers.js';
import { clientErrorBodyOf } from '../error-handler.js';
import { clientGone } from './client-gone.js';
import { beginEarlyAnswer, prefersEarlyTaskId } from './early-answer.js';

export interface SdRoutesDeps {
  service: TaskService;
  catalog: NetworkCatalog;
  syncTimeoutMs: number;
  overhead: OverheadMeter;
  /** Webhooks may go to private and local addresses (config `webhookAllowPrivate`). */
  webhookAllowPrivate: boolean;
}

/** Each task kind's request parser: the body becomes a spec, or a 400 naming the field. */
const parsers: Record<TaskKind, (body: unknown, context: RequestContext) => Promise<GenerationSpec>> = {
  txt2img: parseTxt2ImgRequest,
  img2img: parseImg2ImgRequest,
  interrogate: parseInterrogateRequest,
  upscale: parseUpscaleRequest,
};
const kinds = Object.keys(parsers) as TaskKind[];

async function toTaskRequest(deps: SdRoutesDeps, kind: TaskKind, request: FastifyRequest): Promise<TaskRequest> {
  // The header first: a malformed key is refused before the body is parsed; the body is hashed once it parsed.
  const key = idempotencyKeyOf(request);
  const { body, webhook } = takeWebhook(request.body, { allowPrivate: deps.webhookAllowPrivate });
  const spec = await parsers[kind](body, deps.catalog.requestContext());
  const idempotency = key === undefined ? undefined : { key, bodyHash: requestHashOf(request.url, request.body) };
  return { spec, caller: request.caller, receivedAt: request.receivedAt, ...(idempotency ? { idempotency } : {}), ...(webhook ? { webhook } : {}) };
}

/**
 * Names the task in the answer's headers: `X-Task-Id` always, `Idempotent-Replayed: true` when an
 * Idempotency-Key named a task an earlier request made.
 */
function nameTask(reply: FastifyReply, taskId: string, replayed: boolean): void {
  reply.header('x-task-id', taskId);
  if (replayed) reply.header('idempotent-replayed', 'true');
}

/** A sync request's answer once its wait is over: the HTTP status and the envelope. */
interface SyncAnswer {
  status: number;
  body: unknown;
}

async function answerSync(deps: SdRoutesDeps, kind: TaskKind, request: FastifyRequest, reply: FastifyReply) {
  const { service } = deps;
  const { taskId, replayed } = await service.enqueue(await toTaskRequest(deps, kind, request));
  nameTask(reply, taskId, replayed);
  const signal = clientGone(reply);
  if (!prefersEarlyTaskId(request)) {
    const answer = await waitForAnswer(deps, taskId, request, reply, signal);
    return answer ? reply.code(answer.status).send(answer.body) : reply;
  }
  // The status and headers are sent now: from here on an error can only be told in the body.
  const early = beginEarlyAnswer(reply);
  try {
    const answer = await waitForAnswer(deps, taskId, request, reply, signal);
    if (answer) early.end(answer.body);
  } catch (error) {
    early.end({ ...clientErrorBodyOf(toDanError(error), error, request), taskId });
  }
  return reply;
}

/** Waits for the task and tells how to answer; `undefined` when the client has gone. */
async function waitForAnswer(deps: SdRoutesDeps, taskId: string, request: FastifyRequest, reply: FastifyReply, signal: AbortSignal): Promise<SyncAnswer | undefined> {
  const { service, syncTimeoutMs } = deps;
  const outcome = await service.waitForOutcome(taskId, syncTimeoutMs, signal);
  if (signal.aborted) {
    request.log.info({ task: taskId }, 'client left before its sync task finished; the task goes on');
    return undefined;
  }
  if (!outcome) {
    const seconds = Math.round(syncTimeoutMs / 1000);
    return {
      status: 202,
      body: {
        code: 202,
        data: await service.status(taskId, request.caller),
        message: service.stopping
          ? 'not finished: this gateway is stopping; poll POST /api/sd/task/status with this taskId (the task is kept, its node runs on, and a gateway of the network answers for it once back)'
          : `not finished after ${seconds} s; poll POST /api/sd/task/status with this taskId`,
      },
    };
  }
  if (outcome.state === 'succeeded') {
    const { resultReceivedAt } = outcome;
    // 'prefinish': end() has handed the whole answer to the client's socket. Not 'finish', which waits
    // until the kernel has taken the last byte: on a slow link that is the client's network, not the gateway.
    if (resultReceivedAt !== undefined) reply.raw.once('prefinish', () => deps.overhead.relayed(performance.now() - resultReceivedAt));
    return { status: 200, body: success(withResult({ taskId: outcome.id, status: 2, queuePosition: 0 }, outcome.result)) };
  }
  const failed = new DanError(outcome.error.id, outcome.error.message);
  return { status: httpStatusOf(outcome.error.id), body: errorBodyOf(failed, { taskId: outcome.id }) };
}

export function registerSdRoutes(app: FastifyInstance, deps: SdRoutesDeps): void {
  for (const kind of kinds) {
    app.post(`/api/sd/${kind}`, (request, reply) => answerSync(deps, kind, request, reply));
    app.post(`/api/sd/${kind}/async`, async (request, reply) => {
      const { view, replayed } = await deps.service.submit(await toTaskRequest(deps, kind, request));
      nameTask(reply, view.taskId, replayed);
      return success(view);
    });
  }
  app.post('/api/sd/task/status', { config: { readAtOnce: true } }, async (request) => success(await deps.service.status(parseTaskIdRequest(request.body), request.caller)));
  app.post('/api/sd/task/cancel', { config: { readAtOnce: true } }, async (request) => success(await deps.service.cancel(parseTaskIdRequest(request.body), request.caller)));
  app.get<{ Params: { taskId: string } }>('/api/sd/task/:taskId', async (request) =>
    success(await deps.service.status(parseTaskIdRequest({ taskId: request.params.taskId }), request.caller)),
  );
  app.get('/api/sd/supportedModelInfo', async () => success(deps.catalog.supportedInfo()));
}

