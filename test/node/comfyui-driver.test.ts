/**
 * The ComfyUI driver against the ComfyUI sandbox: discovery (names, families,
 * what Flux needs, GPU memory), runs of each kind with progress, seeds and
 * timed loads, ComfyUI's refusals and failures as task errors, and cancels.
 */
import sharp from 'sharp';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GenerationSpec, Img2ImgSpec, InpaintSpec } from '../../src/domain/spec.js';
import type { DanError } from '../../src/errors/dan-error.js';
import { ComfyUIDriver } from '../../src/node/backends/comfyui/comfyui-driver.js';
import { discoverComfy } from '../../src/node/backends/comfyui/discover.js';
import type { BackendClient } from '../../src/node/backends/backend-client.js';
import type { RunProgress } from '../../src/node/backend-driver.js';
import { startSandbox, type ComfyOfferings, type Sandbox } from '../../src/sandbox/index.js';
import { picture, pngSize, startComfyWorld, type ComfyWorld } from '../helpers/comfy-world.js';
import { txt2img } from '../helpers/specs.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function world(offerings: Partial<ComfyOfferings> = {}, timing: { speed?: number; switchSeconds?: number } = {}): Promise<ComfyWorld> {
  const w = await startComfyWorld(offerings, timing);
  open.push(w.sandbox);
  return w;
}

function driverFor(sandbox: Sandbox, options: Partial<ConstructorParameters<typeof ComfyUIDriver>[0]> = {}): ComfyUIDriver {
  return new ComfyUIDriver({ baseUrl: sandbox.url, maxPixels: 4096 * 4096, abortGraceMs: 2000, ...options });
}

/** A 256² inpainting of `init` under `mask` on `w`'s clarity, run by `driver`; the result's pixel at x, y. */
async function inpainted(w: ComfyWorld, driver: ComfyUIDriver, init: Buffer, mask: Buffer, inpaint: Pick<InpaintSpec, 'regenerate' | 'area'>, denoisingStrength: number) {
  const { hires: _h, kind: _k, ...common } = txt2img({ model: w.model('clarity.safetensors'), width: 256, height: 256, steps: 4 });
  const spec: Img2ImgSpec = {
    kind: 'img2img',
    ...common,
    initImage: init.toString('base64'),
    resizeMode: 'just_resize',
    denoisingStrength,
    inpaint: { mask: mask.toString('base64'), maskBlur: 0, ...inpaint },
  };
  const { result } = await driver.run(spec, w.bind(spec));
  if (result.kind !== 'images') throw new Error('no images');
  const { data } = await sharp(Buffer.from(result.images[0]!, 'base64')).raw().toBuffer({ resolveWithObject: true });
  return (x: number, y: number) => [...data.subarray((y * 256 + x) * 3, (y * 256 + x) * 3 + 3)];
}

async function failure(promise: Promise<unknown>): Promise<DanError> {
  try {
    await promise;
  } catch (error) {
    return error as DanError;
  }
  throw new Error('expected the run to fail');
}

describe('discovery', () => {
  it('declares DAN names, families, ControlNet, tagger and a pixel limit from the GPU memory', async () => {
    const w = await world({ vramBytes: 8 * 1024 ** 3 });
    const driver = driverFor(w.sandbox);
    const { capabilities, loadedModel } = await driver.discover();
    expect(loadedModel).toBeNull();
    expect(capabilities.backend).toEqual({ kind: 'comfyui', version: '0.3.75-sandbox' });
    expect(capabilities.samplers).toEqual(expect.arrayContaining(['Euler a', 'Euler', 'DPM++ SDE', 'DPM++ 2M', 'DDIM']));
    expect(capabilities.schedulers).toEqual(expect.arrayContaining(['Automatic', 'Karras', 'Simple', 'Beta']));
    expect(capabilities.upscalers).toEqual(['Lanczos', 'Nearest', 'R-ESRGAN 4x+', 'R-ESRGAN 4x+ Anime6B']);
    expect(capabilities.latentUpscaleModes).toEqual(['Latent', 'Latent (bicubic)', 'Latent (nearest-exact)']);
    expect(capabilities.controlNet).toEqual({ models: ['control_v11p_sd15_canny.pth', 'control_v11p_sd15_openpose.pth'], modules: ['canny', 'openpose'], maxUnits: 4 });
    expect(capabilities.interrogators).toEqual(['deepdanbooru']);
    expect(capabilities.maxPixels).toBe(1024 * 1024);
    const families = Object.fromEntries(capabilities.models.map((m) => [m.title, m.family ?? null]));
    expect(families).toMatchObject({
      'clarity.safetensors': null,
      'sd_xl_base_1.0.safetensors': 'sdxl',
      'flux1-dev.safetensors': 'flux',
      'flux2_dev_fp8mixed.safetensors': 'flux2',
      'qwen_image_fp8_e4m3fn.safetensors': 'qwen-image',
      'z_image_turbo_bf16.safetensors': 'z-image-turbo',
      'flux1-dev-kontext_fp8_scaled.safetensors': 'flux-kontext',
    });
  });

  it('offers a Flux UNet only with its T5 and CLIP-L encoders and VAE; declared families win over metadata', async () => {
    const w = await world({ textEncoders: ['clip_l.safetensors'], customNodes: [] });
    const { capabilities } = await driverFor(w.sandbox, { declaredFamilies: new Map([['clarity', 'sdxl'], ['sd_xl_base_1.0.safetensors', 'sd15']]) }).discover();
    expect(capabilities.models.map((m) => m.title)).not.toContain('flux1-dev.safetensors');
    const families = Object.fromEntries(capabilities.models.map((m) => [m.title, m.family ?? null]));
    expect(families).toMatchObject({ 'clarity.safetensors': 'sdxl', 'sd_xl_base_1.0.safetensors': 'sd15' });
    expect(capabilities.controlNet?.modules).toEqual(['canny']);
    expect(capabilities.interrogators).toEqual([]);
  });

  /** The models a node discovers from `sandbox`'s ComfyUI as an older one would list its nodes (`change` edits its `/object_info`). */
  async function modelsOfOlder(sandbox: { url: string }, change: (info: Record<string, any>) => void) {
    const info = (await (await fetch(`${sandbox.url}/object_info`)).json()) as Record<string, any>;
    change(info);
    const older = { baseUrl: sandbox.url, getOptional: async (path: string) => (path === '/object_info' ? info : undefined) } as unknown as BackendClient;
    return (await discoverComfy(older, { maxPixels: 1024 ** 2, declaredFamilies: new Map(), metadataCache: new Map() })).capabilities.models;
  }

  it('offers Flux.1 dev and schnell, FLUX.1 Kontext dev and Flux.2 dev UNets by name, not their variants for other work nor Flux.2 Klein; an SDXL refiner is no SDXL model', async () => {
    const files = ['flux1-schnell.safetensors', 'flux1-fill-dev.safetensors', 'flux1-kontext-dev.safetensors', 'flux1-kontext-pro.safetensors', 'flux2-dev.safetensors', 'flux-2-klein-4b.safetensors'];
    const w = await world({ diffusionModels: files.map((fileName) => ({ fileName, family: 'flux' as const })) });
    const { capabilities } = await driverFor(w.sandbox).discover();
    expect(capabilities.models.filter((m) => m.family === 'flux').map((m) => m.title)).toEqual(['flux1-schnell.safetensors']);
    expect(capabilities.models.filter((m) => m.family === 'flux-kontext').map((m) => m.title)).toEqual(['flux1-kontext-dev.safetensors']);
    // A ComfyUI from before Kontext (no ReferenceLatent, v0.3.42): no Kontext model.
    const beforeKontext = (await modelsOfOlder(w.sandbox, (info) => delete info['ReferenceLatent'])).map((m) => m.family);
    expect(beforeKontext).not.toContain('flux-kontext');
    expect(beforeKontext).toContain('flux');
    expect(capabilities.models.filter((m) => m.family === 'flux2').map((m) => m.title)).toEqual(['flux2-dev.safetensors']);
    // Without Mistral, its text encoder: no Flux.2.
    const noMistral = await world({ textEncoders: ['clip_l.safetensors', 't5xxl_fp16.safetensors'] });
    expect((await driverFor(noMistral.sandbox).discover()).capabilities.models.map((m) => m.family)).not.toContain('flux2');
    const { familyOfArchitecture } = await import('../../src/domain/families.js');
    expect(['stable-diffusion-xl-v1-base', 'stable-diffusion-xl-v1-refiner', 'stable-diffusion-v1', 'flux-1-dev', 'flux-1-dev/lora', 'Flux.2-dev', 'Flux.2-klein-4b'].map(familyOfArchitecture)).toEqual(['sdxl', null, 'sd15', 'flux', null, 'flux2', null]);
  });

  it('offers Qwen-Image-Edit 2509 and 2511 UNets by name, not the first Edit model nor distilled ones, and only on a ComfyUI with its encoding node', async () => {
    const files = ['qwen_image_edit_2509_fp8_e4m3fn.safetensors', 'qwen_image_edit_2511_bf16.safetensors', 'qwen_image_edit_fp8_e4m3fn.safetensors', 'qwen-image-edit-2509-lightning-4steps.safetensors', 'svdq-int4_r128-qwen-image-edit-2509.safetensors', 'qwen_image_fp8_e4m3fn.safetensors'];
    const w = await world({ diffusionModels: files.map((fileName) => ({ fileName, family: 'qwen-image' as const })) });
    const { capabilities } = await driverFor(w.sandbox).discover();
    const familyOf = Object.fromEntries(capabilities.models.map((m) => [m.title, m.family]));
    expect(familyOf).toMatchObject({ 'qwen_image_edit_2509_fp8_e4m3fn.safetensors': 'qwen-image-edit', 'qwen_image_edit_2511_bf16.safetensors': 'qwen-image-edit', 'qwen_image_fp8_e4m3fn.safetensors': 'qwen-image' });
    expect(familyOf).not.toHaveProperty('qwen_image_edit_fp8_e4m3fn.safetensors');
    expect(familyOf).not.toHaveProperty('qwen-image-edit-2509-lightning-4steps.safetensors');
    expect(familyOf).not.toHaveProperty('svdq-int4_r128-qwen-image-edit-2509.safetensors');
    // A ComfyUI from before the 2509 model (no TextEncodeQwenImageEditPlus, about v0.3.60): no Qwen-Image-Edit.
    const beforePlus = (await modelsOfOlder(w.sandbox, (info) => delete info['TextEncodeQwenImageEditPlus'])).map((m) => m.family);
    expect(beforePlus).not.toContain('qwen-image-edit');
    expect(beforePlus).toContain('qwen-image');
    // One that has the Plus encoder but not 2511's reference method (ComfyUI before December 2025): 2509 only.
    const before2511 = await modelsOfOlder(w.sandbox, (info) => {
      const method = info['FluxKontextMultiReferenceLatentMethod'].input.required.reference_latents_method;
      method[0] = method[0].filter((choice: string) => choice !== 'index_timestep_zero');
    });
    expect(before2511.filter((m) => m.family === 'qwen-image-edit').map((m) => m.title)).toEqual(['qwen_image_edit_2509_fp8_e4m3fn.safetensors']);
  });

  it('offers Qwen-Image and Z-Image-Turbo UNets only with their own text encoder and VAE, by name or as their owner declares', async () => {
    const bare = await world({ textEncoders: ['clip_l.safetensors', 't5xxl_fp16.safetensors'], vaes: ['ae.safetensors'] });
    const titles = (await driverFor(bare.sandbox).discover()).capabilities.models.map((m) => m.title);
    expect(titles).toContain('flux1-dev.safetensors');
    expect(titles).not.toContain('qwen_image_fp8_e4m3fn.safetensors');
    expect(titles).not.toContain('z_image_turbo_bf16.safetensors');
    // Qwen's encoder without Qwen's VAE: Z-Image (the Flux VAE) is offered, Qwen-Image is not.
    const noQwenVae = await world({ vaes: ['ae.safetensors'] });
    const offered = (await driverFor(noQwenVae.sandbox).discover()).capabilities.models.map((m) => m.title);
    expect(offered).toContain('z_image_turbo_bf16.safetensors');
    expect(offered).not.toContain('qwen_image_fp8_e4m3fn.safetensors');
    // The Edit model and a file named for nothing: not offered unless declared; declared, with the encoders there, they are.
    const w = await world({
      diffusionModels: ['qwen_image_edit_2509_fp8_e4m3fn.safetensors', 'my-finetune.safetensors', 'qwen-image-q8.safetensors'].map((fileName) => ({ fileName, family: 'qwen-image' as const })),
    });
    expect((await driverFor(w.sandbox).discover()).capabilities.models.filter((m) => m.family === 'qwen-image').map((m) => m.title)).toEqual(['qwen-image-q8.safetensors']);
    const declared = await driverFor(w.sandbox, { declaredFamilies: new Map([['my-finetune', 'z-image-turbo']]) }).discover();
    expect(declared.capabilities.models.find((m) => m.title === 'my-finetune.safetensors')?.family).toBe('z-image-turbo');
    // A ComfyUI from before Z-Image (its CLIPLoader has `lumina2`, not yet `flux2`, which came with Z-Image): not offered.
    const beforeZImage = await modelsOfOlder(noQwenVae.sandbox, (info) => {
      const typeInput = info['CLIPLoader'].input.required.type;
      typeInput[0] = typeInput[0].filter((type: string) => type !== 'flux2');
    });
    expect(beforeZImage.map((m) => m.family)).not.toContain('z-image-turbo');
    expect(beforeZImage.map((m) => m.family)).toContain('flux');
    const { familyOfArchitecture } = await import('../../src/domain/families.js');
    expect(['Qwen-Image', 'qwen_image', 'Qwen-Image-Edit', 'Z-Image', 'z-image-turbo', 'Qwen-Image/lora'].map(familyOfArchitecture)).toEqual(['qwen-image', 'qwen-image', null, null, 'z-image-turbo', null]);
    // musubi-tuner's names for the Edit models it trains LoRAs for: 2509 ("Plus") and 2511; not the first Edit model.
    expect(['Qwen-Image-Edit-Plus', 'qwen_image_edit_2511', 'Qwen-Image-Edit-2509'].map(familyOfArchitecture)).toEqual(['qwen-image-edit', 'qwen-image-edit', 'qwen-image-edit']);
    const { loraFamilyOfMetadata } = await import('../../src/domain/families.js');
    expect(loraFamilyOfMetadata({ 'modelspec.architecture': 'Qwen-Image-Edit-2511/lora' })).toBe('qwen-image-edit');
    expect(loraFamilyOfMetadata({ 'modelspec.architecture': 'Qwen-Image-Edit/lora' })).toBeNull();
  });

  it('names a LoRA outside the catalog as A1111 does (its stem), so it has one identity on both kinds of node; the graph loads the listed path', async () => {
    const w = await world({ loras: ['styles/myStyle.safetensors'] });
    const driver = driverFor(w.sandbox);
    const { capabilities } = await driver.discover();
    expect(capabilities.loras).toEqual([{ name: 'myStyle', alias: null, fileName: 'myStyle.safetensors', sha256: null }]);
    const { loraRefOf } = await import('../../src/domain/offering.js');
    const a1111 = { name: 'myStyle', alias: 'myStyle', fileName: 'myStyle.safetensors', sha256: null };
    expect(loraRefOf(capabilities.loras[0]!)).toEqual(loraRefOf(a1111));
    const spec = txt2img({ model: w.model('clarity.safetensors'), steps: 2, loras: [{ lora: loraRefOf(a1111), weight: 0.5 }] });
    await driver.run(spec, w.bind(spec));
    const graph = (w.sandbox.requests().find((r) => r.path === '/prompt')!.body as { prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }> }).prompt;
    expect(Object.values(graph).find((n) => n.class_type === 'LoraLoader')!.inputs['lora_name']).toBe('styles/myStyle.safetensors');
  });

  it('tells the family of a LoRA whose file\'s metadata says it (ComfyUI\'s /view_metadata), once per file an hour', async () => {
    const w = await world({
      loras: ['styles/inkwash_xl.safetensors', 'paperCut.safetensors', 'mystery.safetensors', 'old.pt'],
      loraMetadata: { 'styles/inkwash_xl.safetensors': { ss_base_model_version: 'sdxl_base_v1-0' }, 'paperCut.safetensors': { 'modelspec.architecture': 'stable-diffusion-v1/lora' } },
    });
    const driver = driverFor(w.sandbox);
    const fetched = vi.spyOn(globalThis, 'fetch');
    const { capabilities } = await driver.discover();
    expect(capabilities.loras.map((l) => `${l.name}:${l.family ?? '?'}`)).toEqual(['inkwash_xl:sdxl', 'paperCut:sd15', 'mystery:?', 'old:?']);
    const asked = () => fetched.mock.calls.filter(([url]) => (url instanceof Request ? url.url : url.toString()).includes('/view_metadata/loras')).length;
    // The three safetensors files (a .pt has no header to read), and not again at the next discovery.
    expect(asked()).toBe(3);
    await driver.discover();
    expect(asked()).toBe(3);
    // An hour on (a file replaced under its name would say so now), each is asked again.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61 * 60_000);
    await driver.discover();
    vi.useRealTimers();
    expect(asked()).toBe(6);
    fetched.mockRestore();
  });

  it('asks again ten minutes on for a file whose metadata request failed, not at every discovery nor only after a restart', async () => {
    const w = await world({ loras: ['styles/inkwash.safetensors'], loraMetadata: { 'styles/inkwash.safetensors': { ss_base_model_version: 'sdxl_base_v1-0' } } });
    const driver = driverFor(w.sandbox);
    const realFetch = globalThis.fetch;
    let failures = 1;
    let asked = 0;
    // ComfyUI busy (loading a model) or the link dropping: the first metadata request fails.
    const fetched = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const url = input instanceof Request ? input.url : input.toString();
      if (url.includes('/view_metadata/loras')) {
        asked += 1;
        if (failures-- > 0) return Promise.reject(new TypeError('fetch failed'));
      }
      return realFetch(input, init);
    });
    const familyOfLora = async () => (await driver.discover()).capabilities.loras.map((l) => l.family ?? null);
    try {
      expect(await familyOfLora()).toEqual([null]);
      expect(await familyOfLora()).toEqual([null]);
      expect(asked).toBe(1);
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 11 * 60_000);
      expect(await familyOfLora()).toEqual(['sdxl']);
      expect(asked).toBe(2);
    } finally {
      vi.useRealTimers();
      fetched.mockRestore();
    }
  });

  it('says what is wrong when the URL is not a ComfyUI', async () => {
    const a1111 = await startSandbox({ speed: Infinity });
    open.push(a1111);
    const error = await failure(driverFor(a1111).discover());
    expect(error.id).toBe('DAN_ERR_BACKEND_UNREACHABLE');
    expect(error.message).toContain('/object_info');
  });
});

describe('running tasks', () => {
  it('txt2img: the image, the seed it picked, progress to 1 with previews, a timed load only when the model changes', async () => {
    const w = await world({}, { speed: 50 });
    const driver = driverFor(w.sandbox);
    await driver.discover();
    const spec = txt2img({ model: w.model('clarity.safetensors'), seed: -1, steps: 16 });
    const reports: RunProgress[] = [];
    const first = await driver.run(spec, w.bind(spec), { onProgress: (p) => reports.push(p) });
    expect(first.result.kind).toBe('images');
    if (first.result.kind !== 'images') return;
    expect(pngSize(Buffer.from(first.result.images[0]!, 'base64'))).toEqual({ width: 512, height: 512 });
    expect(first.result.seeds).toHaveLength(1);
    expect(first.result.seeds[0]).toBeGreaterThanOrEqual(0);
    expect(reports.at(-1)?.progress).toBe(1);
    expect(reports.map((r) => r.progress)).toEqual([...reports.map((r) => r.progress)].sort((a, b) => a - b));
    expect(reports.some((r) => r.preview !== undefined)).toBe(true);
    expect(first.load).toMatchObject({ checkpoint: 'clarity.safetensors' });
    expect(first.load!.seconds).toBeGreaterThan(0);
    expect(first.loadedModel).toBe('clarity.safetensors');

    // The prompt's id is the driver's own (a lost answer can still be taken back), and ComfyUI keeps it.
    const sentId = (w.sandbox.requests().find((r) => r.path === '/prompt')!.body as { prompt_id: string }).prompt_id;
    expect(sentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Object.keys((await (await fetch(`${w.sandbox.url}/history`)).json()) as object)).toContain(sentId);

    const again = await driver.run({ ...spec, seed: 5 }, w.bind(spec));
    expect(again.load).toBeUndefined();
    expect(again.result.kind === 'images' && again.result.seeds).toEqual([5]);

    const other = txt2img({ model: w.model('anything-v4.5-pruned.safetensors'), steps: 2 });
    expect((await driver.run(other, w.bind(other))).load?.checkpoint).toBe('anything-v4.5-pruned.safetensors');

    // A graph without a model drops the cached one: the driver says nothing is loaded, and the next run loads again.
    const source = (await picture(64, 64, { r: 1, g: 2, b: 3 })).toString('base64');
    const upscale: GenerationSpec = { kind: 'upscale', image: source, scale: 2, upscaler: 'Lanczos', upscaler2: null, upscaler2Visibility: 0, sourceWidth: 64, sourceHeight: 64 };
    expect((await driver.run(upscale, w.bind(upscale))).loadedModel).toBeNull();
    const reload = await driver.run(other, w.bind(other));
    expect(reload.load?.seconds).toBeGreaterThan(0.05);
    // Inputs went to ComfyUI's temp folder: LoadImage's list of input files stays empty.
    const info = (await (await fetch(`${w.sandbox.url}/object_info/LoadImage`)).json()) as any;
    expect(info.LoadImage.input.required.image[0]).toEqual([]);
  });

  it('inpaints the unmasked part when asked: the mask is inverted before ComfyUI sees it', async () => {
    const w = await world();
    const driver = driverFor(w.sandbox);
    await driver.discover();
    const init = await picture(256, 256, { r: 200, g: 20, b: 20 });
    const mask = await picture(256, 256, { r: 0, g: 0, b: 0 }, true);
    const at = await inpainted(w, driver, init, mask, { regenerate: 'unmasked', area: 'whole' }, 0.9);
    expect(at(128, 128)).toEqual([200, 20, 20]);
    expect(at(4, 4)).not.toEqual([200, 20, 20]);
  });

  it('inpaints only the masked area at full resolution: the crop goes to ComfyUI, the result is pasted back inside the mask', async () => {
    const w = await world();
    const driver = driverFor(w.sandbox);
    await driver.discover();
    // Left half red, right half blue; the mask a 32² square in the red half.
    const init = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .composite([{ input: await picture(128, 256, { r: 255, g: 0, b: 0 }), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const white = await picture(32, 32, { r: 255, g: 255, b: 255 });
    const mask = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 0, g: 0, b: 0 } } }).composite([{ input: white, left: 40, top: 100 }]).png().toBuffer();
    const at = await inpainted(w, driver, init, mask, { regenerate: 'masked', area: 'masked_only' }, 0.75);
    expect(at(5, 5)).toEqual([255, 0, 0]);
    expect(at(250, 250)).toEqual([0, 0, 255]);
    expect(at(56, 116)).not.toEqual([255, 0, 0]);
    // What ComfyUI was given: the padded area around the mask (96² here, all red), scaled up to the task's 256².
    const prompt = w.sandbox.requests().find((r) => r.path === '/prompt')!.body as { prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }> };
    const loaded = Object.values(prompt.prompt).filter((n) => n.class_type === 'LoadImage').map((n) => String(n.inputs['image']).replace(/ \[temp\]$/, ''));
    const crop = Buffer.from(await (await fetch(`${w.sandbox.url}/view?type=temp&filename=${loaded[0]}`)).arrayBuffer());
    const stats = await sharp(crop).stats();
    expect(await sharp(crop).metadata()).toMatchObject({ width: 256, height: 256 });
    expect([stats.channels[0]!.min, stats.channels[2]!.max]).toEqual([255, 0]);
  });

  it('the masked area only of a picture not of the task\'s size: the answer is the picture at its own size, and the control image is cropped with it', async () => {
    const w = await world();
    const driver = driverFor(w.sandbox);
    await driver.discover();
    // A 320×192 red picture, a 32² mask square at (40, 100); the task is 256². The control image: left half white.
    const init = await picture(320, 192, { r: 255, g: 0, b: 0 });
    const white = await picture(32, 32, { r: 255, g: 255, b: 255 });
    const mask = await sharp({ create: { width: 320, height: 192, channels: 3, background: { r: 0, g: 0, b: 0 } } }).composite([{ input: white, left: 40, top: 100 }]).png().toBuffer();
    const control = await sharp({ create: { width: 320, height: 192, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .composite([{ input: await picture(160, 192, { r: 255, g: 255, b: 255 }), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const { hires: _h, kind: _k, ...common } = txt2img({ model: w.model('clarity.safetensors'), width: 256, height: 256, steps: 4 });
    const unit = { image: control.toString('base64'), module: 'canny', model: 'sd15_canny', thresholdA: 100, thresholdB: 200, weight: 1, resizeMode: 'just_resize' as const, guidanceStart: 0, guidanceEnd: 1, guessMode: false };
    const spec: Img2ImgSpec = {
      kind: 'img2img',
      ...common,
      controlNet: [unit],
      initImage: init.toString('base64'),
      initWidth: 320,
      initHeight: 192,
      resizeMode: 'just_resize',
      denoisingStrength: 0.75,
      inpaint: { mask: mask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'masked_only' },
    };
    const { result } = await driver.run(spec, w.bind(spec));
    if (result.kind !== 'images') throw new Error('no images');
    const { data, info } = await sharp(Buffer.from(result.images[0]!, 'base64')).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([320, 192]);
    const at = (x: number, y: number) => [...data.subarray((y * 320 + x) * 3, (y * 320 + x) * 3 + 3)];
    expect(at(5, 5)).toEqual([255, 0, 0]);
    expect(at(300, 180)).toEqual([255, 0, 0]);
    expect(at(56, 116)).not.toEqual([255, 0, 0]);
    // The area (the square padded by 32 px: 96² at (8, 68)) lies in the control image's white half: its crop is all white.
    const prompt = w.sandbox.requests().find((r) => r.path === '/prompt')!.body as { prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }> };
    const loadOf = (title: string) => Object.values(prompt.prompt).find((n) => n.class_type === 'LoadImage' && (n as { _meta?: { title?: string } })._meta?.title === title);
    const name = String(loadOf('Control image 1')!.inputs['image']).replace(/ \[temp\]$/, '');
    const crop = Buffer.from(await (await fetch(`${w.sandbox.url}/view?type=temp&filename=${name}`)).arrayBuffer());
    expect(await sharp(crop).metadata()).toMatchObject({ width: 256, height: 256 });
    expect((await sharp(crop).stats()).channels[0]!.min).toBe(255);
  });

  it('the masked area only with a mask that covers nothing: the mask dropped, the whole picture worked on, as A1111', async () => {
    const w = await world();
    const driver = driverFor(w.sandbox);
    await driver.discover();
    const init = await picture(256, 256, { r: 255, g: 0, b: 0 });
    const blank = await picture(256, 256, { r: 0, g: 0, b: 0 });
    const at = await inpainted(w, driver, init, blank, { regenerate: 'masked', area: 'masked_only' }, 1);
    expect(at(128, 128)).not.toEqual([255, 0, 0]);
    const prompt = w.sandbox.requests().find((r) => r.path === '/prompt')!.body as { prompt: Record<string, { class_type: string }> };
    const types = Object.values(prompt.prompt).map((n) => n.class_type);
    expect(types).not.toContain('InpaintModelConditioning');
    expect(types).not.toContain('ImageCompositeMasked');
  });

  it('upscale and interrogate', async () => {
    const w = await world();
    const driver = driverFor(w.sandbox);
    await driver.discover();
    const source = (await picture(100, 60, { r: 10, g: 200, b: 10 })).toString('base64');
    const upscale: GenerationSpec = { kind: 'upscale', image: source, scale: 3, upscaler: 'R-ESRGAN 4x+', upscaler2: null, upscaler2Visibility: 0, sourceWidth: 100, sourceHeight: 60 };
    const up = await driver.run(upscale, w.bind(upscale));
    expect(up.result.kind === 'images' && pngSize(Buffer.from(up.result.images[0]!, 'base64'))).toEqual({ width: 300, height: 180 });
    expect(up.load).toBeUndefined();
    const interrogate: GenerationSpec = { kind: 'interrogate', image: source, interrogator: 'deepdanbooru' };
    const tags = await driver.run(interrogate, w.bind(interrogate));
    expect(tags.result).toEqual({ kind: 'caption', caption: expect.stringContaining('green') });
  });
});

describe('runs at once, and a ComfyUI that loses prompts', () => {
  it('two runs at once on one driver both end (each its own websocket client id), and no timer outlives a run', async () => {
    const w = await world({}, { speed: 20, switchSeconds: 0 });
    const driver = driverFor(w.sandbox, { requestTimeoutMs: 3000 });
    await driver.discover();
    const spec = txt2img({ model: w.model('clarity.safetensors'), steps: 6 });
    const outcomes = await Promise.all([driver.run(spec, w.bind(spec)), driver.run({ ...spec, seed: 2 }, w.bind(spec))]);
    expect(outcomes.map((o) => o.result.kind === 'images' && o.result.seeds)).toEqual([[1], [2]]);
    for (let i = 0; i < 5; i++) await driver.run({ ...spec, seed: 10 + i }, w.bind(spec));
    await new Promise((resolve) => setTimeout(resolve, 3200));
    expect(w.sandbox.requests().filter((r) => r.path === '/interrupt' || r.path === '/queue')).toEqual([]);
  });

  it('a prompt ComfyUI drops (its queue cleared) fails the attempt in seconds, to be retried elsewhere', async () => {
    const w = await world({}, { speed: 1, switchSeconds: 0 });
    const driver = driverFor(w.sandbox, { watchIntervalMs: 100 });
    await driver.discover();
    const long = txt2img({ model: w.model('clarity.safetensors'), steps: 2000 });
    const blocker = new AbortController();
    const first = failure(driver.run(long, w.bind(long), { signal: blocker.signal }));
    const queue = async () => (await (await fetch(`${w.sandbox.url}/queue`)).json()) as { queue_running: unknown[]; queue_pending: unknown[] };
    for (let i = 0; i < 500 && (await queue()).queue_running.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const second = failure(driver.run({ ...long, seed: 3 }, w.bind(long)));
    // Cleared once the second waits in ComfyUI's queue (a fixed 150 ms was not always enough on a loaded machine:
    // cleared before it arrived, it queued behind the first, which never ends, and the test timed out).
    for (let i = 0; i < 500 && (await queue()).queue_pending.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await fetch(`${w.sandbox.url}/queue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clear: true }) });
    const dropped = await second;
    expect(dropped.id).toBe('DAN_ERR_BACKEND_FAILED');
    expect(dropped.message).toContain('dropped the prompt');
    blocker.abort(new Error('done'));
    await first;
  });

  it('a ComfyUI restarted mid-prompt: the lost socket is noticed, and the prompt the new process never had fails the attempt', async () => {
    const first = await startSandbox({ flavor: 'comfyui', speed: 1, switchSeconds: 0 });
    const port = first.port;
    const driver = new ComfyUIDriver({ baseUrl: first.url, maxPixels: 4096 * 4096, watchIntervalMs: 100 });
    const { capabilities } = await driver.discover();
    const offering = (await import('../../src/domain/offering.js')).toNodeOffering(capabilities);
    const spec = txt2img({ model: [...offering.models.values()].find((m) => m.title === 'clarity.safetensors')!.ref, steps: 2000 });
    const bound = (await import('../../src/domain/binding.js')).bindSpec(spec, offering);
    if (!bound.ok) throw new Error('unbound');
    let started!: () => void;
    const progressed = new Promise<void>((resolve) => (started = resolve));
    const run = failure(driver.run(spec, bound.binding, { onProgress: () => started() }));
    await progressed;
    await first.close();
    const second = await startSandbox({ flavor: 'comfyui', speed: 1, port });
    open.push(second);
    const began = Date.now();
    const error = await run;
    expect(error.id).toBe('DAN_ERR_BACKEND_FAILED');
    expect(error.message).toContain('dropped the prompt');
    expect(Date.now() - began).toBeLessThan(5000);
  });
});

describe('failures and cancels', () => {
  it("ComfyUI's validation refusal is a rejected task naming the node; a file gone since discovery and an execution error fail the attempt", async () => {
    const w = await world();
    const driver = driverFor(w.sandbox);
    await driver.discover();
    const spec = txt2img({ model: w.model('clarity.safetensors'), steps: 2 });
    const refused = await failure(driver.run({ ...spec, steps: 0 }, w.bind(spec)));
    expect(refused.id).toBe('DAN_ERR_BACKEND_REJECTED');
    expect(refused.message).toMatch(/KSampler.*Value 0 smaller than min of 1/);
    const gone = await failure(driver.run({ ...spec, loras: [{ lora: { id: 'x', name: 'x' }, weight: 1 }] }, { ...w.bind(spec), loras: ['gone.safetensors'] }));
    expect(gone.id).toBe('DAN_ERR_BACKEND_FAILED');
    expect(gone.message).toMatch(/LoraLoader.*Value not in list.*gone\.safetensors.*will look again/);
    await fetch(`${w.sandbox.url}/sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ failNext: 1 }) });
    const failed = await failure(driver.run(spec, w.bind(spec)));
    expect(failed.id).toBe('DAN_ERR_BACKEND_FAILED');
    expect(failed.message).toMatch(/node \d+ \(KSampler\): torch\.OutOfMemoryError/);
  });

  it('an abort interrupts the running prompt and leaves ComfyUI idle; one still queued is taken off the queue', async () => {
    const w = await world({}, { speed: 1, switchSeconds: 0 });
    const driver = driverFor(w.sandbox);
    await driver.discover();
    const long = txt2img({ model: w.model('clarity.safetensors'), steps: 2000 });
    const running = new AbortController();
    const waiting = new AbortController();
    let started!: () => void;
    const progressed = new Promise<void>((resolve) => (started = resolve));
    const first = failure(driver.run(long, w.bind(long), { signal: running.signal, onProgress: () => started() }));
    await progressed;
    const second = failure(driver.run({ ...long, seed: 99 }, w.bind(long), { signal: waiting.signal }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const queue = (await (await fetch(`${w.sandbox.url}/queue`)).json()) as any;
    expect(queue.queue_pending).toHaveLength(1);
    waiting.abort(new Error('cancelled while queued'));
    expect((await second).message).toBe('cancelled while queued');
    running.abort(new Error('cancelled'));
    expect((await first).message).toBe('cancelled');
    // The queued one was deleted, never interrupted (an old ComfyUI's interrupt stops whatever runs); the running one interrupted by its id.
    const cancels = w.sandbox.requests().filter((r) => r.path === '/interrupt' || r.path === '/queue');
    expect(cancels.map((r) => r.path)).toEqual(['/queue', '/queue', '/interrupt']);
    expect(cancels[2]!.body).toMatchObject({ prompt_id: expect.any(String) });
    const after = (await (await fetch(`${w.sandbox.url}/queue`)).json()) as any;
    expect(after).toEqual({ queue_running: [], queue_pending: [] });
    const history = (await (await fetch(`${w.sandbox.url}/history`)).json()) as Record<string, any>;
    const entries = Object.values(history);
    expect(entries).toHaveLength(1);
    expect(entries[0].status.messages.map((m: any[]) => m[0])).toContain('execution_interrupted');
  });
});
