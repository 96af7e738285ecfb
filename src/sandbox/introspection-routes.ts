/**
 * @module sandbox/introspection-routes
 *
 * `/sandbox/*`: what a test instrument must show that a real WebUI does not:
 * every request it received (with its status: a translation mistake shows as
 * a 4xx here) and its counters. Under their own prefix, never under `/sdapi`,
 * so nobody mistakes them for A1111 routes.
 */
import type { FastifyInstance } from 'fastify';
import type { RecordedRequest } from './request-log.js';

export interface SandboxStats {
  /** Finished txt2img, img2img, interrogate and extra-single-image jobs. */
  jobs: number;
  checkpointSwitches: number;
  /** File name of the checkpoint whose weights are loaded. */
  loadedModel: string;
  /** Wall-clock milliseconds jobs held the queue lock. */
  busyMs: number;
  /** Logged POSTs answered with a status ≥ 400. */
  rejected: number;
}

export function registerIntrospectionRoutes(app: FastifyInstance, view: { stats(): SandboxStats; requests(): RecordedRequest[] }): void {
  app.get('/sandbox/requests', async () => ({ requests: view.requests() }));
  app.get('/sandbox/stats', async () => view.stats());
}
