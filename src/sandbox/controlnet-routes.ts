/**
 * @module sandbox/controlnet-routes
 *
 * The sd-webui-controlnet routes (backends.md B.5). Registered only when the
 * offerings include ControlNet; otherwise they 404 as on a WebUI without the
 * extension. `/controlnet/detect` returns each input image re-encoded as its
 * "detected map" (grey for every module but `none`).
 */
import type { FastifyInstance } from 'fastify';
import { parseBody } from './body-validation.js';
import { DetectBody } from './controlnet-schema.js';
import { httpException } from './http-errors.js';
import { decodeBase64Image } from './image-decoding.js';
import { detectedMap } from './pixels.js';
import type { SandboxContext } from './sandbox-context.js';

interface Slider {
  name: string;
  value: number;
  min: number;
  max: number;
  step: number;
}

const RESOLUTION: Slider = { name: 'Resolution', value: 512, min: 64, max: 2048, step: 8 };

/** `module_detail`: canny has its two thresholds (B.5); `none` has no sliders. */
function moduleDetail(module: string): { model_free: boolean; sliders: Slider[] } {
  if (module === 'none') return { model_free: false, sliders: [] };
  if (module === 'canny') {
    return {
      model_free: false,
      sliders: [
        RESOLUTION,
        { name: 'Low Threshold', value: 100, min: 1, max: 255, step: 1 },
        { name: 'High Threshold', value: 200, min: 1, max: 255, step: 1 },
      ],
    };
  }
  return { model_free: false, sliders: [RESOLUTION] };
}

export function registerControlNetRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const controlNet = ctx.inventory.offerings.controlNet;
  if (!controlNet) return;
  app.get('/controlnet/version', async () => ({ version: 3 }));
  app.get('/controlnet/model_list', async () => ({ model_list: controlNet.models }));
  app.get('/controlnet/module_list', async () => ({
    module_list: controlNet.modules,
    module_detail: Object.fromEntries(controlNet.modules.map((m) => [m, moduleDetail(m)])),
  }));
  app.get('/controlnet/settings', async () => ({ control_net_unit_count: controlNet.unitCount }));
  app.post('/controlnet/detect', async (request) => {
    const body = parseBody(DetectBody, request.body);
    const module = body.controlnet_module ?? 'none';
    if (!controlNet.modules.includes(module)) throw httpException(422, 'Module not available');
    const inputs = body.controlnet_input_images ?? [];
    if (inputs.length === 0) throw httpException(422, 'No image selected');
    const images = await Promise.all(inputs.map(decodeBase64Image));
    await Promise.all((body.controlnet_masks ?? []).map(decodeBase64Image));
    const maps = await Promise.all(images.map((image) => detectedMap(image, null, module)));
    const response: Record<string, unknown> = { images: maps.map((png) => png.toString('base64')), info: 'Success' };
    if (module.startsWith('openpose')) {
      response['poses'] = images.map((image) => ({ people: [], canvas_width: image.width, canvas_height: image.height }));
    }
    return response;
  });
}
