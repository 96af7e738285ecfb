/**
 * @module sandbox/generation-routes
 *
 * `POST /sdapi/v1/txt2img` and `/img2img`: check the body (answering refusals
 * before queueing, as A1111's validation and image decoding do), then run it
 * behind the queue lock.
 */
import type { FastifyInstance } from 'fastify';
import { parseGenerationRequest } from './generation-request.js';
import { runGeneration } from './generation-run.js';
import type { SandboxContext } from './sandbox-context.js';

export function registerGenerationRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  for (const kind of ['txt2img', 'img2img'] as const) {
    app.post(`/sdapi/v1/${kind}`, async (request) => {
      const plan = await parseGenerationRequest(ctx.inventory, kind, request.body);
      return runGeneration(ctx, plan);
    });
  }
}
