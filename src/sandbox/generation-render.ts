/**
 * @module sandbox/generation-render
 *
 * The images of a finished txt2img / img2img job, as base64 PNGs with their
 * infotext: the seed pattern for txt2img; for img2img the init image moved
 * towards the pattern by `denoising_strength`, and with a mask only the pixels
 * the mask selects change. ControlNet detected maps come after the images, as
 * the extension appends them.
 */
import type { ControlUnitPlan } from './controlnet-units.js';
import type { GenerationPlan, Img2ImgPlan } from './generation-plan.js';
import type { DecodedImage } from './image-decoding.js';
import { infotextOf } from './infotext.js';
import type { CheckpointRecord } from './inventory.js';
import { renderSeedPattern } from './pattern.js';
import { blend, composite, detectedMap, encodePng, toMask, toRgb, type Size } from './pixels.js';

/** `black`: every image all zeros (a Flux UNet run without its VAE and text encoders, forge-fields.ts). */
export async function renderImages(plan: GenerationPlan, checkpoint: CheckpointRecord, { black = false } = {}): Promise<string[]> {
  const start = plan.img2img ? await img2imgStart(plan.img2img, plan.size) : null;
  const size = start?.size ?? plan.hires?.size ?? plan.size;
  const images: string[] = [];
  for (const [index, seed] of plan.seeds.entries()) {
    const variation = plan.subseedStrength > 0 ? `\u0000${plan.subseeds[index]}\u0000${plan.subseedStrength}` : '';
    const pattern = renderSeedPattern(seed, plan.prompt + variation, size.width, size.height);
    const rgb = black ? Buffer.alloc(pattern.length) : start ? start.finish(index, pattern) : pattern;
    const png = await encodePng(rgb, size, infotextOf(plan, index, checkpoint));
    images.push(png.toString('base64'));
  }
  for (const unit of plan.controlNet) images.push(...(await mapsOf(plan, unit)));
  return images;
}

interface Img2ImgStart {
  /** The images' size: the output's, or, inpainting only the masked area, the init image's own. */
  size: Size;
  finish(index: number, pattern: Buffer): Buffer;
}

/**
 * Init images and mask fitted to the output once; each image of the batch reuses them. Inpainting only
 * the masked area, the result is the init image at its own size with the area changed (a mask that covers
 * nothing: dropped, and the whole picture is worked on at the output size, as A1111 falls back).
 */
async function img2imgStart(img2img: Img2ImgPlan, output: Size): Promise<Img2ImgStart> {
  const first = img2img.initImages[0];
  const ownSize = first && { width: first.width, height: first.height };
  const maskAt = (size: Size) =>
    toMask(img2img.mask!, size, { resizeMode: img2img.resizeMode, invert: img2img.invertMask, round: img2img.roundMask, blurPx: img2img.maskBlurPx });
  let size = output;
  let mask = img2img.mask && !img2img.onlyMasked ? await maskAt(output) : null;
  if (img2img.mask && img2img.onlyMasked && ownSize) {
    // A mask that covers nothing: dropped, the whole picture worked on ("mask is blank, switch to img2img mode").
    const own = await maskAt(ownSize);
    if (own.some((v) => v > 0)) [size, mask] = [ownSize, own];
  }
  const inits = await Promise.all(img2img.initImages.map((image) => toRgb(image, size, img2img.resizeMode)));
  return {
    size,
    finish(index, pattern) {
      const init = inits[index % inits.length] ?? pattern;
      const generated = blend(init, pattern, img2img.denoisingStrength);
      return mask ? composite(init, generated, mask) : generated;
    },
  };
}

async function mapsOf(plan: GenerationPlan, unit: ControlUnitPlan): Promise<string[]> {
  if (!unit.saveDetectedMap) return [];
  const source: DecodedImage | undefined = unit.image ?? plan.img2img?.initImages[0];
  if (!source) return [];
  const sizes: Size[] = [];
  if (!plan.hires || unit.hrOption !== 'High res only') sizes.push(plan.size);
  if (plan.hires && unit.hrOption !== 'Low res only') sizes.push(plan.hires.size);
  const maps = await Promise.all(sizes.map((size) => detectedMap(source, size, unit.module)));
  return maps.map((png) => png.toString('base64'));
}
