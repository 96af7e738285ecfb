/**
 * @module sandbox/comfyui/comfy-server
 *
 * The ComfyUI flavour of the sandbox (`dan sandbox --flavor comfyui`): a
 * server that speaks ComfyUI's API, validates every prompt as ComfyUI does
 * against the node classes its `/object_info` lists, runs it on the same
 * time model and clock as the A1111 flavour (one prompt at a time), answers
 * with real PNGs, and sends ComfyUI's websocket messages. Its `/sandbox/*`
 * routes show what it received, its counters, and inject faults (`failNext`:
 * the next n sampler nodes fail with a CUDA out-of-memory error).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Clock } from '../../util/clock.js';
import type { SandboxStats } from '../introspection-routes.js';
import { JobQueue } from '../job-queue.js';
import { RequestLog } from '../request-log.js';
import type { TimingOptions } from '../time-model.js';
import { ComfyFiles } from './comfy-files.js';
import { ComfySockets } from './comfy-messages.js';
import type { ComfyOfferings } from './comfy-offerings.js';
import { registerComfyRoutes } from './comfy-routes.js';
import { createNodeRegistry } from './object-info.js';
import { PromptRunner } from './prompt-runner.js';
import type { ComfyWorld } from './node-types.js';

export interface ComfySandboxSettings {
  timing: TimingOptions;
  clock: Clock;
  offerings: ComfyOfferings;
  logger: boolean;
}

export interface ComfySandboxApp {
  app: FastifyInstance;
  queue: JobQueue;
  log: RequestLog;
  stats: () => SandboxStats;
}

const LOGGED_PATHS = ['/prompt', '/api/prompt', '/interrupt', '/api/interrupt', '/queue', '/api/queue', '/upload/', '/api/upload/'];
const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

export async function createComfySandboxApp(settings: ComfySandboxSettings): Promise<ComfySandboxApp> {
  const app = Fastify({ logger: settings.logger, bodyLimit: 256 * 1024 * 1024 });
  const world: ComfyWorld = { offerings: settings.offerings, files: new ComfyFiles(), timing: settings.timing };
  const registry = createNodeRegistry(world);
  const queue = new JobQueue(settings.clock);
  const sockets = new ComfySockets();
  const runner = new PromptRunner(registry, world, queue, sockets);
  const log = new RequestLog(LOGGED_PATHS);
  let rejected = 0;
  log.attach(app, () => rejected++);
  await registerComfyRoutes(app, { registry, world, runner, sockets, maxUploadBytes: MAX_UPLOAD_BYTES });
  const stats = (): SandboxStats => ({
    jobs: runner.executed,
    checkpointSwitches: registry.weights.switches,
    loadedModel: registry.weights.file ?? '',
    busyMs: queue.busyMs,
    rejected,
  });
  app.get('/sandbox/requests', async () => ({ requests: log.entries() }));
  app.get('/sandbox/stats', async () => stats());
  app.post<{ Body: { failNext?: unknown } }>('/sandbox/faults', async (request, reply) => {
    const n = request.body?.failNext;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return reply.code(422).send({ detail: 'failNext must be an integer ≥ 0' });
    runner.failNext(n);
    return { failNext: n };
  });
  app.addHook('preClose', async () => {
    queue.shutdown();
    sockets.closeAll();
  });
  return { app, queue, log, stats };
}
