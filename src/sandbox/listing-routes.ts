/**
 * @module sandbox/listing-routes
 *
 * The GET listings of A1111 (backends.md A.6) and the Lora extension. They never
 * wait for the job queue.
 */
import type { FastifyInstance } from 'fastify';
import { a1111Samplers, schedulerTraitsOf } from './a1111-tables.js';
import type { SandboxContext } from './sandbox-context.js';

/** Upscalers that are plain resamplers, without a model file. */
const MODEL_FREE_UPSCALERS = new Set(['None', 'Lanczos', 'Nearest']);

export function registerListingRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { inventory } = ctx;
  app.get('/sdapi/v1/sd-models', async () =>
    inventory.checkpoints.map((c) => ({
      title: c.title,
      model_name: c.stem,
      hash: c.shorthash,
      sha256: c.sha256,
      filename: `${inventory.webuiDir}/models/Stable-diffusion/${c.fileName}`,
      config: null,
    })),
  );
  app.get('/sdapi/v1/loras', async () =>
    inventory.loras.map((l) => ({
      name: l.name,
      alias: l.name,
      path: `${inventory.webuiDir}/models/Lora/${l.fileName}`,
      metadata: l.metadata,
    })),
  );
  app.get('/sdapi/v1/samplers', async () =>
    inventory.offerings.samplers.map((name) => ({
      name,
      aliases: a1111Samplers[name]?.aliases ?? [],
      options: a1111Samplers[name]?.options ?? {},
    })),
  );
  app.get('/sdapi/v1/schedulers', async () =>
    inventory.offerings.schedulers.map(({ name, label }) => {
      const traits = schedulerTraitsOf(name, label);
      return { name, label, aliases: traits.aliases, default_rho: traits.defaultRho, need_inner_model: traits.needInnerModel };
    }),
  );
  app.get('/sdapi/v1/upscalers', async () => inventory.offerings.upscalers.map((name) => toUpscalerItem(name, inventory.webuiDir)));
  app.get('/sdapi/v1/latent-upscale-modes', async () => inventory.offerings.latentUpscaleModes.map((name) => ({ name })));
  // Forge's VAE and text-encoder files; A1111 has no such route (a 404 says which WebUI this is).
  const forge = inventory.offerings.forge;
  if (forge) {
    app.get('/sdapi/v1/sd-modules', async () =>
      forge.modules.map((name) => ({ model_name: name, filename: `${inventory.webuiDir}/models/${/vae|^ae\./i.test(name) ? 'VAE' : 'text_encoder'}/${name}` })),
    );
  }
  app.get('/internal/ping', async () => ({}));
}

function toUpscalerItem(name: string, webuiDir: string) {
  if (MODEL_FREE_UPSCALERS.has(name)) {
    return { name, model_name: null, model_path: null, model_url: null, scale: name === 'None' ? 1 : 4 };
  }
  return {
    name,
    model_name: name,
    model_path: `${webuiDir}/models/ESRGAN/${name.replaceAll(' ', '_')}.pth`,
    model_url: null,
    scale: 4,
  };
}
