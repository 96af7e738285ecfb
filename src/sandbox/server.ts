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
  // Closing drops every connection (after answering the requests in flight, below): one whose client gave
  // up on a request while its job ran stayed open otherwise, and `close()` with it.
  const app = Fastify({ logger: settings.logger, bodyLimit: BODY_LIMIT_BYTES, forceCloseConnections: true });
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
  const answering = trackAnswers(app);
  // Jobs wait on timers; closing must not wait out their modelled time. Requests in flight are answered
  // (their jobs end at once) before the connections close (kept-alive ones too: `forceCloseConnections`).
  app.addHook('preClose', async () => {
    ctx.queue.shutdown();
    await answering.done(CLOSE_ANSWER_MS);
  });
  return { app, ctx, log, stats };
}

/** How long closing waits for the requests in flight to be answered before it drops their connections. */
const CLOSE_ANSWER_MS = 1000;

/**
 * Requests not yet answered: `done(ms)` resolves once there are none, or after `ms`. A client that gave up
 * on a request while its job ran can leave it never answered and its socket open (seen with an undici
 * fetch aborted mid-job): closing then drops every connection (`forceCloseConnections`), once the
 * requests someone waits for are answered.
 */
function trackAnswers(app: FastifyInstance): { done(ms: number): Promise<void> } {
  const open = new Set<object>();
  let wake = (): void => {};
  const settle = async (request: object): Promise<void> => {
    if (open.delete(request) && open.size === 0) wake();
  };
  app.addHook('onRequest', async (request) => {
    open.add(request);
  });
  app.addHook('onResponse', settle);
  app.addHook('onRequestAbort', settle);
  return {
    done: (ms) =>
      open.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms).unref();
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          }),
  };
}
