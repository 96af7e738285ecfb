/** The img2img form (inpainting included): the shared generation fields, the image, and the mask. */
import type { FamilyInfo } from '../api/types';
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

/**
 * The request body of `POST /api/sd/img2img/async`; `family`: the model's. An edit model redraws the whole image
 * (it takes no denoising strength but 1): the strength is left out for it.
 */
export function img2imgBody(form: Img2ImgForm, family: FamilyInfo | null): Record<string, unknown> {
  const body: Record<string, unknown> = { ...generationBody(form, family), init_image: form.init_image ?? '', resize_mode: form.resize_mode };
  if (!family?.edits) body['denoising_strength'] = form.denoising_strength;
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

/** The API's smallest side. */
const MIN_SIDE = 64;

/**
 * The size a task on an image of `width` × `height` asks for, in the image's proportions: the WebUI works
 * in multiples of 8, the longest side is held to `maxSide`, and a small image is scaled up until its
 * shorter side is the API's smallest (64), both sides together (a 40 × 30 image asks for 88 × 64, not a
 * stretched 64 × 64). Only an image too narrow to fit both limits is squeezed.
 */
export function sizeFor(width: number, height: number, maxSide = 1024): { width: number; height: number } {
  const longest = Math.max(width, height);
  const shortest = Math.min(width, height);
  const scale = shortest < MIN_SIDE ? Math.min(MIN_SIDE / shortest, maxSide / longest) : Math.min(1, maxSide / longest);
  // Up: to the nearest multiple of 8 (a side rounded down could fall under 64); down: never over maxSide.
  const round = (v: number) => Math.min(maxSide, Math.max(MIN_SIDE, (scale > 1 ? Math.round(v / 8) : Math.floor(v / 8)) * 8));
  return { width: round(width * scale), height: round(height * scale) };
}

/** The image drawn at `size`, as a PNG data URL. */
export function scaleImage(image: HTMLImageElement, size: { width: number; height: number }): string {
  const canvas = document.createElement('canvas');
  canvas.width = size.width;
  canvas.height = size.height;
  canvas.getContext('2d')!.drawImage(image, 0, 0, size.width, size.height);
  return canvas.toDataURL('image/png');
}
