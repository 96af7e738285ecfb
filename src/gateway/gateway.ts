/**
 * @module gateway/gateway
 *
 * The gateway's composition root: opens the store, recovers unfinished tasks,
 * wires hub → dispatcher → service → HTTP app, listens, and sweeps expired
 * results. `close()` stops taking work and closes everything; tasks stay
 * stored and resume on the next start.
 */
import { familyTraits } from '../domain/families.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { catalogPathOf, loadCatalog } from '../config/catalog-file.js';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from '../api/build-app.js';
import { randomBytes } from 'node:crypto';
import { ImageUrls } from '../api/openai/image-urls.js';
import { fastifyTrustProxyOf, type GatewayConfig, localHost, modelAliasesOf } from '../config/gateway-config.js';
import { keepValue, keptValue } from '../util/kept-value.js';
import { NodeHub } from '../network/node-hub.js';
import { openStores } from '../store/open-stores.js';
import { publishNodes } from './node-publishing.js';
import { readinessProblems } from './readiness.js';
import { RepeatedWarning } from '../util/repeated-warning.js';
import { bindSpec, networkFamilyOf } from '../domain/binding.js';
import type { ResourceRef } from '../domain/spec.js';
import type { TaskStore } from '../store/task-store.js';
import type { ProgressChannel } from '../store/postgres/progress-channel.js';
import { type Clock, SECOND, systemClock } from '../util/clock.js';
import { nodeTokensOf } from './node-tokens.js';
import { createWebhooks } from './task-webhooks.js';
import { GatewayMetrics } from './metrics.js';
import { NetworkActivity, observeActivity } from './network-activity.js';
import { createNetworkView } from './network-view.js';
import { Dispatcher } from './dispatcher.js';
import { NetworkCatalog } from './network-catalog.js';
import { createNodeDirectory, type NodeListItem } from './node-directory.js';
import { EventLoopMeter } from './event-loop-meter.js';
import { OverheadMeter } from './overhead-meter.js';
import { defaultKeyLimits } from '../auth/api-key.js';
import { KeyAdmin } from '../auth/key-admin.js';
import { KeyRing } from '../auth/key-ring.js';
import { PUBLIC_API_KEY_FILE, resolvePublicApiKey } from '../auth/public-api-key.js';
import { RetentionSweeper } from './retention-sweeper.js';
import { TaskService } from './task-service.js';

/** How often the gateway doing the periodic work looks for webhook deliveries whose task ended unheard. */
const DELIVERY_RESUME_MS = 30_000;

/** How often the queue's length is looked at for the dashboard's chart. */
const QUEUE_SAMPLE_MS = 5_000;
/** How often the store's running rows are checked against the attempts this gateway runs (two checks make an orphan). */
const ORPHAN_CHECK_MS = 60_000;

export interface Gateway {
  /** `http://host:port` the gateway listens on (loopback form when bound to all interfaces). */
  url: string;
  port: number;
  app: FastifyInstance;
  hub: NodeHub;
  dispatcher: Dispatcher;
  store: TaskStore;
  /** Where the store is: `SQLite /srv/dan/data/tasks.sqlite`, `PostgreSQL postgres://dan:***@db/dan`. */
  storeName: string;
  /** API keys and node tokens, as `dan keys` and the admin API manage them. */
  keys: KeyAdmin;
  close(): Promise<void>;
}

export interface GatewayParts {
  /** The gateway's time. @defaultValue the system clock */
  clock?: Clock;
  /** The secret this process's own node presents (`dan start`, `dan demo`; network/node-hub.ts). @defaultValue none */
  ownNodeToken?: string;
}

export async function startGateway(config: Readonly<GatewayConfig>, logger: FastifyBaseLogger, parts: GatewayParts = {}): Promise<Gateway> {
  const clock = parts.clock ?? systemClock;
  const networkCatalog = await loadCatalog(catalogPathOf(config), config.catalogFile !== null);
  // Periodic work runs on one gateway of those sharing a database (docs/decisions/0015): told below.
  let leadershipChanged = (_leader: boolean): void => {};
  const stores = await openStores(config, {
    warn: (message) => logger.warn(message),
    gateway: {
      now: () => clock.now(),
      onLeadership: (leader) => leadershipChanged(leader),
      onReclaimed: (ids) => logger.warn({ tasks: ids.length, ids: ids.slice(0, 20) }, 'tasks whose gateway is gone are back in the queue'),
      notice: (message) => logger.info(message),
      catalog: networkCatalog,
    },
  });
  const registry = stores.gateways;
  const roster = stores.roster;
  const store = stores.tasks;
  const overhead = new OverheadMeter();
  const keyStore = stores.keys;
  const keyRing = new KeyRing(keyStore);
  await keyRing.load();
  const hub = new NodeHub({ nodeToken: config.nodeToken, ownNodeToken: parts.ownNodeToken ?? null, tokens: nodeTokensOf(keyRing), heartbeatIntervalMs: config.heartbeatIntervalMs, resumeGraceMs: config.resumeGraceMs, log: logger, clock, catalog: networkCatalog });
  // A node token revoked (here or by `dan nodes token revoke`) disconnects its nodes; another process's
  // change is read within a second.
  keyRing.onChange(() => hub.expelRevoked());
  const keysUnread = new RepeatedWarning(logger, 'could not read the keys again', 'the keys are read again', () => clock.now());
  const keyRefresh = setInterval(
    () => void keyRing.refresh().then(() => keysUnread.succeeded(), (error: unknown) => keysUnread.failed(error)),
    SECOND,
  );
  keyRefresh.unref();
  const activity = new NetworkActivity(() => clock.now());
  const seen = observeActivity(activity, () => clock.now());
  const metrics = new GatewayMetrics({
    load: () => service.load(),
    queuedByCheckpoint: () => dispatcher.scheduler.queueSummary().byCheckpoint,
    nodes: () => nodes.list(),
    stepCost: (family) => dispatcher.scheduler.familyCosts.stepCost(family),
  });
  const eventLoop = new EventLoopMeter((ms) => metrics.eventLoopDelayed(ms));
  eventLoop.start();
  // Webhooks are made from the task's status when it ends (service, below).
  const { deliveries, outbox, webhooks } = createWebhooks({
    tried: (result) => metrics.webhookTried(result),
    deliveries: stores.deliveries,
    clock,
    log: logger,
    secretOf: (owner) => {
      const key = keyRing.byId(owner);
      return key?.kind === 'api' && key.revokedAt === null ? key.webhookSecret : null;
    },
    allowPrivate: config.webhookAllowPrivate,
    view: (id) => service.view(id),
    watch: (id, listener) => dispatcher.watch(id, listener),
  });
  let progress: ProgressChannel | undefined;
  // The family the network knows a model by: the catalog's, else the nodes' (the catalog is made below, before any task).
  const familyOf = (model: ResourceRef) => catalog.requestContext().familyOf('model', model);
  const dispatcher = new Dispatcher({
    store,
    familyOf,
    // A task read back (a restart, another gateway's requeue) is ordered at its key's weight, as when submitted.
    weightOf: (owner) => (owner === null ? defaultKeyLimits.weight : (keyRing.byId(owner)?.limits.weight ?? defaultKeyLimits.weight)),
    // With other gateways on the database: a task running on a live one's node stays theirs.
    ...(registry && roster && {
      shared: {
        runsElsewhere: (task) => task.runningOn !== undefined && task.runningOn !== null && task.runningOn !== registry.id && registry.peers.some((peer) => peer.id === task.runningOn),
        startedHere: (task) => task.runningOn === registry.id,
        servableElsewhere: (spec) => {
          for (const node of roster.remote) if (node.backendUp && bindSpec(spec, node.offering, networkFamilyOf(spec, familyOf)).ok) return true;
          return false;
        },
        // The channel opens once the dispatcher exists (it answers the channel's questions): below.
        wantProgress: (taskId) => progress?.want(taskId),
        progressed: (taskId, attempt, value, etaSeconds) => progress?.progressed(taskId, attempt, value, etaSeconds),
      },
    }),
    hub,
    clock,
    log: logger,
    maxAttempts: config.maxAttempts,
    taskTimeoutMs: config.taskTimeoutMs,
    unservableGraceMs: config.unservableGraceMs,
    overhead: {
      dispatched: (ms) => {
        overhead.dispatched(ms);
        metrics.dispatched(ms);
      },
    },
    observer: {
      ...metrics.dispatcherObserver,
      attemptEnded: (outcome, nodeIdentity) => {
        metrics.dispatcherObserver.attemptEnded(outcome, nodeIdentity);
        seen.attemptEnded(outcome, nodeIdentity);
      },
      finished: (taskId, kind, state, task) => {
        metrics.dispatcherObserver.finished(taskId, kind, state, task);
        seen.finished(taskId, kind, state, task);
        void outbox.taskEnded(taskId).catch((error: unknown) => logger.error({ err: error, task: taskId }, 'could not mark its webhooks due'));
      },
    },
  });
  const nodes = createNodeDirectory({
    hub,
    scheduler: dispatcher.scheduler,
    clock,
    activity,
    ...(roster && {
      others: async () =>
        (await roster.otherListings()).map(({ node, listing }) => ({ item: { ...(listing as NodeListItem), gateway: node.gatewayId }, identity: node.identity, publishedAt: node.publishedAt })),
    }),
  });
  // The dashboard's chart of the queue: its length looked at every few seconds, the longest of each minute kept.
  const queueSampler = setInterval(() => activity.queueSeen(service.load().queued), QUEUE_SAMPLE_MS);
  queueSampler.unref();
  const catalog = new NetworkCatalog(hub, config.limits, {
    catalog: networkCatalog,
    ...(roster ? { others: { nodes: () => roster.remote, onChange: (listener) => roster.on('changed', listener) } } : {}),
  });
  const republishCheck = roster ? publishNodes(hub, roster, { now: () => clock.now(), logger, listings: () => nodes.list() }) : undefined;
  // A node this gateway waits for that came back through another gateway: what it did not bring is not waited for.
  roster?.on('arrived', (node) => dispatcher.nodeArrivedElsewhere(node.name));
  const service: TaskService = new TaskService({ dispatcher, store, nodes: () => catalog.nodes(), familyOf, now: () => clock.now(), webhooks });
  // Generated, it is the same on every gateway sharing a database: a client may fetch it from one and call another.
  // Whether clients may hold the key this data directory kept (not one generated just now).
  const keptBefore = config.dataDir !== ':memory:' && existsSync(join(config.dataDir, PUBLIC_API_KEY_FILE));
  const ownPublicApiKey = resolvePublicApiKey(config.publicApiKey, config.dataDir);
  const publicApiKey = config.publicApiKey === null && stores.agreeOn ? await stores.agreeOn('public_api_key', ownPublicApiKey) : ownPublicApiKey;
  if (publicApiKey !== ownPublicApiKey) keepValue(config.dataDir, PUBLIC_API_KEY_FILE, publicApiKey);
  if (publicApiKey !== ownPublicApiKey && keptBefore) {
    logger.warn({ dataDir: config.dataDir }, 'this gateway now hands out the public API key of the gateways sharing its database, not the one its data directory held; clients that kept that one fetch it again (GET /api/user/public-api-key)');
  }
  // Image URLs of the OpenAI-compatible API are signed with it: any gateway of the network serves them.
  const ownUrlSecret = keptValue(config.dataDir, 'image-url-secret', () => randomBytes(32).toString('base64url'));
  const imageUrls = new ImageUrls(stores.agreeOn ? await stores.agreeOn('image_url_secret', ownUrlSecret) : ownUrlSecret, () => clock.now());
  const modelAliases = modelAliasesOf(config.openaiModels);
  // Not an edit model (FLUX.1 Kontext, Qwen-Image-Edit): a request that names no model is mostly a txt2img, which it cannot run.
  const defaultModel = () => config.defaultModel ?? catalog.servedModels().find((m) => !(m.family !== null && familyTraits[m.family]?.edits))?.name ?? null;
  const keyAdmin = new KeyAdmin(keyStore, { now: () => clock.now(), changed: (key) => keyRing.changed(key) });
  const app = await buildApp({
    openai: { urls: imageUrls, models: { aliases: modelAliases, fallback: defaultModel } },
    service,
    catalog,
    nodes,
    network: createNetworkView({ scheduler: dispatcher.scheduler, load: () => service.load(), activity, clock }),
    hub,
    isNetworkNode: (nodeId) => hub.sessions.has(nodeId) || (roster?.hasRemote(nodeId) ?? false),
    metrics,
    storage: () => {
      const problem = registry?.lastError ?? null;
      return {
        kind: stores.kind,
        reachable: problem === null,
        // The cause (which names the database's host) is in the log, not in this public answer.
        problem: problem === null ? null : 'the database does not answer; the gateway log says why',
        gateways: registry && {
          self: registry.id,
          leader: registry.isLeader,
          seen: registry.peers.map((peer) => ({ id: peer.id, leader: peer.leader, seenSecondsAgo: peer.seenMsAgo / 1000 })),
        },
      };
    },
    ready: () => readinessProblems(store, catalog.servingState().problem),
    auth: {
      mode: config.auth,
      keys: keyRing,
      publicApiKey,
      anonymous: { ...defaultKeyLimits, maxTasks: config.anonymousMaxTasks, requestsPerMinute: config.anonymousRequestsPerMinute },
    },
    keyAdmin,
    adminToken: config.adminToken,
    deliveries,
    callerDefaults: stores.callerDefaults,
    webhookAllowPrivate: config.webhookAllowPrivate,
    trustProxy: fastifyTrustProxyOf(config.trustProxy),
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    syncTimeoutMs: config.syncTimeoutMs,
    bodyLimitBytes: config.bodyLimitBytes,
    maxFrameBytes: config.maxFrameBytes,
    logger,
    overhead,
    eventLoop,
    corsOrigin: config.corsOrigin,
  });
  await dispatcher.recover();
  // What the other gateways on the database store, start and end reaches this one's queue (docs/decisions/0015).
  const guard = (work: Promise<unknown>) => void work.catch((error: unknown) => logger.error({ err: error }, 'could not follow another gateway\'s change'));
  await stores.hearOthers?.({
    queued: (id, task) => guard(dispatcher.adopt(id, task)),
    started: (id, attempt) => dispatcher.startedElsewhere(id, attempt),
    moved: (id, attempt) => dispatcher.startedElsewhere(id, attempt, { moved: true }),
    ended: (id) => {
      guard(dispatcher.endedElsewhere(id));
      // A task submitted here with an end webhook that ended on another gateway: its delivery is due now.
      guard(outbox.taskEnded(id));
    },
    resync: () => guard(dispatcher.resync()),
  });
  // What the others did between the recovery's read and the first notice heard.
  if (stores.hearOthers) await dispatcher.resync();
  progress = await stores.relayProgress?.({
    progressHere: (taskId) => {
      const running = dispatcher.scheduler.attempts.get(taskId);
      return running && { attempt: running.attempt, progress: running.progress, etaSeconds: running.etaSeconds };
    },
    heard: (taskId, attempt, value, etaSeconds) => dispatcher.progressElsewhere(taskId, attempt, value, etaSeconds),
  });
  await outbox.start();
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = localHost(config.host);
  const sweeper = new RetentionSweeper({ store, retentionMs: config.retentionMs, clock, log: logger, alsoExpire: (before) => Promise.all([deliveries.deleteFinishedBefore(before), stores.callerDefaults.forgetAnonymousBefore(before)]) });
  const announceLeadership = (leader: boolean) =>
    logger.info({ gateway: registry?.id }, leader ? 'this gateway now does the periodic work (retention)' : 'another gateway does the periodic work now');
  // On a shared database: a delivery whose task ended on a gateway that did not take its submit, while the
  // one that did was gone, waits for someone to look (webhook-outbox.ts start: resume, then send).
  let deliveryResume: NodeJS.Timeout | undefined;
  leadershipChanged = (leader) => {
    announceLeadership(leader);
    clearInterval(deliveryResume);
    if (leader) {
      void sweeper.start();
      deliveryResume = setInterval(() => void outbox.start().catch((error: unknown) => logger.warn({ err: error }, 'could not resume webhook deliveries')), DELIVERY_RESUME_MS);
      deliveryResume.unref();
    } else sweeper.close();
  };
  // Alone on SQLite it always does; on a shared database, once it holds the lock (maybe already).
  if (registry?.isLeader === true) leadershipChanged(true);
  else if (registry === null) await sweeper.start();
  // Rows the store holds as running here that no attempt here runs (Dispatcher.requeueOrphans).
  const orphanCheck = setInterval(() => void dispatcher.requeueOrphans().catch((error: unknown) => logger.warn({ err: error }, 'could not look for orphaned running tasks')), ORPHAN_CHECK_MS);
  orphanCheck.unref();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Leadership won during shutdown starts nothing.
      leadershipChanged = () => {};
      clearInterval(deliveryResume);
      clearInterval(orphanCheck);
      clearInterval(republishCheck);
      sweeper.close();
      clearInterval(keyRefresh);
      clearInterval(queueSampler);
      eventLoop.stop();
      // First, so that the nodes the hub is about to drop are not failures of their tasks.
      const dispatcherClosed = dispatcher.close();
      await outbox.close();
      hub.close();
      await app.close();
      await dispatcherClosed;
      await stores.close();
    })();
    return closing;
  };
  return { url: `http://${host}:${port}`, port, app, hub, dispatcher, store, storeName: stores.name, keys: keyAdmin, close };
}
