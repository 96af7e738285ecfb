/** The img2img form (inpainting included): the shared generation fields, the image, and the mask. */
import { defaultGeneration, type GenerationForm, generationBody, generationFormOf } from './generation-form';

export interface Img2ImgForm extends GenerationForm {
  /** A data URL. */
  init_image: string | null;
  resize_mode: number;
  denoising_strength: number;
  /** Inpainting: a mask is painted and sent. */
  inpaintOn: boolean;
  /** The painted mask as a PNG data URL (white: masked), made by the mask painter. */
  mask: string | null;
  mask_blur: number;
  mask_mode: number;
  inpaint_area: number;
}

export const defaultImg2Img: Img2ImgForm = {
  ...defaultGeneration,
  init_image: null,
  resize_mode: 0,
  denoising_strength: 0.75,
  inpaintOn: false,
  mask: null,
  mask_blur: 4,
  mask_mode: 0,
  inpaint_area: 0,
};

/** The request body of `POST /api/sd/img2img/async`. */
export function img2imgBody(form: Img2ImgForm): Record<string, unknown> {
  const body: Record<string, unknown> = { ...generationBody(form), init_image: form.init_image ?? '', resize_mode: form.resize_mode, denoising_strength: form.denoising_strength };
  if (form.inpaintOn) body['inpaint'] = { mask: form.mask ?? '', mask_blur: form.mask_blur, mask_mode: form.mask_mode, inpaint_area: form.inpaint_area };
  return body;
}

export function img2imgFormOf(params: Record<string, unknown>): Img2ImgForm {
  const form: Img2ImgForm = { ...defaultImg2Img, ...generationFormOf(params) };
  if (typeof params['resize_mode'] === 'number') form.resize_mode = params['resize_mode'];
  if (typeof params['denoising_strength'] === 'number') form.denoising_strength = params['denoising_strength'];
  const inpaint = params['inpaint'] as Partial<Record<'mask_blur' | 'mask_mode' | 'inpaint_area', number>> | undefined;
  if (inpaint) {
    for (const key of ['mask_blur', 'mask_mode', 'inpaint_area'] as const) {
      if (typeof inpaint[key] === 'number') form[key] = inpaint[key];
    }
  }
  return form;
}

/** The WebUI works in multiples of 8; the longest side is held to `maxSide`. */
export function sizeFor(width: number, height: number, maxSide = 1024): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const round = (v: number) => Math.max(64, Math.floor((v * scale) / 8) * 8);
  return { width: round(width), height: round(height) };
}

/** The image drawn at `size`, as a PNG data URL. */
export function scaleImage(image: HTMLImageElement, size: { width: number; height: number }): string {
  const canvas = document.createElement('canvas');
  canvas.width = size.width;
  canvas.height = size.height;
  canvas.getContext('2d')!.drawImage(image, 0, 0, size.width, size.height);
  return canvas.toDataURL('image/png');
}
