/**
 * @module sandbox/introspection-routes
 *
 * `/sandbox/*`: what a test instrument must show that a real WebUI does not:
 * every request it received (with its status: a translation mistake shows as
 * a 4xx here), its counters, and injected faults (`POST /sandbox/faults
 * {"failNext": n}`: the next n jobs fail as a GPU out of memory would, HTTP 500
 * in A1111's shape). Under their own prefix, never under `/sdapi`, so nobody
 * mistakes them for A1111 routes.
 */
import type { FastifyInstance } from 'fastify';
import { pythonException } from './http-errors.js';
import type { RecordedRequest } from './request-log.js';

export interface SandboxStats {
  /** Finished txt2img, img2img, interrogate and extra-single-image jobs. */
  jobs: number;
  checkpointSwitches: number;
  /** File name of the checkpoint whose weights are loaded. */
  loadedModel: string;
  /** Milliseconds of the sandbox's clock jobs held the queue lock (wall time with the system clock). */
  busyMs: number;
  /** Logged POSTs answered with a status ≥ 400. */
  rejected: number;
}

const JOB_PATHS = new Set(['/sdapi/v1/txt2img', '/sdapi/v1/img2img', '/sdapi/v1/interrogate', '/sdapi/v1/extra-single-image']);

export function registerIntrospectionRoutes(app: FastifyInstance, view: { stats(): SandboxStats; requests(): RecordedRequest[] }): void {
  let failNext = 0;
  app.get('/sandbox/requests', async () => ({ requests: view.requests() }));
  app.get('/sandbox/stats', async () => view.stats());
  app.post<{ Body: { failNext?: unknown } }>('/sandbox/faults', async (request, reply) => {
    const n = request.body?.failNext;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return reply.code(422).send({ detail: 'failNext must be an integer ≥ 0' });
    failNext = n;
    return { failNext };
  });
  app.addHook('preHandler', async (request) => {
    if (failNext === 0 || request.method !== 'POST' || !JOB_PATHS.has(request.url.split('?')[0] ?? '')) return;
    failNext -= 1;
    throw pythonException('OutOfMemoryError', 'CUDA out of memory. Tried to allocate 2.00 GiB (sandbox fault injection)');
  });
}
