/**
 * @module api/openapi/openai-paths
 *
 * The OpenAI-compatible images API (`/v1`, api/openai) in the OpenAPI
 * document: what DAN takes and answers there, in OpenAI's shapes. Field by
 * field mapping: docs/openai-api.md.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { errorCatalog, type ErrorId } from '../../errors/catalog.js';
import { errorAnswers } from '../error-answers.js';

const ErrorIds = Type.Union((Object.keys(errorCatalog) as ErrorId[]).map((id) => Type.Literal(id)));

const OpenAiError = Type.Object(
  {
    error: Type.Object(
      {
        message: Type.String(),
        type: Type.Union(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'rate_limit_error', 'server_error'].map((t) => Type.Literal(t))),
        param: Type.Union([Type.String(), Type.Null()], { description: 'The request field at fault (`size` for width and height)' }),
        code: ErrorIds,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const ImagesResponse = Type.Object(
  {
    created: Type.Integer({ description: 'Unix seconds' }),
    data: Type.Array(
      Type.Union([
        Type.Object({ b64_json: Type.String({ description: 'The image (PNG), base64' }) }, { additionalProperties: false }),
        Type.Object({ url: Type.String({ description: 'GET it without a key within an hour' }) }, { additionalProperties: false }),
      ]),
    ),
  },
  { additionalProperties: false },
);

const common = {
  model: Type.Optional(Type.String({ description: 'A checkpoint (name or sha256), or a name the operator maps to one (--openai-models); default: --default-model, else the first checkpoint a node serves' })),
  n: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 1, description: 'Images, each a task of its own, spread over the nodes' })),
  size: Type.Optional(Type.String({ pattern: '^(\\d+x\\d+|auto)$', description: '`WIDTHxHEIGHT` within the gateway\'s limits (multiples of 8)' })),
  response_format: Type.Optional(Type.Union([Type.Literal('b64_json'), Type.Literal('url')], { default: 'b64_json' })),
  quality: Type.Optional(Type.Union(['low', 'medium', 'standard', 'auto', 'high', 'hd'].map((q) => Type.Literal(q)), { description: 'Steps, unless `steps` is given: low 15, high and hd 40, the others DAN\'s default' })),
  user: Type.Optional(Type.String({ description: 'Accepted, not used' })),
  negative_prompt: Type.Optional(Type.String()),
  seed: Type.Optional(Type.Integer({ description: 'The first image\'s seed; the others follow (seed + 1, …); -1 or none: random' })),
  steps: Type.Optional(Type.Integer()),
  cfg_scale: Type.Optional(Type.Number()),
  sampler_name: Type.Optional(Type.String()),
};

/** `stream` and `partial_images`, on generations and edits (api/openai/image-stream.ts). */
const streaming = {
  stream: Type.Optional(Type.Boolean({ default: false, description: 'Answer with OpenAI\'s Server-Sent Events: `image_generation.partial_image` (edits: `image_edit.…`) for the node\'s live previews, `….completed` for each image as its task ends, `error` if one fails' })),
  partial_images: Type.Optional(Type.Integer({ minimum: 0, maximum: 3, default: 0, description: 'With `stream` and `n` 1: at most this many previews before the image (where the WebUI makes previews)' })),
};

const Generation = Type.Object(
  {
    prompt: Type.String({ minLength: 1 }),
    ...common,
    style: Type.Optional(Type.Union([Type.Literal('vivid'), Type.Literal('natural')], { description: 'Accepted, not used' })),
    loras: Type.Optional(Type.Array(Type.Object({ name: Type.String(), weight: Type.Optional(Type.Number()) }))),
    output_format: Type.Optional(Type.Literal('png')),
    background: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('opaque')])),
    moderation: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('low')], { description: 'Accepted, not used' })),
    ...streaming,
  },
  { description: 'DAN\'s other txt2img fields (control_net, upscale, …) are taken as extra fields too' },
);

const formFile = (description: string): TSchema => Type.String({ format: 'binary', description });

const Edit = Type.Object({
  image: formFile('The image to edit (PNG, JPEG or WebP); `image[]`: the first is used'),
  mask: Type.Optional(formFile('A PNG whose transparent pixels mark the area to repaint (inpainting); without it, img2img of the whole image')),
  prompt: Type.String({ minLength: 1 }),
  ...common,
  denoising_strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  ...streaming,
});

const Variation = Type.Object({
  image: formFile('The image to vary'),
  ...common,
  prompt: Type.Optional(Type.String({ description: 'Not OpenAI\'s: a prompt to vary towards (default none)' })),
  denoising_strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.6 })),
});

const Model = Type.Object({ id: Type.String(), object: Type.Literal('model'), created: Type.Integer(), owned_by: Type.String() }, { additionalProperties: false });
const Models = Type.Object({ object: Type.Literal('list'), data: Type.Array(Model) }, { additionalProperties: false });

function openAiErrors(...ids: ErrorId[]): Record<string, unknown> {
  const statuses = [...new Set(ids.map((id) => errorAnswers[id].status))];
  return Object.fromEntries(
    statuses.map((status) => [
      String(status),
      {
        description: ids
          .filter((id) => errorAnswers[id].status === status)
          .map((id) => `\`${id}\``)
          .join(', '),
        content: { 'application/json': { schema: OpenAiError } },
      },
    ]),
  );
}

const CALLER: ErrorId[] = ['DAN_ERR_AUTH_KEY_REQUIRED', 'DAN_ERR_AUTH_KEY_INVALID', 'DAN_ERR_RATE_LIMITED', 'DAN_ERR_INTERNAL'];
const IMAGE_ERRORS: ErrorId[] = [
  ...CALLER,
  'DAN_ERR_REQUEST_INVALID_JSON',
  'DAN_ERR_REQUEST_INVALID_FIELD',
  'DAN_ERR_REQUEST_UNKNOWN_FIELD',
  'DAN_ERR_REQUEST_INVALID_IMAGE',
  'DAN_ERR_REQUEST_TOO_LARGE',
  'DAN_ERR_KEY_NOT_ALLOWED',
  'DAN_ERR_TASK_LIMIT',
  'DAN_ERR_TASK_UNSERVABLE',
  'DAN_ERR_IDEMPOTENCY_MISMATCH',
  'DAN_ERR_STORE_UNAVAILABLE',
  'DAN_ERR_TASK_FAILED',
  'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED',
  'DAN_ERR_TASK_TIMEOUT',
  'DAN_ERR_TASK_CANCELLED',
  'DAN_ERR_WAIT_TIMEOUT',
  'DAN_ERR_GATEWAY_STOPPING',
];

const caller = { tags: ['openai'], security: [{}, { apiKey: [] }] };
const idempotencyKey = { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' }, description: 'Makes a retry safe: the same key answers with the same tasks\' images (the openai SDK sends none unless told to)' };
const images = { '200': { description: 'The images', content: { 'application/json': { schema: ImagesResponse } } }, ...openAiErrors(...IMAGE_ERRORS) };
/** Generations and edits: JSON, or with `stream: true` OpenAI's event stream. */
const streamedImages = {
  ...images,
  '200': {
    description: 'The images; with `stream: true`, a stream of events whose `data` is JSON with a `type` (the event\'s name) and the image in `b64_json`, or an `error` in OpenAI\'s shape',
    content: { 'application/json': { schema: ImagesResponse }, 'text/event-stream': { schema: { type: 'string' } } },
  },
};

export function openAiPaths(): Record<string, Record<string, unknown>> {
  return {
    '/v1/images/generations': {
      post: { ...caller, operationId: 'openaiGenerate', summary: 'OpenAI-compatible: make images from a prompt (txt2img)', parameters: [idempotencyKey], requestBody: { required: true, content: { 'application/json': { schema: Generation } } }, responses: streamedImages },
    },
    '/v1/images/edits': {
      post: { ...caller, operationId: 'openaiEdit', summary: 'OpenAI-compatible: edit an image (img2img), or repaint its transparent mask pixels (inpainting)', parameters: [idempotencyKey], requestBody: { required: true, content: { 'multipart/form-data': { schema: Edit } } }, responses: streamedImages },
    },
    '/v1/images/variations': {
      post: { ...caller, operationId: 'openaiVariation', summary: 'OpenAI-compatible: variations of an image (img2img)', parameters: [idempotencyKey], requestBody: { required: true, content: { 'multipart/form-data': { schema: Variation } } }, responses: images },
    },
    '/v1/models': {
      get: { ...caller, operationId: 'openaiModels', summary: 'OpenAI-compatible: the checkpoints the network serves now, and the names mapped to them', responses: { '200': { description: 'Models', content: { 'application/json': { schema: Models } } }, ...openAiErrors(...CALLER) } },
    },
    '/v1/models/{model}': {
      get: {
        ...caller,
        operationId: 'openaiModel',
        summary: 'OpenAI-compatible: one model the network serves now (the SDK\'s `models.retrieve`)',
        parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Model', content: { 'application/json': { schema: Model } } }, ...openAiErrors(...CALLER, 'DAN_ERR_MODEL_NOT_FOUND') },
      },
    },
    '/v1/images/files/{taskId}/{index}': {
      get: {
        tags: ['openai'],
        operationId: 'openaiImageFile',
        summary: 'An image a `response_format: "url"` answer named: the signed URL is its own credential, for an hour',
        parameters: [
          { name: 'taskId', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'index', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } },
          { name: 'expires', in: 'query', required: true, schema: { type: 'integer' } },
          { name: 'signature', in: 'query', required: true, schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'The image', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, ...openAiErrors('DAN_ERR_TASK_NOT_FOUND') },
      },
    },
  };
}
