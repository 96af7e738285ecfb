/**
 * @module api/openapi/response-schemas
 *
 * JSON schemas (TypeBox) of what the API answers, for the OpenAPI document.
 * test/api/openapi.test.ts checks real answers of every endpoint against
 * them, so a change of an answer that is not made here too fails the suite.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { BackendKindField } from '../../domain/capabilities.js';
import { ModelFamilyField } from '../../domain/families.js';
import { errorCatalog } from '../../errors/catalog.js';
import { keySettingRules } from '../requests/key-settings-request.js';

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const closed = { additionalProperties: false } as const;

/** `{code: 200, data, message: "success"}`. */
export function success(data: TSchema) {
  return Type.Object({ code: Type.Literal(200), data, message: Type.Literal('success') }, closed);
}

export const ErrorBody = Type.Object(
  {
    code: Type.Integer({ description: 'The original deployment\'s numeric family: 1000 permission, 2000 resource unavailable, 3000 invalid argument, 3002 too many, 4001 node error, 4002 cancelled' }),
    error: Type.Union(Object.keys(errorCatalog).map((id) => Type.Literal(id)), { description: 'Stable error id (docs/errors.md)' }),
    message: Type.String({ description: 'What is wrong, the value received and what is allowed' }),
    field: Type.Optional(Type.String({ description: 'The request field at fault, as a dotted path' })),
    taskId: Type.Optional(Type.String({ description: 'The task the error is about' })),
  },
  { ...closed, title: 'Error' },
);

export const TaskView = Type.Object(
  {
    taskId: Type.String(),
    status: Type.Integer({ minimum: 0, maximum: 4, description: '0 queued, 1 running, 2 succeeded, 3 failed, 4 cancelled' }),
    queuePosition: Type.Integer({ minimum: 0, description: 'Tasks served before this one; 0 once it runs' }),
    progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'While running' })),
    eta: Type.Optional(nullable(Type.Number({ minimum: 0, description: 'Seconds until it starts (queued) or ends (running)' }))),
    images: Type.Optional(Type.Array(Type.String({ contentEncoding: 'base64', contentMediaType: 'image/png' }), { description: 'Base64 PNGs, no data: prefix' })),
    seeds: Type.Optional(Type.Array(Type.Integer())),
    caption: Type.Optional(Type.String()),
    message: Type.Optional(Type.String({ description: 'Why it failed or was cancelled; while queued, why no node can serve it now; while running, that its node holds it ready behind another task and it has not begun' })),
    error: Type.Optional(Type.String({ description: 'The error id of a failed or cancelled task' })),
  },
  { ...closed, title: 'TaskStatus' },
);

const NameInfo = Type.Object({ name: Type.String(), available: Type.Boolean() }, closed);
const ResourceInfo = Type.Object(
  {
    name: Type.String(),
    family: nullable(ModelFamilyField),
    hash: nullable(Type.String()),
    available: Type.Boolean(),
    nodes: Type.Integer({ minimum: 0 }),
    download: nullable(Type.String()),
  },
  closed,
);
const ControlNetModelInfo = Type.Object({ name: Type.String(), family: nullable(ModelFamilyField), available: Type.Boolean() }, closed);
const FamilyInfo = Type.Object(
  {
    name: ModelFamilyField,
    label: Type.String({ description: 'As people write it: SD 1.5, SDXL, Flux.1, Flux.2, Qwen-Image, Z-Image-Turbo, FLUX.1 Kontext, Qwen-Image-Edit' }),
    article: Type.Union([Type.Literal('a'), Type.Literal('an')]),
    nativeSide: Type.Integer({ description: 'The default width and height' }),
    defaultSampler: Type.String(),
    guidance: Type.Union([Type.Literal('cfg'), Type.Literal('distilled'), Type.Literal('none')], {
      description: 'cfg: cfg_scale and a negative prompt; distilled: guidance, cfg_scale 1 only, no negative prompt; none: cfg_scale 1 only, no guidance, no negative prompt',
    }),
    defaultCfgScale: Type.Number(),
    defaultGuidance: nullable(Type.Number()),
    defaultSteps: Type.Integer(),
    sideMultiple: Type.Integer({ description: 'Width and height are rounded down to a multiple of it' }),
    controlNet: Type.Boolean({ description: 'Whether control_net may be used with its models' }),
    loraFamilies: Type.Array(ModelFamilyField, { description: 'The families whose LoRAs its models take: its own; FLUX.1 Kontext also Flux.1\'s' }),
    edits: Type.Boolean({ description: 'An edit model (FLUX.1 Kontext, Qwen-Image-Edit): img2img only, the image to edit as init_image and the edit as prompt; no denoising_strength but 1, no inpaint; by default the edit size nearest the image\'s aspect' }),
    backends: Type.Union([Type.Literal('any'), Type.Literal('forge-or-comfyui'), Type.Literal('comfyui')], { description: 'Which nodes run it' }),
  },
  closed,
);
const NodeCounts = Type.Object({ connected: Type.Integer({ minimum: 0 }), ready: Type.Integer({ minimum: 0 }) }, closed);

export const SupportedInfo = Type.Object(
  {
    Models: Type.Array(ResourceInfo),
    LoRAs: Type.Array(ResourceInfo),
    Samplers: Type.Array(NameInfo),
    HiresUpscalers: Type.Array(NameInfo),
    Upscalers: Type.Array(NameInfo),
    ControlNet: Type.Object({ models: Type.Array(ControlNetModelInfo), preprocessors: Type.Array(NameInfo) }, closed),
    Interrogators: Type.Array(NameInfo),
    Families: Type.Array(FamilyInfo, { description: 'Every model family: the defaults and rules a request for one of its models is read with' }),
    nodes: NodeCounts,
  },
  { ...closed, title: 'SupportedModelInfo' },
);

const Spread = nullable(
  Type.Object({ samples: Type.Integer(), p50: Type.Number(), p95: Type.Number(), p99: Type.Number(), max: Type.Number() }, closed),
);

export const Health = Type.Object(
  {
    status: Type.Literal('ok'),
    canServe: Type.Boolean({ description: 'Whether some node can run tasks now' }),
    problem: nullable(Type.String({ description: 'Why not' })),
    nodes: NodeCounts,
    queued: Type.Integer({ minimum: 0 }),
    running: Type.Integer({ minimum: 0 }),
    overheadMs: Type.Object({ dispatch: Spread, relay: Spread }, closed),
    eventLoopDelayMs: Spread,
    storage: nullable(
      Type.Object(
        {
          kind: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')]),
          reachable: Type.Boolean({ description: 'Whether the store answered lately' }),
          problem: nullable(Type.String({ description: 'Why not' })),
          gateways: nullable(
            Type.Object(
              {
                self: Type.String({ description: "This gateway's id (gw_…, new at every start)" }),
                leader: Type.Boolean({ description: 'Whether this gateway does the periodic work (retention)' }),
                seen: Type.Array(Type.Object({ id: Type.String(), leader: Type.Boolean(), seenSecondsAgo: Type.Number({ minimum: 0 }) }, closed), {
                  description: 'The gateways sharing the database seen lately, this one included',
                }),
              },
              { ...closed, description: 'On a PostgreSQL database several gateways share' },
            ),
          ),
        },
        closed,
      ),
    ),
  },
  closed,
);

export const NodeList = Type.Array(
  Type.Object(
    {
      id: Type.String(),
      name: Type.String(),
      state: Type.Union(['ready', 'busy', 'webui-down', 'draining', 'set-aside', 'reconnecting'].map((s) => Type.Literal(s))),
      slots: Type.Integer({ minimum: 1 }),
      /** Tasks it holds ready beyond its slots; `running` counts them too. */
      prefetch: Type.Integer({ minimum: 0 }),
      running: Type.Integer({ minimum: 0 }),
      loadedModel: nullable(Type.String()),
      models: Type.Array(Type.String()),
      itPerSecond: nullable(Type.Number()),
      fixedSeconds: nullable(Type.Number()),
      switchSeconds: nullable(Type.Number()),
      loadSeconds: Type.Record(Type.String(), Type.Number()),
      problem: nullable(Type.String()),
      setAsideUntil: nullable(Type.String({ format: 'date-time' })),
      agent: Type.String({ description: 'The node program and version' }),
      backend: BackendKindField,
      done: Type.Integer({ minimum: 0, description: 'Tasks it finished since the gateway started' }),
      failed: Type.Integer({ minimum: 0, description: 'Attempts that failed on it (cancels not counted)' }),
      current: Type.Array(Type.Object({ progress: Type.Number({ minimum: 0, maximum: 1 }), seconds: Type.Integer({ minimum: 0 }) }, closed), { description: 'What it runs now' }),
      gateway: nullable(Type.String({ description: 'The gateway it is connected to when that is another one sharing the database (its id, as /api/health shows it; these fields are then a few seconds old); null: this gateway' })),
    },
    closed,
  ),
);

export const Network = Type.Object(
  {
    queue: Type.Object(
      {
        queued: Type.Integer({ minimum: 0 }),
        running: Type.Integer({ minimum: 0 }),
        oldestWaitSeconds: nullable(Type.Integer({ minimum: 0, description: 'How long the longest-waiting queued task has waited' })),
        byCheckpoint: Type.Array(Type.Object({ model: Type.String({ description: 'Empty for tasks without a checkpoint' }), queued: Type.Integer({ minimum: 0 }) }, closed)),
      },
      closed,
    ),
    lastHour: Type.Array(
      Type.Object({ at: Type.String({ format: 'date-time' }), images: Type.Integer({ minimum: 0 }), failed: Type.Integer({ minimum: 0 }), queued: Type.Integer({ minimum: 0 }) }, closed),
      { description: 'Sixty minutes, oldest first: images made, tasks failed, the queue\'s longest length' },
    ),
    recent: Type.Array(
      Type.Object(
        {
          kind: nullable(Type.String()),
          model: nullable(Type.String()),
          state: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]),
          width: nullable(Type.Integer()),
          height: nullable(Type.Integer()),
          seconds: nullable(Type.Number({ minimum: 0, description: 'From submit to end' })),
          endedAt: Type.String({ format: 'date-time' }),
        },
        closed,
      ),
      { description: 'The last 20 tasks that ended, newest first' },
    ),
  },
  { ...closed, title: 'Network' },
);

export const KeyLimits = Type.Object(
  {
    maxTasks: Type.Integer({ ...keySettingRules.maxTasks, description: 'Unfinished tasks at once; 0 = no limit' }),
    requestsPerMinute: Type.Integer({ ...keySettingRules.requestsPerMinute, description: '0 = no limit' }),
    maxPixels: Type.Integer({ ...keySettingRules.maxPixels, description: 'Largest image made; 0 = the gateway\'s limits' }),
    maxSteps: Type.Integer({ ...keySettingRules.maxSteps, description: '0 = the gateway\'s limits' }),
    weight: Type.Number({ ...keySettingRules.weight, description: 'Share of the GPUs when busy, relative to other keys' }),
    models: nullable(Type.Array(Type.String(), { description: 'Checkpoints the key may use; null = any' })),
  },
  closed,
);

export const KeyInfo = Type.Object(
  {
    id: Type.String({ pattern: '^key_' }),
    kind: Type.Literal('api'),
    name: Type.String(),
    prefix: Type.String({ description: 'The first characters of the secret' }),
    webhookSecret: Type.String({ pattern: '^whsec_' }),
    limits: KeyLimits,
    createdAt: Type.Integer({ description: 'Epoch ms' }),
    revokedAt: nullable(Type.Integer()),
  },
  { ...closed, title: 'ApiKey' },
);

export const CreatedKey = Type.Composite([KeyInfo, Type.Object({ secret: Type.String({ pattern: '^sk-', description: 'Shown once' }) })], closed);

export const NodeToken = Type.Object(
  { id: Type.String({ pattern: '^nt_' }), name: Type.String(), prefix: Type.String(), createdAt: Type.Integer(), revokedAt: nullable(Type.Integer()) },
  { ...closed, title: 'NodeToken' },
);

export const CreatedNodeToken = Type.Composite([NodeToken, Type.Object({ secret: Type.String({ pattern: '^dnt-' }) })], closed);

export const Me = Type.Object(
  {
    key: nullable(KeyInfo),
    anonymous: Type.Boolean(),
    limits: KeyLimits,
    usage: Type.Object({ unfinishedTasks: Type.Integer({ minimum: 0 }), requestsLeftThisMinute: nullable(Type.Integer()) }, closed),
  },
  closed,
);

export const Deliveries = Type.Array(
  Type.Object(
    {
      id: Type.String({ pattern: '^msg_' }),
      taskId: Type.String(),
      url: Type.String(),
      state: Type.Union(['waiting', 'pending', 'delivered', 'failed'].map((s) => Type.Literal(s))),
      attempts: Type.Integer({ minimum: 0 }),
      nextAt: nullable(Type.Integer()),
      lastStatus: nullable(Type.Integer()),
      lastError: nullable(Type.String()),
      createdAt: Type.Integer(),
      finishedAt: nullable(Type.Integer()),
    },
    closed,
  ),
);

export const PublicKey = Type.Object({ apiKey: Type.String() }, closed);

/** A sync answer still unfinished at the sync timeout: 202 with the status to poll. */
export const Accepted = Type.Object({ code: Type.Literal(202), data: TaskView, message: Type.String() }, closed);
