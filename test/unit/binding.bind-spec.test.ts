import { describe, expect, it } from 'vitest';
import { bindSpec, findByNameKey, findControlNetModel, needsKeyOf, networkFamilyOf } from '../../src/domain/binding.js';
import { fluxModulesOf } from '../../src/domain/families.js';
import { toNodeOffering } from '../../src/domain/offering.js';
import type { ControlNetUnitSpec, UpscaleSpec } from '../../src/domain/spec.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { chillout, clarity, kobeni, txt2img } from '../helpers/specs.js';

const offering = toNodeOffering(makeCapabilities());

const cannyUnit: ControlNetUnitSpec = {
  image: 'AAAA', module: 'canny', model: 'sd15_canny', thresholdA: 100, thresholdB: 200,
  weight: 1, resizeMode: 'resize_and_fill', guidanceStart: 0, guidanceEnd: 1, guessMode: false,
};

describe('bindSpec', () => {
  it('binds every resource to the node\'s own names', () => {
    const outcome = bindSpec(
      txt2img({ model: chillout, loras: [{ lora: kobeni, weight: 0.7 }], sampler: 'DPM++ SDE Karras', hires: { scale: 1.5, upscaler: 'ESRGAN 4x', denoisingStrength: 0.5 }, controlNet: [cannyUnit] }),
      offering,
    );
    expect(outcome).toEqual({
      ok: true,
      binding: {
        checkpoint: 'chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]',
        loras: ['kobeni_v10'],
        sampler: { sampler: 'DPM++ SDE', scheduler: 'Karras' },
        hiresUpscaler: 'ESRGAN_4x',
        controlNet: [{ model: 'control_v11p_sd15_canny [d14c016b]', module: 'canny' }],
      },
    });
  });

  it('lists everything a node lacks', () => {
    const bare = toNodeOffering(makeCapabilities({ models: [], loras: [], controlNet: null, maxPixels: 512 * 512 }));
    const outcome = bindSpec(txt2img({ loras: [{ lora: kobeni, weight: 1 }], sampler: 'UniPC', controlNet: [cannyUnit], hires: { scale: 2, upscaler: 'Latent', denoisingStrength: 0.5 } }), bare);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.missing).toEqual([
      'model clarity',
      'LoRA kobeni_v10',
      'sampler "UniPC"',
      'the ControlNet extension',
      'room for 1048576 pixels (node allows 262144)',
    ]);
  });

  it('refuses more ControlNet units than the node takes', () => {
    const one = toNodeOffering(makeCapabilities({ controlNet: { models: ['control_sd15_canny [fef5e48e]'], modules: ['canny'], maxUnits: 1 } }));
    const outcome = bindSpec(txt2img({ controlNet: [cannyUnit, cannyUnit] }), one);
    expect(outcome.ok ? [] : outcome.missing).toContain('2 ControlNet units (node allows 1)');
  });

  it('binds upscale and interrogate tasks by upscaler and interrogator names', () => {
    const upscale: UpscaleSpec = { kind: 'upscale', image: 'AAAA', scale: 2, upscaler: 'SwinIR 4x', upscaler2: 'Lanczos', upscaler2Visibility: 0.5, sourceWidth: 100, sourceHeight: 100 };
    expect(bindSpec(upscale, offering)).toEqual({ ok: true, binding: { upscaler: 'SwinIR_4x', upscaler2: 'Lanczos' } });
    expect(bindSpec({ kind: 'interrogate', image: 'AAAA', interrogator: 'DeepDanbooru' }, offering)).toEqual({ ok: true, binding: { interrogator: 'deepdanbooru' } });
    const noDanbooru = toNodeOffering(makeCapabilities({ interrogators: ['clip'] }));
    expect(bindSpec({ kind: 'interrogate', image: 'AAAA', interrogator: 'deepdanbooru' }, noDanbooru)).toEqual({ ok: false, missing: ['interrogator deepdanbooru'] });
  });

  it('counts the hires target against max pixels', () => {
    const small = toNodeOffering(makeCapabilities({ maxPixels: 768 * 768 }));
    expect(bindSpec(txt2img({ model: clarity }), small).ok).toBe(true);
    expect(bindSpec(txt2img({ hires: { scale: 2, upscaler: 'Latent', denoisingStrength: 0.5 } }), small).ok).toBe(false);
  });
});

describe('backends and families', () => {
  const flux = { id: 'local:flux1-dev', name: 'flux1-dev' };
  const fluxModel = { title: 'flux1-dev.safetensors', name: 'flux1-dev', fileName: 'flux1-dev.safetensors', sha256: null, family: 'flux' as const };

  it('sends a Flux model to a ComfyUI or a Forge node, never to an A1111 one (A1111 cannot run Flux)', () => {
    const a1111 = toNodeOffering(makeCapabilities({ models: [...makeCapabilities().models, fluxModel] }));
    const comfy = toNodeOffering(makeCapabilities({ backend: { kind: 'comfyui', version: null }, models: [fluxModel] }));
    expect(bindSpec(txt2img({ model: flux }), a1111)).toEqual({ ok: false, missing: ['a backend that runs Flux.1 models (Forge or ComfyUI) for flux1-dev'] });
    expect(bindSpec(txt2img({ model: flux }), comfy)).toMatchObject({ ok: true, binding: { checkpoint: 'flux1-dev.safetensors' } });
    expect(bindSpec(txt2img({ model: flux }), comfy)).not.toHaveProperty('binding.forgeModules');
  });

  it('sends a Qwen-Image or Z-Image-Turbo model to a ComfyUI node only, not even to Forge', () => {
    const qwen = { title: 'qwen_image_fp8_e4m3fn.safetensors', name: 'qwen_image_fp8_e4m3fn', fileName: 'qwen_image_fp8_e4m3fn.safetensors', sha256: null, family: 'qwen-image' as const };
    const zImage = { title: 'z_image_turbo_bf16.safetensors', name: 'z_image_turbo_bf16', fileName: 'z_image_turbo_bf16.safetensors', sha256: null, family: 'z-image-turbo' as const };
    const models = [...makeCapabilities().models, qwen, zImage];
    const forge = toNodeOffering(makeCapabilities({ backend: { kind: 'a1111', version: null, modules: ['ae.safetensors'] }, models }));
    const comfy = toNodeOffering(makeCapabilities({ backend: { kind: 'comfyui', version: null }, models }));
    const ask = (model: { name: string }) => txt2img({ model: { id: `local:${model.name}`, name: model.name } });
    expect(bindSpec(ask(qwen), forge)).toEqual({ ok: false, missing: ['a backend that runs Qwen-Image models (ComfyUI) for qwen_image_fp8_e4m3fn'] });
    expect(bindSpec(ask(zImage), forge)).toEqual({ ok: false, missing: ['a backend that runs Z-Image-Turbo models (ComfyUI) for z_image_turbo_bf16'] });
    expect(bindSpec(ask(qwen), comfy)).toMatchObject({ ok: true, binding: { checkpoint: 'qwen_image_fp8_e4m3fn.safetensors' } });
    // A WebUI that cannot tell its copy's family: the network's word (what the request was read with) holds it off.
    const untold = toNodeOffering(makeCapabilities({ models: [...makeCapabilities().models, { ...qwen, family: undefined }] }));
    expect(bindSpec(ask(qwen), untold).ok).toBe(true);
    expect(bindSpec(ask(qwen), untold, 'qwen-image')).toEqual({ ok: false, missing: ['a backend that runs Qwen-Image models (ComfyUI) for qwen_image_fp8_e4m3fn'] });
    expect(bindSpec(ask(qwen), comfy, 'qwen-image').ok).toBe(true);
    expect(networkFamilyOf(ask(qwen), (model) => (model.name === qwen.name ? 'qwen-image' : null))).toBe('qwen-image');
    expect(networkFamilyOf({ kind: 'interrogate', image: 'AAAA', interrogator: 'deepdanbooru' }, () => 'sd15')).toBeNull();
  });

  it('names Flux\'s VAE and text encoders to a Forge node, and no modules with any other model', () => {
    const modules = ['sdxl_vae.safetensors', 'ae.safetensors', 't5xxl_fp8_e4m3fn.safetensors', 'clip_l.safetensors'];
    const forge = toNodeOffering(makeCapabilities({ backend: { kind: 'a1111', version: null, modules }, models: [...makeCapabilities().models, fluxModel] }));
    expect(bindSpec(txt2img({ model: flux }), forge)).toMatchObject({ ok: true, binding: { checkpoint: 'flux1-dev.safetensors', forgeModules: ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp8_e4m3fn.safetensors'] } });
    expect(bindSpec(txt2img({ model: clarity }), forge)).toMatchObject({ ok: true, binding: { forgeModules: [] } });
    // None of the three: the checkpoint must hold them itself (an all-in-one file), and none are named.
    const none = toNodeOffering(makeCapabilities({ backend: { kind: 'a1111', version: null, modules: ['sdxl_vae.safetensors'] }, models: [fluxModel] }));
    expect(bindSpec(txt2img({ model: flux }), none)).toMatchObject({ ok: true, binding: { forgeModules: [] } });
    // Some only: a node set up for UNet-only files with one missing; it is not sent Flux, and says why.
    const partial = toNodeOffering(makeCapabilities({ backend: { kind: 'a1111', version: null, modules: ['ae.safetensors', 'clip_l.safetensors'] }, models: [fluxModel] }));
    expect(bindSpec(txt2img({ model: flux }), partial)).toEqual({ ok: false, missing: ["Flux's VAE and both text encoders as Forge modules for flux1-dev (the node has only ae.safetensors, clip_l.safetensors)"] });
    // A plain A1111 node gets no Forge fields at all.
    expect(bindSpec(txt2img({ model: clarity }), offering)).not.toHaveProperty('binding.forgeModules');
  });

  it('knows Flux\'s module files by their usual names, and not other models\' files', () => {
    const names = (modules: string[]) => fluxModulesOf(modules);
    // city96's GGUF T5 and a dashed CLIP-L; the exact names preferred when both are there.
    expect(names(['t5-v1_1-xxl-encoder-Q8_0.gguf', 'clip-l_fp16.safetensors', 'flux_vae.safetensors'])).toEqual({ found: ['flux_vae.safetensors', 'clip-l_fp16.safetensors', 't5-v1_1-xxl-encoder-Q8_0.gguf'] });
    expect(names(['flux_vae.safetensors', 'ae.safetensors', 'clip_l.safetensors', 't5xxl_fp8_e4m3fn_scaled.safetensors', 't5xxl_fp16.safetensors'])).toEqual({ found: ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'] });
    // Not Flux's: Wan's UMT5, HiDream's CLIP-L, Flux.2's VAE, an anime VAE starting with "ae".
    expect(names(['umt5_xxl_fp8.safetensors', 'clip_l_hidream.safetensors', 'flux2-vae.safetensors', 'aesthetic_anime_vae.safetensors'])).toEqual({ found: [] });
  });

  it('keeps ControlNet guess mode to A1111 nodes, and the needs key tells the two apart', () => {
    const comfy = toNodeOffering(makeCapabilities({ backend: { kind: 'comfyui', version: null } }));
    const guess = txt2img({ controlNet: [{ ...cannyUnit, guessMode: true }] });
    expect(bindSpec(guess, comfy)).toEqual({ ok: false, missing: ['ControlNet guess mode (an A1111 WebUI with the ControlNet extension)'] });
    expect(bindSpec(guess, offering).ok).toBe(true);
    expect(needsKeyOf(guess)).not.toBe(needsKeyOf(txt2img({ controlNet: [cannyUnit] })));
  });
});

describe('name matching', () => {
  it('finds ControlNet 1.0 and 1.1 files for a DAN model name', () => {
    expect(findControlNetModel('sd15_canny', ['control_sd15_canny [fef5e48e]'])).toBe('control_sd15_canny [fef5e48e]');
    expect(findControlNetModel('sd15_openpose', ['control_v11p_sd15_canny [d14c016b]'])).toBeUndefined();
  });

  it('compares upscaler names ignoring case, spaces, dashes and underscores', () => {
    expect(findByNameKey('ESRGAN 4x', ['ESRGAN_4x'])).toBe('ESRGAN_4x');
    expect(findByNameKey('R-ESRGAN 4x+', ['R-ESRGAN 4x+ Anime6B', 'R-ESRGAN 4x+'])).toBe('R-ESRGAN 4x+');
  });
});

describe('needsKeyOf', () => {
  const base = txt2img({ model: chillout, loras: [{ lora: kobeni, weight: 0.7 }], sampler: 'Euler a' });

  it('ignores what binding does not read: prompt, seed, steps, CFG, LoRA weights', () => {
    const other = { ...base, prompt: 'another', seed: 99, steps: 40, cfgScale: 3, loras: [{ lora: kobeni, weight: 0.2 }] };
    expect(needsKeyOf(other)).toBe(needsKeyOf(base));
  });

  it('differs with each thing binding reads, and then so may the binding', () => {
    const variants = [
      { ...base, model: clarity },
      { ...base, loras: [] },
      { ...base, sampler: 'DPM++ SDE Karras' },
      { ...base, width: 2048, height: 2048 },
      { ...base, hires: { scale: 1.5, upscaler: 'ESRGAN 4x', denoisingStrength: 0.5 } },
      { ...base, controlNet: [cannyUnit] },
      { ...base, controlNet: [cannyUnit, cannyUnit] },
    ];
    const keys = new Set([base, ...variants].map(needsKeyOf));
    expect(keys.size).toBe(variants.length + 1);
    // Equal keys bind alike on a node that lacks some of it, and on one that has it all.
    const small = toNodeOffering(makeCapabilities({ maxPixels: 512 * 512, models: makeCapabilities().models.slice(0, 1) }));
    for (const node of [offering, small]) expect(bindSpec({ ...base, seed: 5, steps: 9 }, node)).toEqual(bindSpec(base, node));
  });
});
