/**
 * @module sandbox/img2img-inputs
 *
 * The img2img-only part of a request (backends.md A.3): init images (null →
 * 404 "Init image not found", more than `batch_size` → RuntimeError), the
 * inpainting mask and its options, and the steps the sampler really runs.
 */
import type { Img2ImgPlan } from './generation-plan.js';
import type { Img2ImgBody } from './generation-schemas.js';
import { httpException, pythonException } from './http-errors.js';
import { decodeBase64Image, decodeOptionalImage } from './image-decoding.js';
import { img2imgSteps } from './time-model.js';

const DEFAULT_DENOISING_STRENGTH = 0.75;
const DEFAULT_MASK_BLUR_PX = 4;
/** `StableDiffusionProcessingImg2Img.inpaint_full_res`'s default: the API inpaints "only masked" unless told. */
const DEFAULT_INPAINT_FULL_RES = true;

export async function parseImg2ImgInputs(body: Img2ImgBody, steps: number, batchSize: number): Promise<Img2ImgPlan> {
  const encoded = body.init_images;
  if (!encoded || encoded.length === 0) throw httpException(404, 'Init image not found');
  if (encoded.length > batchSize) {
    throw pythonException('RuntimeError', `bad number of images passed: ${encoded.length}; expecting ${batchSize} or less`);
  }
  const initImages = await Promise.all(encoded.map(decodeBase64Image));
  const mask = (await decodeOptionalImage(body.mask)) ?? null;
  const denoisingStrength = body.denoising_strength ?? DEFAULT_DENOISING_STRENGTH;
  return {
    initImages,
    mask,
    resizeMode: body.resize_mode ?? 0,
    denoisingStrength,
    invertMask: body.inpainting_mask_invert === 1,
    roundMask: body.mask_round ?? true,
    maskBlurPx: maskBlurOf(body),
    onlyMasked: body.inpaint_full_res ?? DEFAULT_INPAINT_FULL_RES,
    sampledSteps: img2imgSteps(steps, denoisingStrength),
  };
}

/** `mask_blur` sets both directions; sharp blurs both alike, so uneven x/y are averaged. */
function maskBlurOf(body: Img2ImgBody): number {
  if (body.mask_blur !== null && body.mask_blur !== undefined) return body.mask_blur;
  return ((body.mask_blur_x ?? DEFAULT_MASK_BLUR_PX) + (body.mask_blur_y ?? DEFAULT_MASK_BLUR_PX)) / 2;
}
