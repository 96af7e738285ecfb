/** The txt2img form: the shared generation fields and hires upscale. */
import type { FamilyInfo } from '../api/types';
import { defaultGeneration, type GenerationForm, generationBody, generationFormOf } from './generation-form';

export interface Txt2ImgForm extends GenerationForm {
  hires: boolean;
  upscale: { upscaler: string; scale: number; denoising_strength: number };
}

export const defaultTxt2Img: Txt2ImgForm = {
  ...defaultGeneration,
  hires: false,
  upscale: { upscaler: 'Latent', scale: 2, denoising_strength: 0.5 },
};

/** The request body of `POST /api/sd/txt2img/async`; `family`: the model's. */
export function txt2imgBody(form: Txt2ImgForm, family: FamilyInfo | null): Record<string, unknown> {
  const body = generationBody(form, family);
  if (form.hires) body['upscale'] = { ...form.upscale };
  return body;
}

/** A form from a request made before (a gallery item's parameters): "use these settings". */
export function txt2imgFormOf(params: Record<string, unknown>): Txt2ImgForm {
  const upscale = params['upscale'] as Txt2ImgForm['upscale'] | undefined;
  return { ...generationFormOf(params), hires: upscale !== undefined, upscale: { ...defaultTxt2Img.upscale, ...upscale } };
}
