/**
 * @module gateway/gateway
 *
 * The gateway's composition root: opens the store, recovers unfinished tasks,
 * wires hub → dispatcher → service → HTTP app, listens, and sweeps expired
 * results. `close()` stops taking work and closes everything; tasks stay
 * stored and resume on the next start.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from '../api/build-app.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { MINUTE } from '../config/gateway-config.js';
import { NodeHub } from '../network/node-hub.js';
import { SqliteTaskStore } from '../store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../store/task-store.js';
import { Dispatcher } from './dispatcher.js';
import { NetworkCatalog } from './network-catalog.js';
import { OverheadMeter } from './overhead-meter.js';
import { resolvePublicApiKey } from './public-api-key.js';
import { TaskService } from './task-service.js';

export interface Gateway {
  /** `http://host:port` the gateway listens on (loopback form when bound to all interfaces). */
  url: string;
  port: number;
  app: FastifyInstance;
  hub: NodeHub;
  dispatcher: Dispatcher;
  store: TaskStore;
  close(): Promise<void>;
}

export async function startGateway(config: Readonly<GatewayConfig>, logger: FastifyBaseLogger): Promise<Gateway> {
  const store = new SqliteTaskStore(config.dataDir, { warn: (message) => logger.warn(message) });
  const overhead = new OverheadMeter();
  const hub = new NodeHub({ nodeToken: config.nodeToken, heartbeatIntervalMs: config.heartbeatIntervalMs, log: logger });
  const dispatcher = new Dispatcher({
    store,
    hub,
    maxAttempts: config.maxAttempts,
    taskTimeoutMs: config.taskTimeoutMs,
    maxTasksPerKey: config.maxTasksPerKey,
    unservableGraceMs: config.unservableGraceMs,
    log: logger,
    overhead,
  });
  const catalog = new NetworkCatalog(hub, config.limits);
  const service = new TaskService({ dispatcher, store, hub, catalog });
  const publicApiKey = resolvePublicApiKey(config.publicApiKey, config.dataDir);
  const app = await buildApp({
    service,
    catalog,
    dispatcher,
    hub,
    publicApiKey,
    syncTimeoutMs: config.syncTimeoutMs,
    bodyLimitBytes: config.bodyLimitBytes,
    maxFrameBytes: config.maxFrameBytes,
    logger,
    overhead,
  });
  await dispatcher.recover();
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;

  const sweep = async () => {
    const removed = await store.deleteFinishedBefore(Date.now() - config.retentionMs);
    if (removed > 0) logger.info({ removed }, 'removed expired task results');
  };
  const sweeper = setInterval(() => void sweep().catch((err: unknown) => logger.error({ err }, 'sweep failed')), MINUTE);
  sweeper.unref();
  await sweep();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(sweeper);
      hub.close();
      await app.close();
      await dispatcher.close();
      await store.close();
    })();
    return closing;
  };
  return { url: `http://${host}:${port}`, port, app, hub, dispatcher, store, close };
}
