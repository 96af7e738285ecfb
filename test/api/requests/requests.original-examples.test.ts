/**
 * The bodies of the original deployment's example clients must parse unchanged
 * (sdcn-original.md §7), quirks included: the legacy chilloutmix hash, 600×800,
 * `guessmode`, `upscaler2: "Lanczos"` with factor 0.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  parseImg2ImgRequest,
  parseInterrogateRequest,
  parseTaskIdRequest,
  parseTxt2ImgRequest,
  parseUpscaleRequest,
} from '../../../src/api/requests/index.js';
import { makeContext, sha } from './context-stub.js';
import { imageBase64 } from './image-fixtures.js';
import {
  controlNetExample,
  img2imgDefaults,
  inpaintExample,
  paramsImg2imgJson,
  paramsTxt2imgJson,
  threeDToTwoDExample,
  txt2imgDefaults,
} from './original-examples.js';

const ctx = makeContext();
let photo = '';
let mask = '';
beforeAll(async () => {
  photo = await imageBase64('jpeg', 600, 800);
  mask = await imageBase64('png', 600, 800);
});

describe('original example clients', () => {
  it('txt2img.py / txt2img_async.py: 600×800, two LoRAs, legacy model hash, hires ×1.5', async () => {
    const spec = await parseTxt2ImgRequest(txt2imgDefaults(), ctx);
    expect(spec).toMatchObject({
      width: 600,
      height: 800,
      sampler: 'DPM++ SDE Karras',
      cfgScale: 7,
      model: { id: sha.chilloutMix, name: 'chillout_mix' },
      hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 },
    });
    expect(spec.loras.map((l) => [l.lora.name, l.weight])).toEqual([
      ['koreanDollLikeness_v10', 0.5],
      ['kobeni_v10', 0.7],
    ]);
  });

  it('txt2img_async.py: polls task status with the returned taskId', () => {
    expect(parseTaskIdRequest({ taskId: '803f1804-c79b-4c33-afd2-0d054076dea9' })).toBe('803f1804-c79b-4c33-afd2-0d054076dea9');
  });

  it('control_net.py: guessmode spelling, resize_mode 2, canny thresholds 100/200', async () => {
    const spec = await parseTxt2ImgRequest(controlNetExample(photo), ctx);
    expect(spec.controlNet).toEqual([
      {
        image: photo,
        module: 'canny',
        model: 'sd15_canny',
        thresholdA: 100,
        thresholdB: 200,
        weight: 1,
        resizeMode: 'resize_and_fill',
        guidanceStart: 0,
        guidanceEnd: 1,
        guessMode: false,
      },
    ]);
    expect(spec.hires?.scale).toBe(1.5);
  });

  it('img2img.py: denoising 0.55, resize_mode 1', async () => {
    const spec = await parseImg2ImgRequest(img2imgDefaults(photo), ctx);
    expect(spec).toMatchObject({ initImage: photo, denoisingStrength: 0.55, resizeMode: 'crop_and_resize', width: 600, height: 800 });
  });

  it('inpaint.py: empty loras, fixed seed, mask_mode 0 regenerates the white pixels', async () => {
    const spec = await parseImg2ImgRequest(inpaintExample(photo, mask), ctx);
    expect(spec).toMatchObject({ seed: 163766588, loras: [], prompt: 'red jacket' });
    expect(spec.inpaint).toEqual({ mask, maskBlur: 0, regenerate: 'masked', area: 'whole' });
  });

  it('interrogate.py (deepdanbooru) and 3d_to_2d.py (clip)', async () => {
    expect((await parseInterrogateRequest({ image: photo, model: 'deepdanbooru' }, ctx)).interrogator).toBe('deepdanbooru');
    expect((await parseInterrogateRequest({ image: photo, model: 'clip' }, ctx)).interrogator).toBe('clip');
  });

  it('3d_to_2d.py img2img: integer LoRA weight, odd height rounded down to 680', async () => {
    const spec = await parseImg2ImgRequest(threeDToTwoDExample(photo, 'a girl, smiling'), ctx);
    expect(spec).toMatchObject({ width: 1024, height: 680, sampler: 'Euler a', model: { id: sha.anything } });
    expect(spec.loras[0]?.weight).toBe(1);
  });

  it('upscale.py: upscaler2 "Lanczos" with upscaler2_factor 0', async () => {
    const body = { image: photo, upscalingRate: 2, upscaler: 'Lanczos', upscaler2: 'Lanczos', upscaler2_factor: 0 };
    expect(await parseUpscaleRequest(body, ctx)).toMatchObject({
      scale: 2,
      upscaler: 'Lanczos',
      upscaler2: 'Lanczos',
      upscaler2Visibility: 0,
      sourceWidth: 600,
      sourceHeight: 800,
    });
  });

  it('dan_run.py with params-img2img.json', async () => {
    const spec = await parseImg2ImgRequest(paramsImg2imgJson(photo), ctx);
    expect(spec).toMatchObject({ denoisingStrength: 0.55, resizeMode: 'just_resize' });
  });

  it('dan_run.py with params-txt2img.json, whose seed is above 2^32', async () => {
    const spec = await parseTxt2ImgRequest(paramsTxt2imgJson(), ctx);
    expect(spec.seed).toBe(813241234123);
    expect(spec.loras.map((l) => l.weight)).toEqual([0.6, 0.7]);
  });
});
