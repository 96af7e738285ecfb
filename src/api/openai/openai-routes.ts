/**
 * @module api/openai/openai-routes
 *
 * The OpenAI-compatible images API under `/v1`, so that the official `openai`
 * SDKs and the apps built on them (Open WebUI, LiteLLM, …) use the whole DAN
 * network by changing their base URL: `POST /v1/images/generations`,
 * `/v1/images/edits`, `/v1/images/variations`, `GET /v1/models` (and one by id), and the
 * time-limited image URLs `response_format: "url"` answers with.
 *
 * A thin adapter: a request becomes DAN request bodies (openai-requests.ts),
 * checked by DAN's parsers and run by the task service like any other task;
 * `n` images are `n` tasks, spread over the nodes; with `stream: true` the answer
 * is OpenAI's event stream (image-stream.ts). Its caller is the key in
 * `Authorization: Bearer`, with that key's limits and rate. Errors are
 * OpenAI's shape (openai-errors.ts). docs/openai-api.md says it for users.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { outputSizeOf, type TaskKind } from '../../domain/spec.js';
import { sniffImageFormat } from '../../domain/image-format.js';
import { DanError } from '../../errors/dan-error.js';
import type { NetworkCatalog } from '../../gateway/network-catalog.js';
import type { TaskService } from '../../gateway/task-service.js';
import { Base64Image } from '../../util/base64-image.js';
import { parseImg2ImgRequest, parseTxt2ImgRequest } from '../requests/index.js';
import { enqueueTasks, idempotencyOf, runTasks, seededCopies } from '../front-doors/run-tasks.js';
import { streamImages } from './image-stream.js';
import type { ImageUrls } from './image-urls.js';
import { installOpenAiErrors } from './openai-errors.js';
import { editAsk, generationAsk, type ImageAsk, MAX_FORM_FIELD_BYTES, type ModelChoice, OPENAI_FIELDS, variationAsk } from './openai-requests.js';

export interface OpenAiRoutesDeps {
  service: TaskService;
  catalog: NetworkCatalog;
  /** How long a request waits for its tasks (the gateway's `--sync-timeout-s`). */
  syncTimeoutMs: number;
  urls: ImageUrls;
  models: ModelChoice;
  bodyLimitBytes: number;
  /** How often a quiet streamed answer gets a comment line. @defaultValue image-stream.ts `STREAM_HEARTBEAT_MS` */
  streamHeartbeatMs?: number;
}

/** The answer of the image endpoints (OpenAI's `ImagesResponse`). */
interface ImagesResponse {
  created: number;
  data: ({ b64_json: Base64Image | string } | { url: string })[];
}

/** Runs `ask` as `n` tasks of `kind` for the request's caller and answers with their images. */
async function runAsk(deps: OpenAiRoutesDeps, kind: Extract<TaskKind, 'txt2img' | 'img2img'>, ask: ImageAsk, request: FastifyRequest, reply: FastifyReply): Promise<ImagesResponse | FastifyReply> {
  const context = deps.catalog.requestContext();
  const spec = await (kind === 'txt2img' ? parseTxt2ImgRequest(ask.body, context) : parseImg2ImgRequest(ask.body, context)).catch((error: unknown) => {
    // DAN's parser lists DAN's fields; a client of this door sends OpenAI's too.
    if (error instanceof DanError && error.id === 'DAN_ERR_REQUEST_UNKNOWN_FIELD') {
      throw new DanError(error.id, `${error.message}; and OpenAI's: ${OPENAI_FIELDS.join(', ')}`, error.field === undefined ? {} : { field: error.field });
    }
    throw error;
  });
  const specs = seededCopies(spec, ask.n);
  const idempotency = idempotencyOf(request);
  if (ask.stream) {
    const ids = await enqueueTasks(deps, specs, request, reply, { idempotency });
    const prefix = kind === 'txt2img' ? 'image_generation' : 'image_edit';
    // The size of the images made: hires fix makes them larger than the size asked.
    const size = outputSizeOf(spec) ?? spec;
    await streamImages(deps, ids, { ...ask.stream, prefix, size: `${size.width}x${size.height}`, keyed: idempotency !== undefined }, request, reply);
    return reply;
  }
  const finished = await runTasks(deps, specs, request, reply, { idempotency });
  if (finished === null) return reply;
  const origin = `${request.protocol}://${request.host}`;
  const data = finished.flatMap(({ id, result }) =>
    result.kind !== 'images' ? [] : result.images.map((image, index) => (ask.responseFormat === 'url' ? { url: `${origin}${deps.urls.pathOf(id, index)}` } : { b64_json: image })),
  );
  return { created: Math.floor(Date.now() / 1000), data };
}

/** The checkpoints the network can serve now, and the operator's aliases of them, as OpenAI lists models. */
function modelsOf(deps: OpenAiRoutesDeps) {
  const available = deps.catalog.servedModels();
  const names = new Set(available.map((model) => model.name.toLowerCase()));
  const aliases = [...deps.models.aliases].filter(([, target]) => names.has(target.toLowerCase())).map(([alias]) => alias);
  return {
    object: 'list',
    data: [...available.map((model) => model.name), ...aliases].map((id) => ({ id, object: 'model', created: 0, owned_by: 'dan' })),
  };
}

const boundsOf = (deps: OpenAiRoutesDeps) => deps.catalog.requestContext().limits;

/** `/v1` on `api`, the API's context: its routes know their caller and count against its rate. */
export async function registerOpenAiRoutes(api: FastifyInstance, deps: OpenAiRoutesDeps): Promise<void> {
  // A model's family as the network knows it (the catalog's, else its nodes'): `quality` is a share of its steps.
  const models: ModelChoice = {
    ...deps.models,
    familyOf: (model) => {
      const context = deps.catalog.requestContext();
      const ref = context.resolveModel(model);
      return ref ? context.familyOf('model', ref) : null;
    },
  };
  await api.register(async (v1) => {
    installOpenAiErrors(v1, deps.bodyLimitBytes);
    // Edits and variations come as multipart forms: files as bytes, fields as text (openai-requests.ts formFields).
    // The body limit does not reach a multipart form: a declared length over it is refused before a byte is
    // read, and the form itself is bounded (an image and a mask, each within the limit; short text fields).
    v1.addHook('onRequest', async (request) => {
      const length = Number(request.headers['content-length'] ?? 0);
      if (request.headers['content-type']?.startsWith('multipart/') && length > deps.bodyLimitBytes) {
        throw new DanError('DAN_ERR_REQUEST_TOO_LARGE', `request body is ${length} bytes; the most is ${deps.bodyLimitBytes}`);
      }
    });
    // A text field is read one byte past its limit, which busboy cuts without a word: one that reaches it is refused (formFields).
    await v1.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fileSize: deps.bodyLimitBytes, files: 2, fields: 64, fieldSize: MAX_FORM_FIELD_BYTES + 1, parts: 66 } });
    v1.post('/v1/images/generations', (request, reply) => runAsk(deps, 'txt2img', generationAsk(request.body, models), request, reply));
    v1.post('/v1/images/edits', async (request, reply) => runAsk(deps, 'img2img', await editAsk(request.body, models, boundsOf(deps)), request, reply));
    v1.post('/v1/images/variations', async (request, reply) => runAsk(deps, 'img2img', await variationAsk(request.body, models, boundsOf(deps)), request, reply));
    v1.get('/v1/models', async () => modelsOf(deps));
    // The SDK's `models.retrieve(id)`.
    v1.get<{ Params: { model: string } }>('/v1/models/:model', async (request) => {
      const { model } = request.params;
      const found = modelsOf(deps).data.find((entry) => entry.id.toLowerCase() === model.toLowerCase());
      if (!found) throw new DanError('DAN_ERR_MODEL_NOT_FOUND', `The model '${model.slice(0, 200)}' does not exist: no node serves it now (GET /v1/models lists what is served)`, { field: 'model' });
      return found;
    });
  });
}

/**
 * `GET /v1/images/files/{taskId}/{index}`: an image a `response_format: "url"` answer named. The URL is
 * its own credential (signed, an hour long): no key is asked for.
 */
export async function registerImageFiles(app: FastifyInstance, deps: Pick<OpenAiRoutesDeps, 'service' | 'urls' | 'bodyLimitBytes'>): Promise<void> {
  await app.register(async (files) => {
    installOpenAiErrors(files, deps.bodyLimitBytes);
    files.get<{ Params: { taskId: string; index: string }; Querystring: { expires?: string; signature?: string } }>('/v1/images/files/:taskId/:index', async (request, reply) => {
      const { taskId } = request.params;
      // Digits only: one spelling per URL (`1`, never `01` or `0x1`).
      const digits = (text: string | undefined) => (text !== undefined && /^\d{1,12}$/.test(text) ? Number(text) : null);
      const index = digits(request.params.index);
      const expires = digits(request.query.expires);
      const check = index !== null && expires !== null ? deps.urls.check(taskId, index, expires, request.query.signature ?? '') : 'forged';
      if (check === 'forged') throw new DanError('DAN_ERR_TASK_NOT_FOUND', 'this image link is not one this network made (its signature does not match)');
      if (check === 'expired') throw new DanError('DAN_ERR_TASK_NOT_FOUND', `this image link expired at ${new Date(expires! * 1000).toISOString()}; ask for the image again`);
      const image = (await deps.service.view(taskId)).images?.[index!];
      if (image === undefined) throw new DanError('DAN_ERR_TASK_NOT_FOUND', `task ${taskId} has no image ${index} (any more: results are kept for the gateway's retention time)`);
      const bytes = image instanceof Base64Image ? image.bytes : Buffer.from(image, 'base64');
      return reply
        .type(`image/${sniffImageFormat(bytes) ?? 'png'}`)
        .header('cache-control', 'private, max-age=3600')
        .send(bytes);
    });
  });
}
