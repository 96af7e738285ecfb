/**
 * The request bodies the original deployment's example clients send
 * (fiatrete/SDCN-Stable-Diffusion-Computing-Network `example/`), rebuilt
 * field by field. Prompts are shortened: their content does not matter here.
 */
import { sha } from './context-stub.js';

const prompt = '(8k, RAW photo, best quality, masterpiece:1.2), (realistic, photo-realistic:1.37),1 girl';
const negativePrompt = 'sketches, (worst quality:2), (low quality:2), (normal quality:2), lowres';

/** `common/parameters.py` `get_txt2img_parameters()`: used by txt2img.py and txt2img_async.py. */
export function txt2imgDefaults(): Record<string, unknown> {
  return {
    prompt,
    loras: [
      [sha.korean, 0.5],
      [sha.kobeni, 0.7],
    ],
    seed: -1,
    sampler_name: 'DPM++ SDE Karras',
    steps: 20,
    cfg_scale: 7,
    width: 600,
    height: 800,
    negative_prompt: negativePrompt,
    model: sha.chilloutMix,
    upscale: { denoising_strength: 0.5, scale: 1.5, upscaler: 'Latent' },
  };
}

/** `get_img2img_parameters({init_image})`: img2img.py. */
export function img2imgDefaults(initImage: string): Record<string, unknown> {
  return {
    denoising_strength: 0.55,
    prompt,
    loras: [
      [sha.korean, 0.5],
      [sha.kobeni, 0.7],
    ],
    resize_mode: 1,
    seed: -1,
    sampler_name: 'DPM++ SDE Karras',
    steps: 20,
    cfg_scale: 7,
    width: 600,
    height: 800,
    negative_prompt: negativePrompt,
    model: sha.chilloutMix,
    init_image: initImage,
  };
}

/** control_net.py: the txt2img defaults plus one canny unit, `guessmode` spelling. */
export function controlNetExample(image: string): Record<string, unknown> {
  const unit = {
    image,
    preprocess: 'canny',
    model: 'sd15_canny',
    preprocess_param1: 100,
    preprocess_param2: 200,
    weight: 1,
    resize_mode: 2,
    guidance_start: 0,
    guidance_end: 1,
    guessmode: false,
  };
  return { ...txt2imgDefaults(), control_net: [unit] };
}

/** inpaint.py. */
export function inpaintExample(initImage: string, mask: string): Record<string, unknown> {
  return {
    init_image: initImage,
    resize_mode: 1,
    denoising_strength: 0.55,
    prompt: 'red jacket',
    loras: [],
    seed: 163766588,
    sampler_name: 'DPM++ SDE Karras',
    steps: 20,
    cfg_scale: 7,
    width: 600,
    height: 800,
    negative_prompt: '',
    model: sha.chilloutMix,
    inpaint: { mask, mask_blur: 0, mask_mode: 0, inpaint_area: 0 },
  };
}

/** 3d_to_2d.py's img2img call: anything-v4.5, one LoRA with an integer weight, size from `resize()`. */
export function threeDToTwoDExample(initImage: string, caption: string): Record<string, unknown> {
  return {
    model: sha.anything,
    prompt: caption,
    init_image: initImage,
    loras: [[sha.thickerLines, 1]],
    denoising_strength: 0.45,
    seed: -1,
    sampler_name: 'Euler a',
    steps: 20,
    cfg_scale: 7,
    // resize() of a 3:2 picture: ceil(1024), ceil(683) for a 1500×1000 source.
    width: 1024,
    height: 683,
    negative_prompt: 'EasyNegative, lowres, bad anatomy',
  };
}

/** example/params-txt2img.json, sent by dan_run.py. */
export function paramsTxt2imgJson(): Record<string, unknown> {
  return {
    ...txt2imgDefaults(),
    loras: [
      [sha.korean, 0.6],
      [sha.kobeni, 0.7],
    ],
    seed: 813241234123,
  };
}

/** example/params-img2img.json plus the init_image dan_run.py adds. */
export function paramsImg2imgJson(initImage: string): Record<string, unknown> {
  const { resize_mode: _omitted, ...rest } = img2imgDefaults(initImage);
  return {
    ...rest,
    loras: [
      [sha.korean, 0.6],
      [sha.kobeni, 0.7],
    ],
  };
}
