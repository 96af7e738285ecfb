/**
 * @module node/backends/upright-images
 *
 * Input images turned upright before a WebUI gets them. A photo's EXIF
 * orientation says how to turn its stored pixels (a phone's portrait photo is
 * often stored landscape); AUTOMATIC1111 turns images so since 1.9, earlier
 * ones use the pixels as stored. The gateway reads sizes upright (and expects
 * an upscale or an "only masked" answer upright), so every WebUI is sent the
 * picture already turned, in place of the original bytes (a JPEG again for a
 * JPEG photo; a PNG otherwise).
 */
import sharp from 'sharp';
import type { GenerationSpec } from '../../domain/spec.js';
import { orientationOf, uprighted } from '../../util/image-orientation.js';

/** Refuses decompression bombs before sharp allocates them. */
const MAX_INPUT_PIXELS = 8192 * 8192;

/** `base64`, or, when it carries an orientation other than "as stored", base64 of it upright (a JPEG stays one). */
async function upright(base64: string): Promise<string> {
  const bytes = Buffer.from(base64, 'base64');
  // The header only: an image the gateway let through is never refused here for its size.
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  const orientation = orientationOf(meta);
  if (orientation === 1) return base64;
  // A photo stays a JPEG (a PNG of it would be many times larger); anything else becomes a PNG.
  const turned = uprighted(sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }), orientation);
  return (await (meta.format === 'jpeg' ? turned.jpeg({ quality: 95 }) : turned.png({ compressionLevel: 1 })).toBuffer()).toString('base64');
}

/** `spec` with every input image upright (the same object when none needed turning). */
export async function withUprightImages(spec: GenerationSpec): Promise<GenerationSpec> {
  switch (spec.kind) {
    case 'upscale':
    case 'interrogate': {
      const image = await upright(spec.image);
      return image === spec.image ? spec : { ...spec, image };
    }
    case 'txt2img':
    case 'img2img': {
      const controlNet = await Promise.all(spec.controlNet.map(async (unit) => ({ ...unit, image: await upright(unit.image) })));
      const changedUnits = controlNet.some((unit, i) => unit.image !== spec.controlNet[i]!.image);
      if (spec.kind === 'txt2img') return changedUnits ? { ...spec, controlNet } : spec;
      const initImage = await upright(spec.initImage);
      const mask = spec.inpaint ? await upright(spec.inpaint.mask) : undefined;
      if (!changedUnits && initImage === spec.initImage && mask === spec.inpaint?.mask) return spec;
      return { ...spec, controlNet, initImage, inpaint: spec.inpaint && mask !== undefined ? { ...spec.inpaint, mask } : spec.inpaint };
    }
  }
}
