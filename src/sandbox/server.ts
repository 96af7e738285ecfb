/**
 * @module sandbox/server
 *
 * Builds the sandbox's Fastify app without listening (so tests could also use
 * `inject`): error handling first, then the request log, then every route.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Clock } from '../util/clock.js';
import { registerControlNetRoutes } from './controlnet-routes.js';
import { registerControlRoutes } from './control-routes.js';
import { registerExtrasRoutes } from './extras-routes.js';
import { registerIntrospectionRoutes, type SandboxStats } from './introspection-routes.js';
import { registerGenerationRoutes } from './generation-routes.js';
import { BODY_LIMIT_BYTES, registerHttpHandling } from './http-handling.js';
import { createInventory } from './inventory.js';
import { registerListingRoutes } from './listing-routes.js';
import type { SandboxOfferings } from './offerings.js';
import { registerOptionsRoutes } from './options-routes.js';
import { RequestLog } from './request-log.js';
import { createSandboxContext, type SandboxContext } from './sandbox-context.js';
import type { TimingOptions } from './time-model.js';

export interface SandboxSettings {
  timing: TimingOptions;
  /** What jobs wait on and timestamp with. */
  clock: Clock;
  offerings: SandboxOfferings;
  logger: boolean;
}

export interface SandboxApp {
  app: FastifyInstance;
  ctx: SandboxContext;
  log: RequestLog;
  stats: () => SandboxStats;
}

export function createSandboxApp(settings: SandboxSettings): SandboxApp {
  const app = Fastify({ logger: settings.logger, bodyLimit: BODY_LIMIT_BYTES });
  const ctx = createSandboxContext(createInventory(settings.offerings), settings.timing, settings.clock);
  const log = new RequestLog();
  registerHttpHandling(app);
  log.attach(app, () => ctx.counters.rejected++);
  registerListingRoutes(app, ctx);
  registerOptionsRoutes(app, ctx);
  registerControlRoutes(app, ctx);
  registerGenerationRoutes(app, ctx);
  registerExtrasRoutes(app, ctx);
  registerControlNetRoutes(app, ctx);
  const stats = (): SandboxStats => ({ ...ctx.counters, loadedModel: ctx.loaded.fileName, busyMs: ctx.queue.busyMs });
  registerIntrospectionRoutes(app, { stats, requests: () => log.entries() });
  let closing = false;
  // Jobs wait on timers; closing must not wait out their modelled time.
  app.addHook('preClose', async () => {
    closing = true;
    ctx.queue.shutdown();
  });
  // Requests in flight when closing began would otherwise keep their keep-alive
  // sockets, and with them `close()`, open until the client lets go.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  return { app, ctx, log, stats };
}
