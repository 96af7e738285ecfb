/**
 * @module sandbox/control-routes
 *
 * Routes that steer the running job or rescan files (backends.md A.1, A.8):
 * progress, interrupt and skip answer at once; refresh-checkpoints takes the
 * queue lock like A1111's, refresh-loras does not. The sandbox's files never
 * change, so the refreshes only have A1111's timing and answer `null`.
 */
import type { FastifyInstance } from 'fastify';
import { previewImage, progressOf } from './progress.js';
import type { SandboxContext } from './sandbox-context.js';

export function registerControlRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  app.get<{ Querystring: { skip_current_image?: string } }>('/sdapi/v1/progress', async (request) => {
    const progress = progressOf(ctx.queue);
    // A1111 sends the live preview unless asked not to (its default is to send it, when it has one).
    if (request.query.skip_current_image !== 'true' && progress.state.sampling_step > 0) {
      progress.current_image = await previewImage(progress.state.sampling_step / Math.max(1, progress.state.sampling_steps));
    }
    return progress;
  });
  app.post('/sdapi/v1/interrupt', async () => {
    ctx.queue.running?.interrupt();
    return {};
  });
  app.post('/sdapi/v1/skip', async () => {
    ctx.queue.running?.skip();
    return null;
  });
  app.post('/sdapi/v1/refresh-checkpoints', async () => {
    await ctx.queue.run('Refreshing checkpoints', async () => undefined);
    return null;
  });
  app.post('/sdapi/v1/refresh-loras', async () => null);
}
