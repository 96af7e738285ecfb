/**
 * @module sandbox/extras-routes
 *
 * `POST /sdapi/v1/interrogate` and `/extra-single-image` (backends.md A.6), both
 * behind the queue lock. Upscaling really resizes (nearest for "Nearest",
 * lanczos3 for everything else) to A1111's size: `int(side × scale // 8 × 8)`,
 * then, for "upscale to" with crop, centred on a canvas of exactly w × h.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { nullable, parseBody } from './body-validation.js';
import { captionOf, colourName } from './caption.js';
import { httpException, pythonException, strictError } from './http-errors.js';
import { decodeBase64Image } from './image-decoding.js';
import { isUpscaler, type Inventory } from './inventory.js';
import { dominantColour, resizeImage, type Size } from './pixels.js';
import type { SandboxContext } from './sandbox-context.js';
import { INTERROGATE_SECONDS, toWallMs, upscalerSeconds } from './time-model.js';

const MAX_EXTRAS_SIDE_PX = 8192;
const Unit = Type.Optional(Type.Number({ minimum: 0, maximum: 1 }));

const InterrogateBody = Type.Object({ image: nullable(Type.String()), model: Type.Optional(Type.String()) }, { additionalProperties: false });

const ExtrasBody = Type.Object(
  {
    image: Type.Optional(Type.String()),
    resize_mode: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
    show_extras_results: Type.Optional(Type.Boolean()),
    gfpgan_visibility: Unit,
    codeformer_visibility: Unit,
    codeformer_weight: Unit,
    upscaling_resize: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 8 })),
    upscaling_resize_w: Type.Optional(Type.Integer({ minimum: 1 })),
    upscaling_resize_h: Type.Optional(Type.Integer({ minimum: 1 })),
    upscaling_crop: Type.Optional(Type.Boolean()),
    upscaler_1: Type.Optional(Type.String()),
    upscaler_2: Type.Optional(Type.String()),
    extras_upscaler_2_visibility: Unit,
    upscale_first: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export function registerExtrasRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  app.post('/sdapi/v1/interrogate', async (request) => {
    const body = parseBody(InterrogateBody, request.body);
    if (body.image === null || body.image === undefined || body.image === '') throw httpException(404, 'Image not found');
    const model = body.model ?? 'clip';
    if (model !== 'clip' && model !== 'deepdanbooru') throw httpException(404, 'Model not found');
    const image = await decodeBase64Image(body.image);
    return ctx.queue.run('interrogate', async (job) => {
      await job.wait('interrogate', toWallMs(ctx.timing, INTERROGATE_SECONDS));
      const colour = colourName(await dominantColour(image));
      ctx.counters.jobs++;
      return { caption: captionOf(model, { width: image.width, height: image.height, colour }) };
    });
  });

  app.post('/sdapi/v1/extra-single-image', async (request) => {
    const body = parseBody(ExtrasBody, request.body);
    const upscaler = assertUpscaler(ctx.inventory, body.upscaler_1 ?? 'None');
    assertUpscaler(ctx.inventory, body.upscaler_2 ?? 'None');
    const image = await decodeBase64Image(body.image ?? '');
    const toSize = body.resize_mode === 1 ? { width: body.upscaling_resize_w ?? 512, height: body.upscaling_resize_h ?? 512 } : null;
    const scale = toSize ? Math.max(toSize.width / image.width, toSize.height / image.height) : (body.upscaling_resize ?? 2);
    const scaled = { width: Math.floor((image.width * scale) / 8) * 8, height: Math.floor((image.height * scale) / 8) * 8 };
    const canvas = toSize && (body.upscaling_crop ?? true) ? toSize : null;
    assertExtrasSize(scaled);
    if (canvas) assertExtrasSize(canvas);
    return ctx.queue.run('extras', async (job) => {
      const out = canvas ?? scaled;
      await job.wait('upscaler', toWallMs(ctx.timing, upscalerSeconds(out.width * out.height)));
      const png = await resizeImage(image, scaled, { kernel: upscaler === 'Nearest' ? 'nearest' : 'lanczos3', canvas });
      ctx.counters.jobs++;
      const what = toSize ? `upscale to: ${toSize.width}x${toSize.height}` : `upscale by: ${scale}`;
      return { html_info: `<p>Postprocess ${what}, Postprocess upscaler: ${upscaler}</p>`, image: png.toString('base64') };
    });
  });
}

/** A1111 asserts the name exists ("could not find upscaler named …"). */
function assertUpscaler(inventory: Inventory, name: string): string {
  if (!isUpscaler(inventory, name)) throw pythonException('AssertionError', `could not find upscaler named ${name}`);
  return name;
}

function assertExtrasSize(size: Size): void {
  if (size.width < 1 || size.height < 1 || size.width > MAX_EXTRAS_SIDE_PX || size.height > MAX_EXTRAS_SIDE_PX) {
    throw strictError(['body', 'upscaling_resize'], `output ${size.width}x${size.height} is outside the sandbox's 1..${MAX_EXTRAS_SIDE_PX} px per side`);
  }
}
