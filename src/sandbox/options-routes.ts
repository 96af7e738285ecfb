/**
 * @module sandbox/options-routes
 *
 * `GET/POST /sdapi/v1/options` (backends.md A.6). GET shows the configured
 * checkpoint (`opts.sd_model_checkpoint`), which after an override with
 * `override_settings_restore_afterwards` may differ from the weights in memory,
 * exactly as in A1111. POST with `sd_model_checkpoint` loads it through the job
 * queue (A1111 wraps the reload in `queue_lock`); an unknown one is A1111's 500
 * RuntimeError. Forge only notes the checkpoint (and `forge_additional_modules`):
 * it loads them at the next generation.
 */
import type { FastifyInstance } from 'fastify';
import { BodyValidationError, pythonException } from './http-errors.js';
import { moduleNames } from './forge-fields.js';
import { findCheckpoint } from './inventory.js';
import { loadCheckpoint, type SandboxContext } from './sandbox-context.js';

/** The settings a client of A1111 commonly reads; others POSTed are stored and echoed. */
function baseOptions(ctx: SandboxContext): Record<string, unknown> {
  const controlNet = ctx.inventory.offerings.controlNet;
  return {
    samples_format: 'png',
    sd_vae: 'Automatic',
    CLIP_stop_at_last_layers: 1,
    sd_checkpoints_limit: 1,
    sd_checkpoints_keep_in_cpu: true,
    sd_checkpoint_cache: 0,
    eta_noise_seed_delta: 0,
    img2img_fix_steps: false,
    ...(controlNet ? { control_net_unit_count: controlNet.unitCount } : {}),
  };
}

export function registerOptionsRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  app.get('/sdapi/v1/options', async () => ({
    ...baseOptions(ctx),
    // Forge keeps the modules as paths.
    ...(ctx.inventory.offerings.forge ? { forge_preset: 'sd', forge_additional_modules: ctx.modules.configured.map((name) => `${ctx.inventory.webuiDir}/models/VAE/${name}`) } : {}),
    ...ctx.options,
    sd_model_checkpoint: ctx.configured.title,
    sd_checkpoint_hash: ctx.configured.sha256,
  }));

  app.post('/sdapi/v1/options', async (request) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BodyValidationError([{ loc: ['body'], msg: 'value is not a valid dict', type: 'type_error.dict' }]);
    }
    const { sd_model_checkpoint: wanted, forge_additional_modules: modules, ...others } = body as Record<string, unknown>;
    const forge = ctx.inventory.offerings.forge !== undefined;
    if (modules !== undefined) ctx.modules.configured = moduleNames(ctx.inventory, modules, ['body', 'forge_additional_modules']);
    if (wanted !== undefined) {
      const target = typeof wanted === 'string' ? findCheckpoint(ctx.inventory, wanted) : undefined;
      if (!target) throw pythonException('RuntimeError', `model '${typeof wanted === 'string' ? wanted : JSON.stringify(wanted)}' not found`);
      if (forge) ctx.configured = target;
      else {
        await ctx.queue.run('Loading checkpoint', async (job) => {
          ctx.configured = target;
          await loadCheckpoint(ctx, job, target);
        });
      }
    }
    Object.assign(ctx.options, others);
    return null;
  });
}
