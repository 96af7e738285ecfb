/**
 * @module api/build-app
 *
 * Builds the gateway's Fastify app from already-made parts, without listening:
 * `gateway/gateway.ts` listens; the route tests `inject` into it (test/api/).
 */
import { A1111Callers } from './a1111/a1111-callers.js';
import type { CallerDefaults } from '../store/caller-defaults.js';
import { registerA1111Routes } from './a1111/a1111-routes.js';
import type { ImageUrls } from './openai/image-urls.js';
import type { ModelChoice } from './openai/openai-requests.js';
import { registerImageFiles, registerOpenAiRoutes } from './openai/openai-routes.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { NodeHub } from '../network/node-hub.js';
import { registerNodeRoute } from '../network/node-route.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { DAN_VERSION } from '../util/version.js';
import { buildOpenApiDocument } from './openapi/document.js';
import { corsOriginsOf } from '../config/gateway-config.js';
import type { NetworkCatalog } from '../gateway/network-catalog.js';
import type { NodeDirectory } from '../gateway/node-directory.js';
import type { NetworkView } from '../gateway/network-view.js';
import type { EventLoopMeter } from '../gateway/event-loop-meter.js';
import type { OverheadMeter } from '../gateway/overhead-meter.js';
import type { TaskService } from '../gateway/task-service.js';
import { BufferPool } from '../util/buffer-pool.js';
import { toJsonBody } from '../util/json-buffer.js';
import { parseJsonBody } from './json-body.js';
import { clientErrorAnswer, type DoorShape, installErrorHandlers, routerErrorAnswer } from './error-handler.js';
import { limitBodiesInFlight, limitConnections, reportAcceptErrors } from './address-limits.js';
import { continueAfterChecks } from './expect-continue.js';
import { admitBodiesInTurns } from './turn-admission.js';
import { sendA1111Error } from './a1111/a1111-errors.js';
import { sendOpenAiError } from './openai/openai-errors.js';
import { success } from './envelope.js';
import type { KeyAdmin } from '../auth/key-admin.js';
import { adminTokenCheck, type AuthOptions, registerCallerAuth } from './auth.js';
import { registerCors } from './cors.js';
import { registerWebApp } from './web-app.js';
import { DanError } from '../errors/dan-error.js';
import type { GatewayMetrics } from '../gateway/metrics.js';
import { registerAdminRoutes } from './routes/admin-routes.js';
import { registerSdRoutes } from './routes/sd-routes.js';
import { registerTaskEvents } from './routes/task-events.js';
import { registerDeliveryLog } from './routes/webhook-routes.js';
import type { DeliveryStore } from '../webhooks/delivery-store.js';
import { registerCallerRoutes, registerPublicKeyRoute } from './routes/user-routes.js';

/** The store as /api/health shows it (no address: the answer is public). */
export interface StorageHealth {
  kind: 'sqlite' | 'postgres';
  /** Whether the store answered lately; `problem` says why not. */
  reachable: boolean;
  problem: string | null;
  /** On a shared database: this gateway, whether it does the periodic work, and the gateways seen lately. */
  gateways: { self: string; leader: boolean; seen: { id: string; leader: boolean; seenSecondsAgo: number }[] } | null;
}

export interface AppDeps {
  service: TaskService;
  catalog: NetworkCatalog;
  /** The connected nodes, for `GET /api/nodes`. */
  nodes: NodeDirectory;
  /** The queue, the last hour and the tasks ended lately, for the dashboard (`GET /api/network`). */
  network?: NetworkView;
  /** Node sockets are handed to it. */
  hub: NodeHub;
  /**
   * Whether a node connection of that id is one of the network's: this gateway's, or another's sharing its
   * database (a node that took a gateway of its own network for its WebUI). @defaultValue this gateway's
   */
  isNetworkNode?: (nodeId: string) => boolean;
  /** Who may call, and with which limits (api/auth.ts). */
  auth: AuthOptions;
  /** Behind the admin API. */
  keyAdmin: KeyAdmin;
  /** The admin API's token; null turns it off. */
  adminToken: string | null;
  /** Webhook deliveries, for a key's delivery log. */
  deliveries: DeliveryStore;
  /** The checkpoint each caller chose through the WebUI-compatible API. */
  callerDefaults: CallerDefaults;
  /** Webhooks may go to private and local addresses. @defaultValue false */
  webhookAllowPrivate?: boolean;
  syncTimeoutMs: number;
  bodyLimitBytes: number;
  /** The OpenAI-compatible images API (`/v1`): how it names models, and what signs its image URLs. */
  /** `streamHeartbeatMs`: how often a quiet `stream: true` answer gets a comment line (tests shorten it). */
  openai: { models: ModelChoice; urls: ImageUrls; streamHeartbeatMs?: number };
  maxFrameBytes: number;
  logger: FastifyBaseLogger;
  /** The gateway's own time per task (gateway/overhead-meter.ts), shown by /api/health. */
  overhead: OverheadMeter;
  /** How late its event loop runs (gateway/event-loop-meter.ts), shown by /api/health when given. */
  eventLoop?: EventLoopMeter;
  /** Which web pages' scripts may call the API (config `corsOrigin`). @defaultValue '*' */
  corsOrigin?: string;
  /** Longest a client may take to send a whole request, headers and body. @defaultValue 2 min */
  requestTimeoutMs?: number;
  /** Proxies believed about a client's address (config `trustProxy`, as Fastify takes it). @defaultValue false */
  trustProxy?: boolean | number | string;
  /** What one client address may hold at once (api/address-limits.ts). @defaultValue 256 connections, loopback exempt */
  maxConnectionsPerAddress?: number;
  /** Whether loopback clients are held to the address limits too (their tests). @defaultValue false */
  limitLoopback?: boolean;
  /** Requests with a body read and handled per turn of the event loop (api/turn-admission.ts); 0: no limit. @defaultValue 8 */
  bodiesPerTurn?: number;
  /** Counted requests, served at `/metrics` (behind the admin token when there is one). */
  metrics?: GatewayMetrics;
  /** The store and, on a shared database, the gateways sharing it: shown by /api/health. */
  storage?: () => StorageHealth;
  /** What keeps the gateway from serving, for `/readyz` (empty: ready). @defaultValue the catalog's serving state */
  ready?: () => Promise<string[]>;
}

const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;

/** 2 minutes: a 32 MiB body at 2.5 Mbit/s. */
const REQUEST_TIMEOUT_MS = 120_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** When the request arrived (`performance.now()`): the start of the gateway's own time for a task. */
    receivedAt: number;
  }
}

/** Big answers (images) are written into reused buffers (util/buffer-pool.ts). */
const answerBuffers = new BufferPool();

/** The front doors' error shapes, for what no route of theirs answers (error-handler.ts). */
const DOOR_SHAPES: DoorShape[] = [
  { prefix: '/v1/', send: sendOpenAiError },
  { prefix: '/sdapi/', send: sendA1111Error },
  { prefix: '/controlnet/', send: sendA1111Error },
];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const requestTimeoutMs = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimitBytes,
    // Node's request timeout covers receiving a request, not answering it: a sync request that waits for a
    // GPU is not cut off, but a client that sends its body slowly, or never finishes it, gets a 408 and
    // its connection closed, instead of holding it open without end. Checked this often.
    // (Given to Node's server at its creation too: set only afterwards, Node 20 does not enforce it.)
    requestTimeout: requestTimeoutMs,
    http: { requestTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(50, requestTimeoutMs / 4)) },
    clientErrorHandler: clientErrorAnswer(requestTimeoutMs),
    // Errors of the router itself (a path that is not valid URL encoding, a path segment over 100 characters)
    // get the API's envelope too.
    frameworkErrors: routerErrorAnswer(DOOR_SHAPES),
    // One line per request would drown the task events that matter; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    // Fastify takes a hop count too; its types list only the other forms.
    trustProxy: (deps.trustProxy ?? false) as boolean | string,
  });
  const addressLimits = {
    maxConnectionsPerAddress: deps.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    bodyLimitBytes: deps.bodyLimitBytes,
    behindProxy: deps.trustProxy !== undefined && deps.trustProxy !== false && deps.trustProxy !== 0,
    log: deps.logger,
    exemptLoopback: deps.limitLoopback !== true,
  };
  limitConnections(app.server, addressLimits);
  reportAcceptErrors(app.server, deps.logger);
  limitBodiesInFlight(app, addressLimits);
  continueAfterChecks(app);
  const admission = admitBodiesInTurns(app, deps.logger, deps.bodiesPerTurn);
  if (admission) deps.metrics?.countWaiting(() => admission.waiting);
  app.decorateRequest('receivedAt', 0);
  app.addHook('onRequest', (request, _reply, done) => {
    request.receivedAt = performance.now();
    // A compressed body would reach the JSON parser as bytes it cannot read: say what to do instead.
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      done(new DanError('DAN_ERR_REQUEST_UNSUPPORTED_MEDIA', `a body sent with Content-Encoding ${encoding.slice(0, 40)} is not taken; send it uncompressed`));
      return;
    }
    done();
  });
  installErrorHandlers(app, deps.bodyLimitBytes, DOOR_SHAPES);
  const corsOrigins = corsOriginsOf(deps.corsOrigin ?? '*');
  if (corsOrigins !== 'off') registerCors(app, corsOrigins);
  // Answers carry base64 images: serialize them without re-encoding each image (util/json-buffer.ts),
  // into buffers that are reused once the response has closed and the socket holds them no more.
  app.setReplySerializer((payload) => toJsonBody(payload, answerBuffers.take) as unknown as string);
  app.addHook('onSend', (_request, reply, payload, done) => {
    // Smaller answers are plain allocations the pool never lent: no listener for them.
    if (Buffer.isBuffer(payload) && payload.length >= answerBuffers.minBytes) reply.raw.once('close', () => answerBuffers.give(payload));
    done(null, payload);
  });
  // fetch() sends a string body as text/plain unless told otherwise: read it as the JSON it almost always is.
  // Only while any page may call the API (CORS '*'): a text/plain POST needs no preflight, so a page from
  // an origin the operator did not allow could still submit and cancel tasks, unable to read the answers.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  if (corsOrigins === '*') app.addContentTypeParser('text/plain', { parseAs: 'string' }, parseJsonBody);
  const userDeps = { publicApiKey: deps.auth.publicApiKey, authMode: deps.auth.mode, unfinishedOf: (owner: string) => deps.service.unfinishedOf(owner) };
  // The API proper: every route knows its caller and counts against the caller's request rate.
  await app.register(async (api) => {
    registerCallerAuth(api, deps.auth);
    registerSdRoutes(api, { service: deps.service, catalog: deps.catalog, syncTimeoutMs: deps.syncTimeoutMs, overhead: deps.overhead, webhookAllowPrivate: deps.webhookAllowPrivate ?? false });
    registerCallerRoutes(api, userDeps);
    registerDeliveryLog(api, deps.deliveries);
    // Node names and models: a caller's to see (with `--auth required`, a key holder's only).
    api.get('/api/nodes', async (request) => {
      try {
        return success(await deps.nodes.listNetwork());
      } catch (error) {
        // The other gateways' nodes are read from the database: without it, this gateway's own still show.
        request.log.warn({ err: error }, "could not read the other gateways' nodes; listing this gateway's own");
        return success(deps.nodes.list());
      }
    });
    const network = deps.network;
    if (network) api.get('/api/network', async () => success(network.read()));
    const keyRevoked = (id: string) => {
      const key = deps.auth.keys.byId(id);
      return key === undefined || key.revokedAt !== null;
    };
    registerTaskEvents(api, { service: deps.service, keyRevoked });
    await registerOpenAiRoutes(api, { service: deps.service, catalog: deps.catalog, syncTimeoutMs: deps.syncTimeoutMs, bodyLimitBytes: deps.bodyLimitBytes, ...deps.openai });
    await registerA1111Routes(api, {
      service: deps.service,
      catalog: deps.catalog,
      syncTimeoutMs: deps.syncTimeoutMs,
      bodyLimitBytes: deps.bodyLimitBytes,
      callers: new A1111Callers(deps.callerDefaults),
      defaultModel: deps.openai.models.fallback,
      isNetworkNode: deps.isNetworkNode ?? ((nodeId) => deps.hub.sessions.has(nodeId)),
    });
  });
  await registerImageFiles(app, { service: deps.service, urls: deps.openai.urls, bodyLimitBytes: deps.bodyLimitBytes });
  registerPublicKeyRoute(app, userDeps);
  await registerApiDocs(app);
  await registerWebApp(app);
  registerProbes(app, deps);
  await registerAdminRoutes(app, { keys: deps.keyAdmin, adminToken: deps.adminToken });
  app.get('/api/health', async () => {
    const { canServe, problem } = deps.catalog.servingState();
    return success({
      status: 'ok',
      canServe,
      problem,
      nodes: deps.catalog.supportedInfo().nodes,
      ...deps.service.load(),
      overheadMs: deps.overhead.summary(),
      eventLoopDelayMs: deps.eventLoop?.summary() ?? null,
      storage: deps.storage?.() ?? null,
    });
  });
  await registerNodeRoute(app, { hub: deps.hub, maxFrameBytes: deps.maxFrameBytes });
  return app;
}

/**
 * For orchestrators and Prometheus: `/healthz` (the process answers), `/readyz` (the store answers and
 * some node can serve: 200, else 503 with the reasons), `/metrics` (Prometheus text; behind the admin
 * token when the gateway has one, so a public gateway does not show its load to anyone).
 */
function registerProbes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const problems = deps.ready ? await deps.ready() : [deps.catalog.servingState().problem].filter((p): p is string => p !== null);
    return reply.code(problems.length === 0 ? 200 : 503).send({ ready: problems.length === 0, problems });
  });
  const metrics = deps.metrics;
  if (!metrics) return;
  app.addHook('onResponse', (request, reply, done) => {
    metrics.answered(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, (performance.now() - request.receivedAt) / 1000);
    done();
  });
  const check = adminTokenCheck(deps.adminToken);
  app.get('/metrics', async (request, reply) => {
    if (check(request) === 'wrong') {
      throw new DanError('DAN_ERR_AUTH_ADMIN_TOKEN', '/metrics needs Authorization: Bearer <admin token> on this gateway');
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

/**
 * The API described: its OpenAPI document at `/openapi.json`, and Swagger UI at `/docs`, served from
 * the package itself (no CDN: a gateway on a closed network shows it too).
 */
async function registerApiDocs(app: FastifyInstance): Promise<void> {
  const document = buildOpenApiDocument(DAN_VERSION);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
  app.get('/openapi.json', async () => document);
}
