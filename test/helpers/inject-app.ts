/**
 * The gateway's real HTTP app (api/build-app.ts) over the core of
 * fake-nodes.ts, for route tests with Fastify's `inject`: real routes, parsers,
 * error handler, catalog, TaskService, dispatcher and in-memory store; nodes
 * played by the test; no listen, no sockets, no processes. The sync timeout
 * runs on the world's FakeClock.
 */
import { ImageUrls } from '../../src/api/openai/image-urls.js';
import type { FastifyBaseLogger, FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/api/build-app.js';
import { defaultLimits } from '../../src/domain/request-context.js';
import { NetworkCatalog } from '../../src/gateway/network-catalog.js';
import { OverheadMeter } from '../../src/gateway/overhead-meter.js';
import { defaultKeyLimits, generateApiKey, type KeyLimits } from '../../src/auth/api-key.js';
import type { AuthMode } from '../../src/auth/caller.js';
import { KeyAdmin } from '../../src/auth/key-admin.js';
import { KeyRing } from '../../src/auth/key-ring.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { SqliteCallerDefaults } from '../../src/store/sqlite/sqlite-caller-defaults.js';
import { SqliteKeyStore } from '../../src/store/sqlite/sqlite-key-store.js';
import { MINUTE } from '../../src/util/clock.js';
import { type CoreWorld, createCoreWorld, type FakeNode } from './fake-nodes.js';

export interface InjectAppOptions {
  /** Model names of the OpenAI-compatible API mapped to checkpoints (alias → checkpoint). */
  openaiModels?: Record<string, string>;
  /** How often a quiet `stream: true` answer of the OpenAI door gets a comment line. @defaultValue the gateway's */
  openaiStreamHeartbeatMs?: number;
  /** Options of the core (dispatcher limits, a store wrapper): createCoreWorld's. */
  world?: Parameters<typeof createCoreWorld>[0];
  /** @defaultValue 1 MiB: small, so a 413 needs no big body */
  bodyLimitBytes?: number;
  /** On the world's clock. @defaultValue 5 minutes, as the gateway */
  syncTimeoutMs?: number;
  /** @defaultValue a silent logger */
  logger?: FastifyBaseLogger;
  /** The gateway's `corsOrigin`. @defaultValue '*' */
  corsOrigin?: string;
  /** Longest a client may take to send a request (buildApp's). @defaultValue 2 min */
  requestTimeoutMs?: number;
  /** The gateway's `auth`. @defaultValue 'optional' */
  auth?: AuthMode;
  /** Limits of anonymous callers. @defaultValue no task or request limit (the gateway's are 10 and 120) */
  anonymous?: Partial<KeyLimits>;
  /** The admin API's token. @defaultValue null (off) */
  adminToken?: string | null;
  /** Submits may name webhooks on private addresses (the receiver of a test is on loopback). @defaultValue false */
  webhookAllowPrivate?: boolean;
  /** Holds loopback clients (the test's) to the per-address limits, with this many connections. @defaultValue loopback exempt */
  addressLimits?: { maxConnections: number };
}

export interface InjectApp {
  app: FastifyInstance;
  world: CoreWorld;
  overhead: OverheadMeter;
  publicApiKey: string;
  /** Makes, changes and revokes keys, as `dan keys` would (the app's key ring hears it). */
  keys: KeyAdmin;
  /** POSTs `body` as JSON (a string is sent as is, to send broken JSON). */
  post(url: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  get(url: string, headers?: Record<string, string>): Promise<Answer>;
  /** Any request, for the odd ones (no content type, another media type, another method). */
  send(request: InjectOptions): Promise<Answer>;
  close(): Promise<void>;
}

export const INJECT_BODY_LIMIT_BYTES = 1024 * 1024;

export async function createInjectApp(options: InjectAppOptions = {}): Promise<InjectApp> {
  // The dispatcher times dispatches into the meter /api/health reads, as in gateway/gateway.ts.
  const overhead = new OverheadMeter();
  const world = createCoreWorld({ overhead, ...options.world });
  const publicApiKey = generateApiKey();
  const keyStore = new SqliteKeyStore(world.sqlite.connection);
  const ring = new KeyRing(keyStore);
  await ring.load();
  const keys = new KeyAdmin(keyStore, { now: () => world.clock.now(), changed: (key) => ring.changed(key) });
  world.setWebhookSecrets((owner) => {
    const key = ring.byId(owner);
    return key && key.revokedAt === null ? key.webhookSecret : null;
  });
  const catalog = new NetworkCatalog(world.hub, defaultLimits);
  const app = await buildApp({
    openai: {
      urls: new ImageUrls('test-secret', () => world.clock.now()),
      models: { aliases: new Map(Object.entries(options.openaiModels ?? {})), fallback: () => catalog.servedModels()[0]?.name ?? null },
      ...(options.openaiStreamHeartbeatMs === undefined ? {} : { streamHeartbeatMs: options.openaiStreamHeartbeatMs }),
    },
    service: world.service,
    catalog,
    nodes: world.nodes,
    network: world.network,
    hub: world.hub,
    auth: {
      mode: options.auth ?? 'optional',
      keys: ring,
      publicApiKey,
      anonymous: { ...defaultKeyLimits, maxTasks: 0, requestsPerMinute: 0, ...options.anonymous },
    },
    keyAdmin: keys,
    adminToken: options.adminToken ?? null,
    deliveries: world.deliveries,
    callerDefaults: new SqliteCallerDefaults(world.sqlite.connection, world.sqlite.file),
    metrics: new GatewayMetrics({ load: () => world.service.load(), queuedByCheckpoint: () => world.dispatcher.scheduler.queueSummary().byCheckpoint, nodes: () => world.nodes.list(), stepCost: (family) => world.dispatcher.scheduler.familyCosts.stepCost(family) }),
    webhookAllowPrivate: options.webhookAllowPrivate ?? false,
    syncTimeoutMs: options.syncTimeoutMs ?? 5 * MINUTE,
    bodyLimitBytes: options.bodyLimitBytes ?? INJECT_BODY_LIMIT_BYTES,
    maxFrameBytes: 64 * 1024 * 1024,
    logger: options.logger ?? pino({ level: 'silent' }),
    overhead,
    ...(options.corsOrigin === undefined ? {} : { corsOrigin: options.corsOrigin }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.addressLimits === undefined ? {} : { maxConnectionsPerAddress: options.addressLimits.maxConnections, limitLoopback: true }),
  });
  await app.ready();
  return {
    app,
    world,
    overhead,
    publicApiKey,
    keys,
    post: (url, body, headers = {}) =>
      answerOf(app, {
        method: 'POST',
        url,
        payload: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...headers },
      }),
    get: (url, headers = {}) => answerOf(app, { method: 'GET', url, headers }),
    send: (request) => answerOf(app, request),
    async close() {
      await app.close();
      await world.close();
    },
  };
}

/** A logger that keeps its JSON lines, for tests that check what operators read. */
export function capturingLogger(): { logger: FastifyBaseLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** An answer as a client reads it: status, parsed JSON body, headers. */
export interface Answer {
  status: number;
  body: any;
  headers: LightMyRequestResponse['headers'];
}

async function answerOf(app: FastifyInstance, request: InjectOptions): Promise<Answer> {
  const response = await app.inject(request);
  return { status: response.statusCode, body: response.json(), headers: response.headers };
}

/** The real app listening on a loopback port, with one fake node (`node-0`) connected: for clients that need a socket. */
export async function createListeningApp(options: InjectAppOptions = {}): Promise<{ app: InjectApp; url: string; node: FakeNode }> {
  const app = await createInjectApp(options);
  const node = app.world.connect('node-0');
  const url = await app.app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url, node };
}
