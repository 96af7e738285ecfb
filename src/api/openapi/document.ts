/**
 * @module api/openapi/document
 *
 * The OpenAPI 3.1 document of the gateway's HTTP API, served at
 * `/openapi.json` and shown at `/docs`. Request bodies come from the schemas
 * the docs and a test tie to the parsers (api/requests/schemas.ts), answers
 * from response-schemas.ts, which a test checks real answers against; error
 * ids from the catalog. Written out here, route by route, rather than hung on
 * the routes: a route schema would make Fastify validate bodies itself, with
 * messages worse than the parsers'.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { errorCatalog, type ErrorId } from '../../errors/catalog.js';
import { errorAnswers } from '../error-answers.js';
import { requestSchemas } from '../requests/schemas.js';
import { keySettingRules } from '../requests/key-settings-request.js';
import { WebhookEvents } from '../requests/webhook-field.js';
import { a1111Paths } from './a1111-paths.js';
import { openAiPaths } from './openai-paths.js';
import * as R from './response-schemas.js';

type Operation = Record<string, unknown>;
type Kind = 'txt2img' | 'img2img' | 'interrogate' | 'upscale';

const Webhook = Type.Object(
  {
    url: Type.String({ format: 'uri', maxLength: 2048, description: 'http(s) URL on a public address' }),
    events: Type.Optional(Type.Array(Type.Union(WebhookEvents.map((e) => Type.Literal(e))), { minItems: 1, default: ['end'] })),
  },
  { additionalProperties: false, description: 'Post the task\'s end (and progress) here, signed with the key\'s secret (Standard Webhooks); needs an API key' },
);

const examples: Record<Kind, unknown> = {
  txt2img: { prompt: 'a red fox in the snow', model: 'clarity', steps: 20, width: 512, height: 512, seed: -1 },
  img2img: { prompt: 'a cat', model: 'clarity', init_image: 'data:image/png;base64,iVBORw0KGgo…', denoising_strength: 0.5 },
  interrogate: { image: 'iVBORw0KGgo…', model: 'clip' },
  upscale: { image: 'iVBORw0KGgo…', upscalingRate: 2, upscaler: 'Lanczos' },
};

const summaries: Record<Kind, string> = {
  txt2img: 'Generate images from a prompt',
  img2img: 'Generate from an image (with `inpaint`: inpainting)',
  interrogate: 'Describe an image (CLIP or DeepDanbooru)',
  upscale: 'Upscale an image',
};

function json(schema: TSchema, example?: unknown) {
  return { 'application/json': { schema, ...(example === undefined ? {} : { example }) } };
}

/** The error answers of an operation: each status with the ids it may carry. */
function errors(...ids: ErrorId[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorId[]>();
  for (const id of ids) byStatus.set(errorAnswers[id].status, [...(byStatus.get(errorAnswers[id].status) ?? []), id]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: list.map((id) => `\`${id}\`: ${errorCatalog[id].meaning}`).join('\n\n'), content: json(R.ErrorBody, { code: errorAnswers[list[0]!].code, error: list[0], message: '…' }) },
    ]),
  );
}

const CALLER_ERRORS: ErrorId[] = ['DAN_ERR_AUTH_KEY_REQUIRED', 'DAN_ERR_AUTH_KEY_INVALID', 'DAN_ERR_RATE_LIMITED', 'DAN_ERR_INTERNAL'];
const BODY_ERRORS: ErrorId[] = ['DAN_ERR_REQUEST_INVALID_JSON', 'DAN_ERR_REQUEST_INVALID_FIELD', 'DAN_ERR_REQUEST_UNKNOWN_FIELD', 'DAN_ERR_REQUEST_TOO_LARGE', 'DAN_ERR_REQUEST_UNSUPPORTED_MEDIA', 'DAN_ERR_REQUEST_TIMEOUT'];
const SUBMIT_ERRORS: ErrorId[] = [...CALLER_ERRORS, ...BODY_ERRORS, 'DAN_ERR_REQUEST_INVALID_IMAGE', 'DAN_ERR_KEY_NOT_ALLOWED', 'DAN_ERR_TASK_LIMIT', 'DAN_ERR_TASK_UNSERVABLE', 'DAN_ERR_IDEMPOTENCY_MISMATCH', 'DAN_ERR_STORE_UNAVAILABLE'];
const TASK_FAILURES: ErrorId[] = ['DAN_ERR_TASK_FAILED', 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED', 'DAN_ERR_TASK_TIMEOUT', 'DAN_ERR_TASK_CANCELLED'];
const ADMIN_ERRORS: ErrorId[] = ['DAN_ERR_AUTH_ADMIN_TOKEN', 'DAN_ERR_AUTH_ADMIN_OFF', 'DAN_ERR_INTERNAL'];

const rateHeaders = {
  'RateLimit-Limit': { schema: { type: 'integer' }, description: 'Requests a minute the caller may make' },
  'RateLimit-Remaining': { schema: { type: 'integer' }, description: 'Requests left in this minute' },
  'RateLimit-Reset': { schema: { type: 'integer' }, description: 'Seconds until the window starts again' },
};
const taskHeaders = {
  ...rateHeaders,
  'X-Task-Id': { schema: { type: 'string' }, description: 'The task\'s id' },
  'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] }, description: 'The Idempotency-Key named a task an earlier request made' },
};

const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'The same key and body within 24 h return the same task; the key with another body is a 422',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
};

const preferEarly = {
  name: 'Prefer',
  in: 'header',
  required: false,
  description:
    '`early-task-id`: send the status (200) and headers, X-Task-Id among them, as soon as the task is stored, and the body when it ends. ' +
    'The body\'s `code` then tells the outcome: 200 with the images, 202 when the sync timeout passed, an error envelope otherwise',
  schema: { type: 'string' },
  example: 'early-task-id',
};

const taskIdParameter = { name: 'taskId', in: 'path', required: true, schema: requestSchemas.taskId.properties.taskId };
const keyIdParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

const caller = { security: [{}, { apiKey: [] }], tags: ['tasks'] };

function submit(kind: Kind, sync: boolean): Operation {
  const body = Type.Object({ ...requestSchemas[kind].properties, webhook: Type.Optional(Webhook) }, { additionalProperties: false });
  return {
    ...caller,
    operationId: `${kind}${sync ? '' : 'Async'}`,
    summary: `${summaries[kind]}${sync ? ', and wait for the result' : '; answers at once with the task id'}`,
    parameters: sync ? [idempotencyKey, preferEarly] : [idempotencyKey],
    requestBody: { required: true, content: json(body, examples[kind]) },
    responses: {
      '200': {
        description: sync
          ? 'The finished task with its result. Under `Prefer: early-task-id`, every outcome: its body is the 202 or error envelope when the task did not succeed'
          : 'The task as stored: queued (with position and ETA) or running',
        headers: sync ? { ...taskHeaders, 'Preference-Applied': { schema: { type: 'string', enum: ['early-task-id'] }, description: 'The headers were sent before the wait' } } : taskHeaders,
        content: json(sync ? Type.Union([R.success(R.TaskView), R.Accepted, R.ErrorBody]) : R.success(R.TaskView), sync ? { code: 200, message: 'success', data: { taskId: '8a7c…', status: 2, queuePosition: 0, images: ['iVBORw0…'], seeds: [1234] } } : { code: 200, message: 'success', data: { taskId: '8a7c…', status: 0, queuePosition: 3, eta: 12.5 } }),
      },
      ...(sync ? { '202': { description: 'Not finished within the sync timeout: poll its status', headers: taskHeaders, content: json(R.Accepted) } } : {}),
      ...errors(...SUBMIT_ERRORS, ...(sync ? TASK_FAILURES : [])),
    },
  };
}

const statusResponses = {
  '200': { description: 'The task\'s status; its result once it succeeded', headers: rateHeaders, content: json(R.success(R.TaskView)) },
  ...errors(...CALLER_ERRORS, 'DAN_ERR_TASK_NOT_FOUND', 'DAN_ERR_REQUEST_INVALID_FIELD'),
};

function adminOperation(summary: string, operationId: string, data: TSchema, more: Operation = {}, extraErrors: ErrorId[] = []): Operation {
  return { security: [{ adminToken: [] }], tags: ['admin'], summary, operationId, ...more, responses: { '200': { description: 'Done', content: json(R.success(data)) }, ...errors(...ADMIN_ERRORS, ...extraErrors) } };
}

const KeySettings = Type.Object(
  {
    name: Type.Optional(Type.String({ ...keySettingRules.name, minLength: 1 })),
    maxTasks: Type.Optional(R.KeyLimits.properties.maxTasks),
    requestsPerMinute: Type.Optional(R.KeyLimits.properties.requestsPerMinute),
    maxPixels: Type.Optional(R.KeyLimits.properties.maxPixels),
    maxSteps: Type.Optional(R.KeyLimits.properties.maxSteps),
    weight: Type.Optional(R.KeyLimits.properties.weight),
    models: Type.Optional(R.KeyLimits.properties.models),
  },
  { additionalProperties: false },
);

/** The document; built once. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const kinds: Kind[] = ['txt2img', 'img2img', 'interrogate', 'upscale'];
  const paths: Record<string, Record<string, Operation>> = {};
  for (const kind of kinds) {
    paths[`/api/sd/${kind}`] = { post: submit(kind, true) };
    paths[`/api/sd/${kind}/async`] = { post: submit(kind, false) };
  }
  paths['/api/sd/task/status'] = { post: { ...caller, operationId: 'taskStatus', summary: 'A task\'s status and result', requestBody: { required: true, content: json(requestSchemas.taskId) }, responses: statusResponses } };
  paths['/api/sd/task/cancel'] = {
    post: { ...caller, operationId: 'cancelTask', summary: 'Cancel a queued or running task', requestBody: { required: true, content: json(requestSchemas.taskId) }, responses: { ...statusResponses, ...errors(...CALLER_ERRORS, 'DAN_ERR_TASK_NOT_FOUND', 'DAN_ERR_TASK_NOT_CANCELLABLE') } },
  };
  paths['/api/sd/task/{taskId}'] = { get: { ...caller, operationId: 'getTask', summary: 'A task\'s status and result', parameters: [taskIdParameter], responses: statusResponses } };
  paths['/api/sd/task/{taskId}/events'] = {
    get: {
      ...caller,
      operationId: 'taskEvents',
      summary: 'Follow a task as Server-Sent Events: `status` on each change, `end` with the result',
      parameters: [taskIdParameter, { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'Resume: the status already seen is not sent again; `end` answers 204' }],
      responses: {
        '200': { description: 'A stream of `status` events and one `end` event, each `data` a task status document', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        '204': { description: 'The client already saw the end (Last-Event-ID: end)' },
        ...errors(...CALLER_ERRORS, 'DAN_ERR_TASK_NOT_FOUND'),
      },
    },
  };
  paths['/api/sd/supportedModelInfo'] = { get: { ...caller, tags: ['network'], operationId: 'supportedModelInfo', summary: 'Models, LoRAs, samplers, upscalers and ControlNet the network offers now', responses: { '200': { description: 'What may be asked for', content: json(R.success(R.SupportedInfo)) }, ...errors(...CALLER_ERRORS) } } };
  paths['/api/keys/me'] = { get: { ...caller, tags: ['keys'], operationId: 'me', summary: 'The caller\'s key, limits and usage', responses: { '200': { description: 'About the caller', headers: rateHeaders, content: json(R.success(R.Me)) }, ...errors(...CALLER_ERRORS) } } };
  paths['/api/webhooks/deliveries'] = { get: { ...caller, tags: ['keys'], operationId: 'webhookDeliveries', summary: 'The caller\'s last 100 webhook deliveries', responses: { '200': { description: 'Newest first', content: json(R.success(R.Deliveries)) }, ...errors(...CALLER_ERRORS) } } };
  paths['/api/user/public-api-key'] = { get: { tags: ['keys'], operationId: 'publicApiKey', summary: 'The key anonymous clients send', responses: { '200': { description: 'The public key', content: json(R.success(R.PublicKey)) }, ...errors('DAN_ERR_AUTH_KEY_REQUIRED') } } };
  paths['/api/health'] = { get: { tags: ['network'], operationId: 'health', summary: 'Whether the network can serve, and the gateway\'s load', responses: { '200': { description: 'Health', content: json(R.success(R.Health)) } } } };
  paths['/api/nodes'] = { get: { tags: ['network'], operationId: 'nodes', summary: 'The connected nodes', responses: { '200': { description: 'Nodes', content: json(R.success(R.NodeList)) } } } };
  paths['/api/network'] = {
    get: {
      tags: ['network'],
      operationId: 'network',
      summary: 'The queue, the last hour a minute at a time, and the tasks that ended lately (no prompts, no owners)',
      responses: { '200': { description: 'The network at work', content: json(R.success(R.Network)) } },
    },
  };
  paths['/healthz'] = { get: { tags: ['operations'], operationId: 'healthz', summary: 'The process answers (liveness)', responses: { '200': { description: 'Up', content: json(Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false })) } } } };
  const Readiness = Type.Object({ ready: Type.Boolean(), problems: Type.Array(Type.String()) }, { additionalProperties: false });
  paths['/readyz'] = {
    get: { tags: ['operations'], operationId: 'readyz', summary: 'The store answers and some node can serve (readiness)', responses: { '200': { description: 'Ready', content: json(Readiness) }, '503': { description: 'Not ready: the problems say why', content: json(Readiness) } } },
  };
  paths['/metrics'] = {
    get: {
      tags: ['operations'],
      operationId: 'metrics',
      summary: 'Prometheus metrics (behind the admin token when the gateway has one)',
      security: [{}, { adminToken: [] }],
      responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors('DAN_ERR_AUTH_ADMIN_TOKEN') },
    },
  };
  paths['/api/admin/keys'] = {
    get: adminOperation('List the API keys', 'listKeys', Type.Array(R.KeyInfo)),
    post: adminOperation('Make an API key; the answer holds its secret, once', 'createKey', R.CreatedKey, { requestBody: { required: true, content: json(KeySettings, { name: 'alice', requestsPerMinute: 120 }) } }, BODY_ERRORS),
  };
  paths['/api/admin/keys/{id}'] = {
    get: adminOperation('An API key', 'getKey', R.KeyInfo, { parameters: [keyIdParameter] }, ['DAN_ERR_KEY_NOT_FOUND']),
    patch: adminOperation('Change an API key\'s name or limits', 'setKey', R.KeyInfo, { parameters: [keyIdParameter], requestBody: { required: true, content: json(KeySettings, { requestsPerMinute: 300 }) } }, ['DAN_ERR_KEY_NOT_FOUND', ...BODY_ERRORS]),
    delete: adminOperation('Revoke an API key for good', 'revokeKey', R.KeyInfo, { parameters: [keyIdParameter] }, ['DAN_ERR_KEY_NOT_FOUND']),
  };
  paths['/api/admin/node-tokens'] = {
    get: adminOperation('List the node tokens', 'listNodeTokens', Type.Array(R.NodeToken)),
    post: adminOperation('Make a node token for a GPU owner; the answer holds its secret, once', 'createNodeToken', R.CreatedNodeToken, { requestBody: { required: true, content: json(Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }), { name: 'alice' }) } }, BODY_ERRORS),
  };
  paths['/api/admin/node-tokens/{id}'] = { delete: adminOperation('Revoke a node token; its nodes are disconnected', 'revokeNodeToken', R.NodeToken, { parameters: [keyIdParameter] }, ['DAN_ERR_KEY_NOT_FOUND']) };
  Object.assign(paths, openAiPaths(), a1111Paths());
  return {
    openapi: '3.1.0',
    info: {
      title: 'DAN gateway API',
      version,
      description:
        'A Stable Diffusion computing network: submit txt2img, img2img (inpainting, ControlNet), interrogation and upscaling tasks; the gateway runs them on GPU nodes. Errors are `{code, error, message, field?}` with a stable `error` id; keys, limits and webhooks are described in the repository\'s docs/.',
    },
    tags: [
      { name: 'tasks', description: 'Submit tasks and follow them' },
      { name: 'network', description: 'What the network offers' },
      { name: 'keys', description: 'The caller\'s key and webhooks' },
      { name: 'admin', description: 'Keys and node tokens (admin token)' },
      { name: 'operations', description: 'Probes and metrics' },
      { name: 'webui', description: 'The AUTOMATIC1111-compatible API: WebUI clients, and DAN nodes using this network as their WebUI' },
      { name: 'openai', description: 'The OpenAI-compatible images API: the openai SDKs and the apps built on them, with OpenAI\'s shapes and errors' },
    ],
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'Authorization', description: '`Bearer <key>` or the bare key. Without one the caller is anonymous (where the gateway allows it)' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The gateway\'s --admin-token' },
      },
      schemas: { Error: R.ErrorBody, TaskStatus: R.TaskView },
    },
    paths,
  };
}
