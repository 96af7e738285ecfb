/**
 * Model families at the door: each family's defaults, and the fields a family
 * does not use refused with a message naming the field, never ignored.
 */
import { describe, expect, it } from 'vitest';
import { parseImg2ImgRequest, parseTxt2ImgRequest } from '../../../src/api/requests/index.js';
import { flux2Model, fluxLora, fluxModel, kontextModel, makeContext, qwenEditLora, qwenEditModel, qwenLora, qwenModel, sdxlModel, sha, zImageModel } from './context-stub.js';
import { expectRejected } from './expect-error.js';
import { imageBase64 } from './image-fixtures.js';

const ctx = makeContext();
const TINY_PNG = await imageBase64('png', 64, 64);
const txt2img = (body: Record<string, unknown>) => parseTxt2ImgRequest(body, ctx);

describe('Flux', () => {
  it('defaults to its native 1024², Euler, cfg 1 and guidance 3.5', async () => {
    const spec = await txt2img({ model: fluxModel.name, prompt: 'a sign' });
    expect(spec).toMatchObject({ width: 1024, height: 1024, sampler: 'Euler', cfgScale: 1, guidance: 3.5, negativePrompt: '' });
  });

  it('takes guidance, cfg_scale 1 and a schedule', async () => {
    const spec = await txt2img({ model: fluxModel.name, guidance: 2.5, cfg_scale: 1, sampler_name: 'Euler', scheduler: 'simple' });
    expect(spec).toMatchObject({ guidance: 2.5, cfgScale: 1, sampler: 'Euler Simple' });
  });

  it('refuses a negative prompt, another cfg_scale, and LoRAs or ControlNet models of another family', async () => {
    await expectRejected(() => txt2img({ model: fluxModel.name, negative_prompt: 'blurry' }), { field: 'negative_prompt', message: ['flux1-dev is a Flux.1 model', 'no negative prompt'] });
    await expectRejected(() => txt2img({ model: fluxModel.name, cfg_scale: 7 }), { field: 'cfg_scale', message: ['must be 1 or left out', 'guidance'] });
    await expectRejected(() => txt2img({ model: fluxModel.name, loras: [[sha.korean, 0.5]] }), { field: 'loras[0]', message: ['koreanDollLikeness_v10 is a LoRA for SD 1.5 models'] });
    // One typed in the prompt is named there: the caller sent no `loras`.
    await expectRejected(() => txt2img({ model: fluxModel.name, prompt: 'x <lora:kobeni_v10:0.5>' }), { field: 'prompt', message: ['<lora:kobeni_v10…> in the prompt', 'is a LoRA for SD 1.5 models'] });
    await expectRejected(() => txt2img({ model: fluxModel.name, prompt: 'x <lora:kobeni_v10:0.5>', loras: [[sha.korean, 0.5]] }), { field: 'loras[0]' });
    await expectRejected(() => txt2img({ model: fluxModel.name, guidance: 31 }), { field: 'guidance' });
    // A Flux.2 ControlNet, by its name, is no Flux.1 one.
    await expectRejected(() => txt2img({ model: fluxModel.name, control_net: [{ image: TINY_PNG, preprocess: 'canny', model: 'flux2-controlnet-canny.safetensors' }] }), {
      field: 'control_net[0].model',
      message: ['is a ControlNet model for Flux.2 models', 'flux1-dev is a Flux.1 model'],
    });
  });

  it('refuses a ControlNet model made for SD 1.5 with an SDXL model', async () => {
    const control = await imageBase64('png', 64, 64);
    await expectRejected(() => txt2img({ model: sdxlModel.name, control_net: [{ image: control, preprocess: 'canny', model: 'sd15_canny' }] }), {
      field: 'control_net[0].model',
      message: ['sd15_canny is a ControlNet model for SD 1.5 models', 'sd_xl_base_1.0 is an SDXL model'],
    });
    // Asked for by a node's file name: the catalog entry it holds, or the family its name says.
    await expectRejected(() => txt2img({ model: fluxModel.name, control_net: [{ image: control, preprocess: 'canny', model: 'control_v11p_sd15_canny.pth' }] }), {
      field: 'control_net[0].model',
      message: ['control_v11p_sd15_canny.pth is a ControlNet model for SD 1.5 models'],
    });
    await expectRejected(() => txt2img({ model: sha.chilloutMix, control_net: [{ image: control, preprocess: 'canny', model: 'controlnet-canny-sdxl-1.0.safetensors' }] }), {
      field: 'control_net[0].model',
      message: ['is a ControlNet model for SDXL models'],
    });
  });

  it('applies to img2img too', async () => {
    const init = await imageBase64('png', 64, 64);
    await expectRejected(() => parseImg2ImgRequest({ model: fluxModel.name, init_image: init, negative_prompt: 'x' }, ctx), { field: 'negative_prompt' });
    expect(await parseImg2ImgRequest({ model: fluxModel.name, init_image: init }, ctx)).toMatchObject({ cfgScale: 1, guidance: 3.5, width: 1024 });
  });
});

describe('Flux.2', () => {
  it('defaults to 1024², Euler, cfg 1 and its own guidance 4; refuses a negative prompt, another cfg_scale and ControlNet', async () => {
    expect(await txt2img({ model: flux2Model.name, prompt: 'a poster' })).toMatchObject({ width: 1024, height: 1024, sampler: 'Euler', cfgScale: 1, guidance: 4, steps: 20 });
    expect(await txt2img({ model: flux2Model.name, guidance: 2.5 })).toMatchObject({ guidance: 2.5 });
    // Its latent cells are 16 pixels: sides come down to a multiple of 16 (the VAE would crop the rest).
    expect(await txt2img({ model: flux2Model.name, width: 1000, height: 1272 })).toMatchObject({ width: 992, height: 1264 });
    expect(await txt2img({ model: fluxModel.name, width: 1000, height: 1272 })).toMatchObject({ width: 1000, height: 1272 });
    await expectRejected(() => txt2img({ model: flux2Model.name, negative_prompt: 'blurry' }), { field: 'negative_prompt', message: ['flux2_dev_fp8mixed is a Flux.2 model', 'no negative prompt'] });
    await expectRejected(() => txt2img({ model: flux2Model.name, cfg_scale: 3 }), { field: 'cfg_scale', message: ['must be 1 or left out', 'guidance (default 4)'] });
    const control = await imageBase64('png', 64, 64);
    await expectRejected(() => txt2img({ model: flux2Model.name, control_net: [{ image: control, preprocess: 'canny', model: 'sd15_canny' }] }), { field: 'control_net', message: ['a Flux.2 model, for which the network runs no ControlNet yet'] });
  });
});

describe('Qwen-Image', () => {
  it("defaults to its native 1328², Euler and cfg_scale 2.5, and takes a negative prompt and another cfg_scale", async () => {
    expect(await txt2img({ model: qwenModel.name, prompt: 'a sign' })).toMatchObject({ width: 1328, height: 1328, sampler: 'Euler', cfgScale: 2.5, steps: 20 });
    const spec = await txt2img({ model: qwenModel.name, negative_prompt: 'blurry', cfg_scale: 4, steps: 40 });
    expect(spec).toMatchObject({ negativePrompt: 'blurry', cfgScale: 4, steps: 40 });
    expect(spec).not.toHaveProperty('guidance');
  });

  it("refuses Flux's guidance, an SD 1.5 LoRA and ControlNet, which it does not run through ControlNet's nodes", async () => {
    await expectRejected(() => txt2img({ model: qwenModel.name, guidance: 3 }), { field: 'guidance', message: ['qwen_image_fp8_e4m3fn is a Qwen-Image model, which uses cfg_scale'] });
    const control = await imageBase64('png', 64, 64);
    // A ControlNet model whose name says no family: refused all the same, for the model's family.
    await expectRejected(() => txt2img({ model: qwenModel.name, control_net: [{ image: control, preprocess: 'canny', model: 'my-control.safetensors' }] }), {
      field: 'control_net',
      message: ['qwen_image_fp8_e4m3fn is a Qwen-Image model, for which the network runs no ControlNet yet'],
    });
    await expectRejected(() => txt2img({ model: zImageModel.name, control_net: [{ image: control, preprocess: 'canny', model: 'my-control.safetensors' }] }), { field: 'control_net' });
    await expectRejected(() => txt2img({ model: qwenModel.name, loras: [[sha.korean, 0.5]] }), { field: 'loras[0]', message: ['is a LoRA for SD 1.5 models', 'a Qwen-Image model'] });
  });
});

describe('Z-Image-Turbo', () => {
  it('defaults to 1024², Euler, 8 steps at cfg_scale 1, without guidance', async () => {
    const spec = await txt2img({ model: zImageModel.name, prompt: 'a sign' });
    expect(spec).toMatchObject({ width: 1024, height: 1024, sampler: 'Euler', cfgScale: 1, steps: 8, negativePrompt: '' });
    expect(spec).not.toHaveProperty('guidance');
    expect(await txt2img({ model: zImageModel.name, steps: 12, cfg_scale: 1 })).toMatchObject({ steps: 12, cfgScale: 1 });
  });

  it('refuses a negative prompt, another cfg_scale and guidance, saying it takes none', async () => {
    await expectRejected(() => txt2img({ model: zImageModel.name, negative_prompt: 'blurry' }), { field: 'negative_prompt', message: ['z_image_turbo_bf16 is a Z-Image-Turbo model', 'no negative prompt'] });
    const cfg = await expectRejected(() => txt2img({ model: zImageModel.name, cfg_scale: 4 }), { field: 'cfg_scale', message: ['must be 1 or left out', 'runs at cfg_scale 1', 'got 4'] });
    expect(cfg.message).not.toContain('guidance');
    await expectRejected(() => txt2img({ model: zImageModel.name, guidance: 3 }), { field: 'guidance', message: ['a Z-Image-Turbo model, which takes no guidance'] });
  });

  it('its few steps stay within a gateway whose limit is lower', async () => {
    const low = makeContext({ maxSteps: 6 });
    expect(await parseTxt2ImgRequest({ model: zImageModel.name }, low)).toMatchObject({ steps: 6 });
  });
});

describe('SD 1.5, SDXL and models of unknown family', () => {
  it('SDXL defaults to 1024², SD 1.5 to 512²; neither has guidance in its spec', async () => {
    const sdxl = await txt2img({ model: sdxlModel.name });
    expect(sdxl).toMatchObject({ width: 1024, height: 1024, sampler: 'Euler a', cfgScale: 7 });
    expect(sdxl).not.toHaveProperty('guidance');
    expect(await txt2img({ model: sha.chilloutMix })).toMatchObject({ width: 512, height: 512 });
  });

  it('refuses guidance for a family that uses cfg_scale, and for a model whose family no one knows', async () => {
    await expectRejected(() => txt2img({ model: sha.chilloutMix, guidance: 3.5 }), { field: 'guidance', message: ['chillout_mix is an SD 1.5 model, which uses cfg_scale'] });
    await expectRejected(() => txt2img({ model: 'myModel', guidance: 3.5 }), { field: 'guidance', message: ['family of myModel is not known'] });
  });

  it('puts no family rule on a model of unknown family: any LoRA, 512² default', async () => {
    expect(await txt2img({ model: 'myModel', loras: [[sha.korean, 0.5]], negative_prompt: 'x' })).toMatchObject({ width: 512, loras: [{ weight: 0.5 }] });
  });
});

describe('SDXL refiner', () => {
  it('takes a refiner checkpoint and its switch point (default 0.8) for SDXL, in txt2img', async () => {
    expect((await txt2img({ model: sdxlModel.name, refiner: { model: 'myModel' } })).refiner).toEqual({ model: { id: 'local:mymodel', name: 'myModel' }, switchAt: 0.8 });
    expect((await txt2img({ model: sdxlModel.name, refiner: { model: 'myModel', switch_at: 0.6 } })).refiner?.switchAt).toBe(0.6);
  });

  it('refuses it for other families, an unknown refiner, a switch point outside (0, 1), and in img2img', async () => {
    await expectRejected(() => txt2img({ model: sha.chilloutMix, refiner: { model: 'myModel' } }), { field: 'refiner', message: ['is for SDXL models', 'an SD 1.5 model'] });
    await expectRejected(() => txt2img({ model: sdxlModel.name, refiner: { model: 'nope' } }), { field: 'refiner.model' });
    await expectRejected(() => txt2img({ model: sdxlModel.name, refiner: { model: fluxModel.name } }), { field: 'refiner.model', message: ['must be an SDXL refiner', 'a Flux.1 model'] });
    await expectRejected(() => txt2img({ model: sdxlModel.name, refiner: { model: 'myModel' }, upscale: { scale: 1.5 } }), { field: 'refiner', message: ['cannot be combined with upscale'] });
    await expectRejected(() => txt2img({ model: sdxlModel.name, refiner: { model: 'myModel', switch_at: 1 } }), { field: 'refiner.switch_at' });
    const init = await imageBase64('png', 64, 64);
    await expectRejected(() => parseImg2ImgRequest({ model: sdxlModel.name, init_image: init, refiner: { model: 'myModel' } }, ctx), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD' });
  });
});

describe('scheduler', () => {
  it('joins the sampler as the legacy combined name; Automatic adds nothing; an unknown one is listed', async () => {
    expect((await txt2img({ model: sha.chilloutMix, sampler_name: 'DPM++ 2M', scheduler: 'karras' })).sampler).toBe('DPM++ 2M Karras');
    expect((await txt2img({ model: sha.chilloutMix, sampler_name: 'DPM++ 2M', scheduler: 'automatic' })).sampler).toBe('DPM++ 2M');
    await expectRejected(() => txt2img({ model: sha.chilloutMix, scheduler: 'Turbo' }), { field: 'scheduler', message: ['"Turbo" is not a supported scheduler', 'Karras'] });
  });

  it('takes a combined name with its own schedule named again (as A1111 does), and refuses another schedule beside it', async () => {
    expect((await txt2img({ model: sha.chilloutMix, sampler_name: 'DPM++ SDE Karras', scheduler: 'Karras' })).sampler).toBe('DPM++ SDE Karras');
    expect((await txt2img({ model: sha.chilloutMix, sampler_name: 'DPM++ SDE Karras', scheduler: 'karras' })).sampler).toBe('DPM++ SDE Karras');
    await expectRejected(() => txt2img({ model: sha.chilloutMix, sampler_name: 'DPM++ SDE Karras', scheduler: 'Exponential' }), {
      field: 'scheduler',
      message: ['sampler_name "DPM++ SDE Karras" names its schedule (Karras) already', 'send the sampler alone ("DPM++ SDE")'],
    });
  });
});

describe('FLUX.1 Kontext, an edit model', () => {
  it('edits through img2img: strength 1, guidance 2.5, cfg 1, 20 steps, at the edit size nearest the image\'s aspect', async () => {
    const wide = await imageBase64('png', 192, 108);
    const spec = await parseImg2ImgRequest({ model: kontextModel.name, init_image: wide, prompt: 'make the sky red' }, ctx);
    expect(spec).toMatchObject({ denoisingStrength: 1, guidance: 2.5, cfgScale: 1, steps: 20, sampler: 'Euler', width: 1392, height: 752, inpaint: null });
    const square = await parseImg2ImgRequest({ model: kontextModel.name, init_image: TINY_PNG, prompt: 'x' }, ctx);
    expect(square).toMatchObject({ width: 1024, height: 1024 });
    // A size asked for is kept (in Flux's 16-pixel cells), and a strength of 1 is no contradiction.
    expect(await parseImg2ImgRequest({ model: kontextModel.name, init_image: wide, width: 1000, height: 600, denoising_strength: 1 }, ctx)).toMatchObject({ width: 992, height: 592, denoisingStrength: 1 });
    // One side asked for: the other in the image's proportions (16:9), in its cells.
    expect(await parseImg2ImgRequest({ model: kontextModel.name, init_image: wide, width: 1024 }, ctx)).toMatchObject({ width: 1024, height: 576 });
    expect(await parseImg2ImgRequest({ model: kontextModel.name, init_image: wide, height: 720 }, ctx)).toMatchObject({ width: 1280, height: 720 });
    // The image is fitted to the size as ComfyUI's Kontext scaling does, cropped to its aspect, unless the request says how.
    expect(square).toMatchObject({ resizeMode: 'crop_and_resize' });
    expect(await parseImg2ImgRequest({ model: kontextModel.name, init_image: wide, resize_mode: 0 }, ctx)).toMatchObject({ resizeMode: 'just_resize' });
    // Other models keep the API's default.
    expect(await parseImg2ImgRequest({ model: fluxModel.name, init_image: wide }, ctx)).toMatchObject({ resizeMode: 'just_resize' });
  });

  it('takes Flux.1 LoRAs (Kontext LoRAs are trained as Flux.1\'s), not an SD 1.5 one; a Flux.1 model takes no Kontext-only family\'s', async () => {
    const spec = await parseImg2ImgRequest({ model: kontextModel.name, init_image: TINY_PNG, loras: [[fluxLora.name, 0.8]] }, ctx);
    expect(spec.loras).toEqual([{ lora: fluxLora, weight: 0.8 }]);
    await expectRejected(() => parseImg2ImgRequest({ model: kontextModel.name, init_image: TINY_PNG, loras: [[sha.korean, 0.5]] }, ctx), { field: 'loras[0]', message: ['is a LoRA for SD 1.5 models', 'FLUX.1 Kontext model'] });
    expect((await txt2img({ model: fluxModel.name, loras: [[fluxLora.name, 0.8]] })).loras).toHaveLength(1);
  });

  it('refuses txt2img, another strength, a mask and a negative prompt, each naming the field and why', async () => {
    await expectRejected(() => txt2img({ model: kontextModel.name, prompt: 'a cat' }), { field: 'model', message: ['flux1-dev-kontext_fp8_scaled is a FLUX.1 Kontext model', 'send it to img2img'] });
    await expectRejected(() => parseImg2ImgRequest({ model: kontextModel.name, init_image: TINY_PNG, denoising_strength: 0.6 }, ctx), { field: 'denoising_strength', message: ['must be 1 or left out', 'redraws the whole image'] });
    await expectRejected(() => parseImg2ImgRequest({ model: kontextModel.name, init_image: TINY_PNG, inpaint: { mask: TINY_PNG } }, ctx), { field: 'inpaint', message: ['no mask'] });
    await expectRejected(() => parseImg2ImgRequest({ model: kontextModel.name, init_image: TINY_PNG, negative_prompt: 'blurry' }, ctx), { field: 'negative_prompt', message: ['no negative prompt'] });
  });
});

describe('Qwen-Image-Edit, an edit model', () => {
  it('edits through img2img: strength 1, cfg 2.5 with a negative prompt, 20 steps, at the edit size nearest the image\'s aspect', async () => {
    const wide = await imageBase64('png', 192, 108);
    const spec = await parseImg2ImgRequest({ model: qwenEditModel.name, init_image: wide, prompt: 'make the sky red', negative_prompt: 'blurry' }, ctx);
    expect(spec).toMatchObject({ denoisingStrength: 1, cfgScale: 2.5, steps: 20, sampler: 'Euler', negativePrompt: 'blurry', width: 1392, height: 752, inpaint: null, resizeMode: 'crop_and_resize' });
    expect(await parseImg2ImgRequest({ model: qwenEditModel.name, init_image: wide, width: 1000, height: 600, cfg_scale: 4 }, ctx)).toMatchObject({ width: 992, height: 592, cfgScale: 4 });
  });

  it('refuses txt2img, another strength, a mask and a Qwen-Image LoRA, each naming the field and why', async () => {
    await expectRejected(() => txt2img({ model: qwenEditModel.name, prompt: 'a cat' }), { field: 'model', message: ['qwen_image_edit_2509_fp8_e4m3fn is a Qwen-Image-Edit model', 'send it to img2img'] });
    await expectRejected(() => parseImg2ImgRequest({ model: qwenEditModel.name, init_image: TINY_PNG, denoising_strength: 0.6 }, ctx), { field: 'denoising_strength', message: ['must be 1 or left out'] });
    await expectRejected(() => parseImg2ImgRequest({ model: qwenEditModel.name, init_image: TINY_PNG, inpaint: { mask: TINY_PNG } }, ctx), { field: 'inpaint', message: ['no mask'] });
    await expectRejected(() => parseImg2ImgRequest({ model: qwenEditModel.name, init_image: TINY_PNG, guidance: 3 }, ctx), { field: 'guidance' });
    await expectRejected(() => parseImg2ImgRequest({ model: qwenEditModel.name, init_image: TINY_PNG, loras: [[qwenLora.name, 0.8]] }, ctx), { field: 'loras[0]', message: ['is a LoRA for Qwen-Image models', 'Qwen-Image-Edit model'] });
  });

  it('takes its own family\'s LoRAs (a Lightning one among them), which a Qwen-Image model does not', async () => {
    const spec = await parseImg2ImgRequest({ model: qwenEditModel.name, init_image: TINY_PNG, loras: [[qwenEditLora.name, 1]], steps: 4, cfg_scale: 1 }, ctx);
    expect(spec).toMatchObject({ loras: [{ lora: qwenEditLora, weight: 1 }], steps: 4, cfgScale: 1 });
    await expectRejected(() => txt2img({ model: qwenModel.name, loras: [[qwenEditLora.name, 1]] }), { field: 'loras[0]', message: ['is a LoRA for Qwen-Image-Edit models'] });
  });
});
