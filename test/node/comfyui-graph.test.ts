/**
 * The ComfyUI graph builder, feature by feature and family by family. Each
 * graph is checked for what it must contain, then queued on the ComfyUI
 * sandbox, which validates it the way ComfyUI does (classes, inputs, types,
 * ranges, links) and runs it: it must succeed and make an image of the task's
 * size (or tags, for an interrogation).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputSizeOf, type ControlNetUnitSpec, type GenerationSpec, type Img2ImgSpec } from '../../src/domain/spec.js';
import { buildGraph, type GraphFiles } from '../../src/node/backends/comfyui/graph-builder.js';
import type { GraphNode } from '../../src/node/backends/comfyui/comfy-graph.js';
import { picture, pngSize, startComfyWorld, uploadImage, type ComfyWorld } from '../helpers/comfy-world.js';
import { kobeni, txt2img } from '../helpers/specs.js';
import { rednessOf } from '../helpers/picture-checks.js';
import { catalogLoras } from '../../src/domain/catalog.js';

let world: ComfyWorld;
let red: Buffer;
let squareMask: Buffer;

beforeAll(async () => {
  world = await startComfyWorld();
  red = await picture(512, 512, { r: 200, g: 20, b: 20 });
  squareMask = await picture(512, 512, { r: 0, g: 0, b: 0 }, true);
});
afterAll(() => world.sandbox.close());

const thicker = { id: catalogLoras[4]!.sha256, name: catalogLoras[4]!.name };

function img2img(overrides: Partial<Img2ImgSpec> = {}): Img2ImgSpec {
  const { hires: _hires, kind: _kind, ...common } = txt2img();
  return { kind: 'img2img', ...common, initImage: red.toString('base64'), resizeMode: 'just_resize', denoisingStrength: 0.5, inpaint: null, ...overrides };
}

function unit(module: string, model: string, overrides: Partial<ControlNetUnitSpec> = {}): ControlNetUnitSpec {
  return {
    image: red.toString('base64'),
    module,
    model,
    thresholdA: module === 'canny' ? 100 : null,
    thresholdB: module === 'canny' ? 200 : null,
    weight: 0.8,
    resizeMode: 'crop_and_resize',
    guidanceStart: 0.1,
    guidanceEnd: 0.9,
    guessMode: false,
    ...overrides,
  };
}

interface Built {
  nodes: Record<string, GraphNode>;
  of(classType: string): GraphNode[];
  one(classType: string): GraphNode;
  output: string;
}

async function build(spec: GenerationSpec, seed = 7, mask = squareMask): Promise<Built> {
  const files: GraphFiles = {};
  if (spec.kind === 'img2img') {
    files.initImage = await uploadImage(world.sandbox.url, red, 'init.png');
    if (spec.inpaint) files.mask = await uploadImage(world.sandbox.url, mask, 'mask.png');
  }
  if (spec.kind === 'txt2img' || spec.kind === 'img2img') {
    files.control = await Promise.all(spec.controlNet.map((_, i) => uploadImage(world.sandbox.url, red, `control-${i}.png`)));
  }
  if (spec.kind === 'upscale' || spec.kind === 'interrogate') files.image = await uploadImage(world.sandbox.url, await picture(300, 200, { r: 20, g: 20, b: 200 }), 'source.png');
  const built = buildGraph(spec, world.bind(spec), world.discovery.inventory, files, seed);
  const nodes = built.graph.nodes;
  const of = (classType: string) => Object.values(nodes).filter((n) => n.class_type === classType);
  return {
    nodes,
    of,
    one(classType) {
      const found = of(classType);
      expect(found, `${classType} in ${Object.values(nodes).map((n) => n.class_type).join(', ')}`).toHaveLength(1);
      return found[0]!;
    },
    output: built.output,
  };
}

/** Runs the graph on the sandbox; returns the result image (or the tags) after checking it succeeded. */
async function run(built: Built): Promise<{ png?: Buffer; tags?: string }> {
  const { status, body, history } = await world.runGraph(built.nodes);
  expect(status, JSON.stringify(body)).toBe(200);
  expect(history.status.status_str, JSON.stringify(history.status.messages)).toBe('success');
  const output = history.outputs[built.output];
  if (output.tags) return { tags: output.tags[0] };
  const file = output.images[0];
  const response = await fetch(`${world.sandbox.url}/view?filename=${file.filename}&type=${file.type}&subfolder=${file.subfolder}`);
  return { png: Buffer.from(await response.arrayBuffer()) };
}

async function runsToSize(built: Built, spec: GenerationSpec): Promise<Buffer> {
  const { png } = await run(built);
  const size = pngSize(png!);
  const expected = outputSizeOf(spec)!;
  expect(Math.abs(size.width - expected.width)).toBeLessThanOrEqual(8);
  expect(Math.abs(size.height - expected.height)).toBeLessThanOrEqual(8);
  return png!;
}

describe('SD 1.5 and SDXL checkpoints', () => {
  it('txt2img: checkpoint, prompts, empty latent, KSampler with the sampler and schedule A1111 means', async () => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), prompt: 'a fox', negativePrompt: 'blurry', sampler: 'Euler a', cfgScale: 6.5 });
    const built = await build(spec, 1234);
    expect(built.one('CheckpointLoaderSimple').inputs).toEqual({ ckpt_name: 'clarity.safetensors' });
    expect(built.of('CLIPTextEncode').map((n) => n.inputs['text'])).toEqual(['a fox', 'blurry']);
    expect(built.one('EmptyLatentImage').inputs).toEqual({ width: 512, height: 512, batch_size: 1 });
    // Into ComfyUI's temp folder, not its output folder, where every task's image would pile up.
    expect(built.nodes[built.output]).toMatchObject({ class_type: 'PreviewImage' });
    expect(built.of('SaveImage')).toEqual([]);
    expect(built.one('KSampler').inputs).toMatchObject({ seed: 1234, steps: 20, cfg: 6.5, sampler_name: 'euler_ancestral', scheduler: 'normal', denoise: 1 });
    expect(built.of('FluxGuidance')).toEqual([]);
    await runsToSize(built, spec);
  });

  it.each([
    ['DPM++ SDE Karras', 'dpmpp_sde', 'karras'],
    ['DPM++ 2M', 'dpmpp_2m', 'karras'],
    ['DDIM', 'ddim', 'ddim_uniform'],
    ['Euler Simple', 'euler', 'simple'],
  ])('sampler %s runs as %s with the %s schedule', async (sampler, comfySampler, scheduler) => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), sampler, steps: 4 });
    const built = await build(spec);
    expect(built.one('KSampler').inputs).toMatchObject({ sampler_name: comfySampler, scheduler });
    await run(built);
  });

  it('chains LoRAs, each weight on model and text encoder, the sampler and encoders reading the last', async () => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), loras: [{ lora: kobeni, weight: 0.7 }, { lora: thicker, weight: -0.5 }], steps: 4 });
    const built = await build(spec);
    const [first, second] = Object.entries(built.nodes).filter(([, n]) => n.class_type === 'LoraLoader');
    expect(first![1].inputs).toMatchObject({ lora_name: 'kobeni_v10.safetensors', strength_model: 0.7, strength_clip: 0.7 });
    expect(second![1].inputs).toMatchObject({ lora_name: 'thickerLinesAnimeStyle_loraVersion.safetensors', strength_model: -0.5, model: [first![0], 0], clip: [first![0], 1] });
    expect(built.one('KSampler').inputs['model']).toEqual([second![0], 0]);
    for (const encode of built.of('CLIPTextEncode')) expect(encode.inputs['clip']).toEqual([second![0], 1]);
    await run(built);
  });

  it('SDXL at its native 1024²: the same checkpoint graph', async () => {
    const spec = txt2img({ model: world.model('sd_xl_base_1.0.safetensors'), width: 1024, height: 1024, steps: 4 });
    const built = await build(spec);
    expect(built.one('CheckpointLoaderSimple').inputs['ckpt_name']).toBe('sd_xl_base_1.0.safetensors');
    await runsToSize(built, spec);
  });
});

describe('SDXL with its refiner', () => {
  it('the base samples its share of the steps and hands the noisy latent to the refiner, which has its own checkpoint and text encoding', async () => {
    const spec = txt2img({
      model: world.model('sd_xl_base_1.0.safetensors'),
      width: 1024,
      height: 1024,
      steps: 10,
      refiner: { model: world.model('sd_xl_refiner_1.0.safetensors'), switchAt: 0.8 },
    });
    const built = await build(spec);
    const loaders = Object.entries(built.nodes).filter(([, n]) => n.class_type === 'CheckpointLoaderSimple');
    expect(loaders.map(([, n]) => n.inputs['ckpt_name'])).toEqual(['sd_xl_base_1.0.safetensors', 'sd_xl_refiner_1.0.safetensors']);
    const [base, refiner] = built.of('KSamplerAdvanced');
    expect(base!.inputs).toMatchObject({ add_noise: 'enable', start_at_step: 0, end_at_step: 8, return_with_leftover_noise: 'enable', steps: 10 });
    expect(refiner!.inputs).toMatchObject({ add_noise: 'disable', start_at_step: 8, end_at_step: 10000, return_with_leftover_noise: 'disable', model: [loaders[1]![0], 0] });
    // At the first step whose share reaches switch_at, as A1111: 0.72 of 10 steps switches after 8.
    const later = await build({ ...spec, refiner: { ...spec.refiner!, switchAt: 0.72 } });
    expect(later.of('KSamplerAdvanced')[0]!.inputs['end_at_step']).toBe(8);
    expect(built.of('KSampler')).toEqual([]);
    await runsToSize(built, spec);
  });
});

describe('Flux', () => {
  it('loads UNet, both text encoders and VAE; guidance through FluxGuidance; cfg 1, simple schedule, empty negative, SD3 latent', async () => {
    const spec = txt2img({ model: world.model('flux1-dev.safetensors'), negativePrompt: 'ignored by flux', width: 1024, height: 768, steps: 4, sampler: 'Euler' });
    const built = await build(spec);
    expect(built.one('UNETLoader').inputs).toEqual({ unet_name: 'flux1-dev.safetensors', weight_dtype: 'default' });
    expect(built.one('DualCLIPLoader').inputs).toEqual({ clip_name1: 't5xxl_fp16.safetensors', clip_name2: 'clip_l.safetensors', type: 'flux' });
    expect(built.one('VAELoader').inputs).toEqual({ vae_name: 'ae.safetensors' });
    expect(built.one('FluxGuidance').inputs['guidance']).toBe(3.5);
    expect(built.of('CLIPTextEncode').map((n) => n.inputs['text'])).toEqual([spec.prompt, '']);
    expect(built.one('KSampler').inputs).toMatchObject({ cfg: 1, sampler_name: 'euler', scheduler: 'simple' });
    expect(built.one('EmptySD3LatentImage').inputs).toEqual({ width: 1024, height: 768, batch_size: 1 });
    expect(built.of('CheckpointLoaderSimple')).toEqual([]);
    await runsToSize(built, spec);
  });

  it('takes the task guidance and a named schedule', async () => {
    const spec = txt2img({ model: world.model('flux1-dev.safetensors'), guidance: 2.5, sampler: 'Euler Beta', steps: 4 });
    const built = await build(spec);
    expect(built.one('FluxGuidance').inputs['guidance']).toBe(2.5);
    expect(built.one('KSampler').inputs).toMatchObject({ scheduler: 'beta' });
    await run(built);
  });

  it('the sandbox refuses a Flux UNet sampled with an SD 1.5 text encoding, as the real model would fail', async () => {
    const spec = txt2img({ model: world.model('flux1-dev.safetensors'), steps: 2 });
    const built = await build(spec);
    const sdClip = { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'clarity.safetensors' }, _meta: { title: 'x' } };
    const encoders = Object.entries(built.nodes).filter(([, n]) => n.class_type === 'CLIPTextEncode');
    const nodes: Record<string, unknown> = { ...built.nodes, 99: sdClip };
    for (const [id, node] of encoders) nodes[id] = { ...node, inputs: { ...node.inputs, clip: ['99', 1] } };
    const { history } = await world.runGraph(nodes);
    expect(history.status.status_str).toBe('error');
    expect(JSON.stringify(history.status.messages)).toContain('execution_error');
  });
});

describe('FLUX.1 Kontext, an edit model', () => {
  it('edits as ComfyUI\'s template does: Flux.1\'s loaders, the image encoded as the reference before FluxGuidance, the prompt zeroed out as the negative, all steps sampled from the image\'s latent', async () => {
    const spec = img2img({ model: world.model('flux1-dev-kontext_fp8_scaled.safetensors'), prompt: 'make it blue', negativePrompt: '', cfgScale: 1, guidance: 2.5, width: 512, height: 512, steps: 4, sampler: 'Euler', denoisingStrength: 1 });
    const built = await build(spec);
    expect(built.one('UNETLoader').inputs).toEqual({ unet_name: 'flux1-dev-kontext_fp8_scaled.safetensors', weight_dtype: 'default' });
    expect(built.one('DualCLIPLoader').inputs).toMatchObject({ type: 'flux' });
    expect(built.one('VAELoader').inputs).toEqual({ vae_name: 'ae.safetensors' });
    const encoded = built.one('VAEEncode');
    const [encodedId] = Object.entries(built.nodes).find(([, n]) => n === encoded)!;
    const reference = built.one('ReferenceLatent');
    const [referenceId] = Object.entries(built.nodes).find(([, n]) => n === reference)!;
    const [promptId] = Object.entries(built.nodes).find(([, n]) => n.class_type === 'CLIPTextEncode')!;
    expect(reference.inputs).toEqual({ conditioning: [promptId, 0], latent: [encodedId, 0] });
    expect(built.one('FluxGuidance').inputs).toEqual({ conditioning: [referenceId, 0], guidance: 2.5 });
    expect(built.one('ConditioningZeroOut').inputs).toEqual({ conditioning: [promptId, 0] });
    expect(built.of('CLIPTextEncode')).toHaveLength(1);
    expect(built.one('KSampler').inputs).toMatchObject({ cfg: 1, denoise: 1, steps: 4, scheduler: 'simple', latent_image: [encodedId, 0] });
    expect(built.of('KSamplerAdvanced')).toEqual([]);
    // The edit keeps much of the red image it was given (the sandbox blends a third of its pattern in).
    const png = await runsToSize(built, spec);
    expect(await rednessOf(png)).toBeGreaterThan(40);
  });
});

describe('Qwen-Image-Edit, an edit model', () => {
  const EDIT_2509 = 'qwen_image_edit_2509_fp8_e4m3fn.safetensors';
  const spec = () => img2img({ model: world.model(EDIT_2509), prompt: 'make it blue', negativePrompt: 'blurry', cfgScale: 2.5, width: 512, height: 512, steps: 4, sampler: 'Euler', denoisingStrength: 1 });
  const idOf = (built: Built, node: GraphNode) => Object.entries(built.nodes).find(([, n]) => n === node)![0];

  it('edits as ComfyUI\'s 2509 template does: Qwen-Image\'s loaders, the model shifted 3 and through CFGNorm, both prompts encoded with the image, all steps sampled from its latent at the task\'s cfg', async () => {
    const built = await build(spec());
    expect(built.one('UNETLoader').inputs).toEqual({ unet_name: EDIT_2509, weight_dtype: 'default' });
    expect(built.one('CLIPLoader').inputs).toEqual({ clip_name: 'qwen_2.5_vl_7b_fp8_scaled.safetensors', type: 'qwen_image' });
    expect(built.one('VAELoader').inputs).toEqual({ vae_name: 'qwen_image_vae.safetensors' });
    const shifted = built.one('ModelSamplingAuraFlow');
    expect(shifted.inputs['shift']).toBe(3);
    const norm = built.one('CFGNorm');
    expect(norm.inputs).toEqual({ model: [idOf(built, shifted), 0], strength: 1 });
    const image = idOf(built, built.one('LoadImage'));
    const encoded = built.one('VAEEncode');
    expect(encoded.inputs['pixels']).toEqual([image, 0]);
    const encoders = built.of('TextEncodeQwenImageEditPlus');
    expect(encoders.map((n) => [n.inputs['prompt'], n.inputs['image1']])).toEqual([
      ['make it blue', [image, 0]],
      ['blurry', [image, 0]],
    ]);
    const sampler = built.one('KSampler').inputs;
    expect(sampler).toMatchObject({ cfg: 2.5, denoise: 1, steps: 4, sampler_name: 'euler', scheduler: 'simple', model: [idOf(built, norm), 0], latent_image: [idOf(built, encoded), 0] });
    expect(sampler['positive']).toEqual([idOf(built, encoders[0]!), 0]);
    expect(sampler['negative']).toEqual([idOf(built, encoders[1]!), 0]);
    for (const absent of ['CLIPTextEncode', 'ReferenceLatent', 'FluxGuidance', 'ConditioningZeroOut', 'KSamplerAdvanced', 'FluxKontextMultiReferenceLatentMethod']) expect(built.of(absent)).toEqual([]);
    // The edit keeps much of the red image it was given (the sandbox blends a third of its pattern in).
    const png = await runsToSize(built, spec());
    expect(await rednessOf(png)).toBeGreaterThan(40);
  });

  it('refuses a txt2img (a gateway that does not know the family could send one) rather than draw without an image', async () => {
    const spec = txt2img({ model: world.model(EDIT_2509), prompt: 'a cat', cfgScale: 2.5, width: 512, height: 512, steps: 4, sampler: 'Euler' });
    await expect(build(spec)).rejects.toMatchObject({ id: 'DAN_ERR_BACKEND_REJECTED', message: expect.stringContaining('edit model') });
  });

  it('shifts a 2511 model 3.1 and places its image at timestep zero, as its template does', () => {
    const edit = spec();
    const title = 'qwen_image_edit_2511_bf16.safetensors';
    const inventory = world.discovery.inventory;
    const models = new Map(inventory.models);
    models.set(title, { ...inventory.models.get(EDIT_2509)!, file: title });
    const built = buildGraph(edit, { ...world.bind(edit), checkpoint: title }, { ...inventory, models }, { initImage: 'init.png' }, 7);
    const nodes = built.graph.nodes;
    const shifts = Object.values(nodes).filter((n) => n.class_type === 'ModelSamplingAuraFlow');
    expect(shifts.map((n) => n.inputs['shift'])).toEqual([3.1]);
    // Both encodings told to place the image at timestep zero, as 2511's template does; the sampler reads those.
    const methods = Object.entries(nodes).filter(([, n]) => n.class_type === 'FluxKontextMultiReferenceLatentMethod');
    expect(methods.map(([, n]) => [nodes[(n.inputs['conditioning'] as [string, number])[0]]!.class_type, n.inputs['reference_latents_method']])).toEqual([
      ['TextEncodeQwenImageEditPlus', 'index_timestep_zero'],
      ['TextEncodeQwenImageEditPlus', 'index_timestep_zero'],
    ]);
    const sampler = Object.values(nodes).find((n) => n.class_type === 'KSampler')!.inputs;
    expect([sampler['positive'], sampler['negative']]).toEqual(methods.map(([id]) => [id, 0]));
  });
});

describe('Qwen-Image and Z-Image-Turbo', () => {
  /** The class of the node a link comes from. */
  const from = (built: Built, link: unknown) => built.nodes[(link as [string, number])[0]]!.class_type;

  it('Qwen-Image: UNet, Qwen2.5-VL as qwen_image, its VAE; shifted 3.1 through ModelSamplingAuraFlow; its negative at the task cfg; SD3 latent, simple schedule', async () => {
    const spec = txt2img({ model: world.model('qwen_image_fp8_e4m3fn.safetensors'), prompt: 'a shop sign', negativePrompt: 'blurry', cfgScale: 2.5, width: 1328, height: 1328, steps: 4, sampler: 'Euler' });
    const built = await build(spec);
    expect(built.one('UNETLoader').inputs).toEqual({ unet_name: 'qwen_image_fp8_e4m3fn.safetensors', weight_dtype: 'default' });
    expect(built.one('CLIPLoader').inputs).toEqual({ clip_name: 'qwen_2.5_vl_7b_fp8_scaled.safetensors', type: 'qwen_image' });
    expect(built.one('VAELoader').inputs).toEqual({ vae_name: 'qwen_image_vae.safetensors' });
    expect(built.one('ModelSamplingAuraFlow').inputs['shift']).toBe(3.1);
    expect(built.of('CLIPTextEncode').map((n) => n.inputs['text'])).toEqual(['a shop sign', 'blurry']);
    const sampler = built.one('KSampler').inputs;
    expect(sampler).toMatchObject({ cfg: 2.5, sampler_name: 'euler', scheduler: 'simple' });
    expect(from(built, sampler['model'])).toBe('ModelSamplingAuraFlow');
    expect(built.one('EmptySD3LatentImage').inputs).toEqual({ width: 1328, height: 1328, batch_size: 1 });
    expect(built.of('DualCLIPLoader')).toEqual([]);
    expect(built.of('FluxGuidance')).toEqual([]);
    await runsToSize(built, spec);
  });

  it('Z-Image-Turbo: UNet, Qwen3-4B as lumina2, the Flux VAE; shift 3; cfg 1 with the positive zeroed out as its negative', async () => {
    const spec = txt2img({ model: world.model('z_image_turbo_bf16.safetensors'), prompt: 'a lighthouse', negativePrompt: '', cfgScale: 1, width: 1024, height: 768, steps: 8, sampler: 'Euler' });
    const built = await build(spec);
    expect(built.one('CLIPLoader').inputs).toEqual({ clip_name: 'qwen_3_4b.safetensors', type: 'lumina2' });
    expect(built.one('VAELoader').inputs).toEqual({ vae_name: 'ae.safetensors' });
    expect(built.one('ModelSamplingAuraFlow').inputs['shift']).toBe(3);
    expect(built.one('CLIPTextEncode').inputs['text']).toBe('a lighthouse');
    const sampler = built.one('KSampler').inputs;
    expect(sampler).toMatchObject({ cfg: 1, steps: 8, scheduler: 'simple' });
    expect(from(built, sampler['negative'])).toBe('ConditioningZeroOut');
    expect(built.one('EmptySD3LatentImage').inputs).toEqual({ width: 1024, height: 768, batch_size: 1 });
    await runsToSize(built, spec);
  });

  it('a LoRA sits between the UNet and the shift; img2img encodes with the family VAE', async () => {
    const spec = img2img({ model: world.model('qwen_image_fp8_e4m3fn.safetensors'), loras: [{ lora: kobeni, weight: 0.5 }], cfgScale: 2.5, width: 512, height: 512, steps: 4, sampler: 'Euler' });
    const built = await build(spec);
    expect(from(built, built.one('ModelSamplingAuraFlow').inputs['model'])).toBe('LoraLoader');
    expect(from(built, built.one('VAEEncode').inputs['vae'])).toBe('VAELoader');
    await runsToSize(built, spec);
  });

  it('the sandbox refuses what the real models would: an SD latent, an SD VAE, a text encoder loaded as another type', async () => {
    const spec = txt2img({ model: world.model('qwen_image_fp8_e4m3fn.safetensors'), cfgScale: 2.5, width: 512, height: 512, steps: 2, sampler: 'Euler' });
    const built = await build(spec);
    const latentId = Object.entries(built.nodes).find(([, n]) => n.class_type === 'EmptySD3LatentImage')![0];
    const vaeId = Object.entries(built.nodes).find(([, n]) => n.class_type === 'VAELoader')![0];
    const clipId = Object.entries(built.nodes).find(([, n]) => n.class_type === 'CLIPLoader')![0];
    const variants: [string, Record<string, unknown>, string][] = [
      ['an SD latent', { [latentId]: { ...built.nodes[latentId], class_type: 'EmptyLatentImage' } }, 'to have 16 channels, but got 4 channels'],
      ['an SD VAE', { [vaeId]: { ...built.nodes[vaeId], inputs: { vae_name: 'taesd' } } }, 'to have 4 channels, but got 16 channels'],
      ['Qwen2.5-VL as lumina2', { [clipId]: { ...built.nodes[clipId], inputs: { ...built.nodes[clipId]!.inputs, type: 'lumina2' } } }, 'its type is qwen_image'],
    ];
    for (const [what, change, message] of variants) {
      const { history } = await world.runGraph({ ...built.nodes, ...change });
      expect(history.status.status_str, what).toBe('error');
      expect(JSON.stringify(history.status.messages), what).toContain(message);
    }
  });
});

describe('Flux.2', () => {
  const flux2 = () => world.model('flux2_dev_fp8mixed.safetensors');
  /** The class of the node a link comes from. */
  const from = (built: Built, link: unknown) => built.nodes[(link as [string, number])[0]]!;

  it('txt2img as ComfyUI\'s example: Mistral as flux2, its VAE, FluxGuidance into a BasicGuider, its own schedule for the size, an empty Flux.2 latent, SamplerCustomAdvanced', async () => {
    const spec = txt2img({ model: flux2(), prompt: 'a poster', negativePrompt: '', cfgScale: 1, guidance: 4, width: 1024, height: 768, steps: 6, sampler: 'Euler' });
    const built = await build(spec, 99);
    expect(built.one('UNETLoader').inputs).toEqual({ unet_name: 'flux2_dev_fp8mixed.safetensors', weight_dtype: 'default' });
    expect(built.one('CLIPLoader').inputs).toEqual({ clip_name: 'mistral_3_small_flux2_fp8.safetensors', type: 'flux2' });
    expect(built.one('VAELoader').inputs).toEqual({ vae_name: 'flux2-vae.safetensors' });
    expect(built.one('FluxGuidance').inputs['guidance']).toBe(4);
    expect(built.one('Flux2Scheduler').inputs).toEqual({ steps: 6, width: 1024, height: 768 });
    expect(built.one('EmptyFlux2LatentImage').inputs).toEqual({ width: 1024, height: 768, batch_size: 1 });
    expect(built.one('RandomNoise').inputs).toEqual({ noise_seed: 99 });
    expect(built.one('KSamplerSelect').inputs).toEqual({ sampler_name: 'euler' });
    const sampler = built.one('SamplerCustomAdvanced').inputs;
    expect(from(built, sampler['guider']).class_type).toBe('BasicGuider');
    expect(from(built, from(built, sampler['guider']).inputs['conditioning']).class_type).toBe('FluxGuidance');
    expect(from(built, sampler['sigmas']).class_type).toBe('Flux2Scheduler');
    expect(built.of('KSampler')).toEqual([]);
    expect(built.of('SplitSigmas')).toEqual([]);
    await runsToSize(built, spec);
  });

  it('a schedule named: BasicScheduler on the model; img2img starts part way through SplitSigmas, as A1111 does', async () => {
    const named = txt2img({ model: flux2(), negativePrompt: '', cfgScale: 1, guidance: 4, width: 512, height: 512, steps: 4, sampler: 'Euler Beta' });
    const builtNamed = await build(named);
    expect(builtNamed.one('BasicScheduler').inputs).toMatchObject({ scheduler: 'beta', steps: 4, denoise: 1 });
    expect(builtNamed.of('Flux2Scheduler')).toEqual([]);
    await runsToSize(builtNamed, named);
    const spec = img2img({ model: flux2(), negativePrompt: '', cfgScale: 1, guidance: 4, width: 512, height: 512, steps: 10, sampler: 'Euler', denoisingStrength: 0.5 });
    const built = await build(spec);
    // A1111 samples int(0.5 × 10) + 1 = 6 of the 10 steps: the schedule split after step 4, its low part sampled.
    expect(built.one('SplitSigmas').inputs['step']).toBe(4);
    expect(built.one('SamplerCustomAdvanced').inputs['sigmas']).toEqual([Object.entries(built.nodes).find(([, n]) => n.class_type === 'SplitSigmas')![0], 1]);
    expect(from(built, built.one('SamplerCustomAdvanced').inputs['latent_image']).class_type).toBe('VAEEncode');
    await runsToSize(built, spec);
  });

  it('the hires pass samples the last steps of a longer schedule, at the target size', async () => {
    const spec = txt2img({ model: flux2(), negativePrompt: '', cfgScale: 1, guidance: 4, width: 512, height: 512, steps: 4, sampler: 'Euler', hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 } });
    const built = await build(spec);
    // KSampler's denoise 0.5 over 4 steps: the last 4 of a schedule of 8.
    expect(built.of('Flux2Scheduler').map((n) => n.inputs)).toEqual([{ steps: 4, width: 512, height: 512 }, { steps: 8, width: 768, height: 768 }]);
    expect(built.one('SplitSigmas').inputs['step']).toBe(4);
    expect(built.of('SamplerCustomAdvanced')).toHaveLength(2);
    // LatentUpscale counts 8-pixel cells; Flux.2's are 16: it is given half the target, and the picture is the target.
    expect(built.one('LatentUpscale').inputs).toMatchObject({ width: 384, height: 384 });
    await runsToSize(built, spec);
    // A hires denoise of 0 changes nothing (as KSampler's): no second pass, and no schedule of infinite steps.
    const still = txt2img({ ...spec, hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0 } });
    const builtStill = await build(still);
    expect(builtStill.of('SamplerCustomAdvanced')).toHaveLength(1);
    await runsToSize(builtStill, still);
    // A small one asks no more steps of Flux2Scheduler than it takes.
    const long = await build(txt2img({ ...spec, steps: 100, hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.01 } }));
    expect(long.of('Flux2Scheduler')[1]!.inputs['steps']).toBe(4096);
    expect(long.one('SplitSigmas').inputs['step']).toBe(3996);
  });

  it('img2img with a schedule named splits BasicScheduler\'s sigmas; inpainting guides with the inpainting conditioning', async () => {
    const named = img2img({ model: flux2(), negativePrompt: '', cfgScale: 1, guidance: 4, width: 512, height: 512, steps: 10, sampler: 'Euler Beta', denoisingStrength: 0.5 });
    const built = await build(named);
    expect(from(built, built.one('SplitSigmas').inputs['sigmas']).class_type).toBe('BasicScheduler');
    await runsToSize(built, named);
    const inpaint = img2img({ model: flux2(), negativePrompt: '', cfgScale: 1, guidance: 4, steps: 8, denoisingStrength: 0.75, inpaint: { mask: squareMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'whole' } });
    const builtInpaint = await build(inpaint);
    expect(from(builtInpaint, builtInpaint.one('BasicGuider').inputs['conditioning']).class_type).toBe('InpaintModelConditioning');
    await runsToSize(builtInpaint, inpaint);
  });

  it('the sandbox refuses an SD3 latent for Flux.2, as the real model would', async () => {
    const spec = txt2img({ model: flux2(), negativePrompt: '', cfgScale: 1, guidance: 4, width: 512, height: 512, steps: 2, sampler: 'Euler' });
    const built = await build(spec);
    const latentId = Object.entries(built.nodes).find(([, n]) => n.class_type === 'EmptyFlux2LatentImage')![0];
    const { history } = await world.runGraph({ ...built.nodes, [latentId]: { ...built.nodes[latentId], class_type: 'EmptySD3LatentImage' } });
    expect(history.status.status_str).toBe('error');
    expect(JSON.stringify(history.status.messages)).toContain('to have 128 channels, but got 16 channels');
  });
});

describe('the UNet families with hires, inpainting and LoRAs', () => {
  const families = [
    { file: 'flux2_dev_fp8mixed.safetensors', cfgScale: 1, guidance: 4 },
    { file: 'qwen_image_fp8_e4m3fn.safetensors', cfgScale: 2.5 },
    { file: 'z_image_turbo_bf16.safetensors', cfgScale: 1 },
  ];
  for (const { file, ...strength } of families) {
    it(`${file}: latent and model hires, inpainting of the whole picture and of the masked area only, a LoRA`, async () => {
      const common = { model: world.model(file), ...strength, negativePrompt: '', sampler: 'Euler' };
      const asks = [
        txt2img({ ...common, width: 512, height: 512, steps: 4, hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 } }),
        txt2img({ ...common, width: 512, height: 384, steps: 4, hires: { scale: 1.5, upscaler: 'R-ESRGAN 4x+', denoisingStrength: 0.4 } }),
        img2img({ ...common, steps: 8, denoisingStrength: 0.75, inpaint: { mask: squareMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'whole' } }),
        img2img({ ...common, steps: 8, denoisingStrength: 1, inpaint: { mask: squareMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'masked_only' } }),
        txt2img({ ...common, loras: [{ lora: kobeni, weight: 0.5 }], width: 512, height: 512, steps: 4 }),
      ];
      const made: Buffer[] = [];
      for (const spec of asks) made.push(await runsToSize(await build(spec), spec));
      // Each a picture of its own: the seed pattern of its prompt, model and settings.
      expect(new Set(made.map((png) => png.toString('base64'))).size).toBe(asks.length);
    });
  }
});

describe('hires fix', () => {
  it('latent: LatentUpscale to A1111\'s target size with the mode, a second KSampler at the hires denoise', async () => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), steps: 4, hires: { scale: 1.45, upscaler: 'Latent', denoisingStrength: 0.55 } });
    const built = await build(spec);
    expect(built.one('LatentUpscale').inputs).toMatchObject({ upscale_method: 'bilinear', width: 742, height: 742, crop: 'disabled' });
    const samplers = built.of('KSampler');
    expect(samplers.map((s) => s.inputs['denoise'])).toEqual([1, 0.55]);
    expect(samplers[1]!.inputs['steps']).toBe(4);
    await runsToSize(built, spec);
  });

  it('model upscaler: decode, upscale model, resize to the exact target, encode, second pass', async () => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), steps: 4, width: 512, height: 384, hires: { scale: 1.5, upscaler: 'R-ESRGAN 4x+', denoisingStrength: 0.4 } });
    const built = await build(spec);
    expect(built.one('UpscaleModelLoader').inputs).toEqual({ model_name: 'RealESRGAN_x4plus.pth' });
    expect(built.one('ImageScale').inputs).toMatchObject({ width: 768, height: 576, upscale_method: 'lanczos' });
    expect(built.one('VAEEncode').inputs['pixels']).toBeDefined();
    expect(built.of('KSampler')).toHaveLength(2);
    await runsToSize(built, spec);
  });
});

describe('img2img and inpainting', () => {
  /** A mask that rises from 0 at the left edge to 255 at the right, as a blurred edge does across its band. */
  async function maskRamp(): Promise<Buffer> {
    const ramp = Buffer.alloc(512 * 512);
    for (let i = 0; i < ramp.length; i++) ramp[i] = Math.floor((i % 512) / 2);
    return (await import('sharp')).default(ramp, { raw: { width: 512, height: 512, channels: 1 } }).png().toBuffer();
  }
  const pixels = async (png: Buffer) => (await (await import('sharp')).default(png).raw().toBuffer({ resolveWithObject: true })).data;
  /** The pixel at `x` on the middle row of a 512² result. */
  const at = (data: Buffer, x: number) => [...data.subarray((256 * 512 + x) * 3, (256 * 512 + x) * 3 + 3)];

  it('img2img: the init image encoded, sampled from where A1111 starts in the task\'s own schedule', async () => {
    // A1111 samples int(0.5 × 20) + 1 = 11 steps: the last 11 of a 20-step schedule, from step 9 on.
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 20, denoisingStrength: 0.5 });
    const built = await build(spec);
    expect(built.one('LoadImage').inputs['image']).toMatch(/^init/);
    expect(built.one('KSamplerAdvanced').inputs).toMatchObject({ steps: 20, start_at_step: 9, end_at_step: 10000, add_noise: 'enable', noise_seed: 7 });
    expect(built.of('KSampler')).toEqual([]);
    expect(built.one('VAEEncode')).toBeDefined();
    await runsToSize(built, spec);
    // At full strength it samples every step (A1111: int(0.999 × 20) + 1 = 20).
    const full = await build(img2img({ model: world.model('clarity.safetensors'), steps: 20, denoisingStrength: 1 }));
    expect(full.one('KSamplerAdvanced').inputs['start_at_step']).toBe(0);
  });

  it('inpaint below full denoise: noise mask, and the original kept outside the mask', async () => {
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 8, denoisingStrength: 0.75, inpaint: { mask: squareMask.toString('base64'), maskBlur: 0, regenerate: 'masked', area: 'whole' } });
    const built = await build(spec);
    expect(built.one('ImageToMask').inputs['channel']).toBe('red');
    expect(built.one('InpaintModelConditioning').inputs).toMatchObject({ noise_mask: true });
    expect(built.one('ImageCompositeMasked').inputs).toMatchObject({ x: 0, y: 0 });
    const png = await runsToSize(built, spec);
    const { data } = await (await import('sharp')).default(png).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...data.subarray((y * 512 + x) * 3, (y * 512 + x) * 3 + 3)];
    expect(at(5, 5)).toEqual([200, 20, 20]);
    expect(at(256, 256)).not.toEqual([200, 20, 20]);
  });

  it('inpaint with a soft edge: the sampler keeps the mask rounded, the paste blends the edge once with the mask doubled, as A1111 overlays', async () => {
    const rampMask = await maskRamp();
    const whiteMask = await picture(512, 512, { r: 255, g: 255, b: 255 });
    const inpaint = (mask: Buffer) => ({ mask: mask.toString('base64'), maskBlur: 4, regenerate: 'masked' as const, area: 'whole' as const });
    const soft = img2img({ model: world.model('clarity.safetensors'), steps: 8, denoisingStrength: 0.75, inpaint: inpaint(rampMask) });
    const built = await build(soft, 7, rampMask);
    const idOf = (node: GraphNode) => Object.keys(built.nodes).find((id) => built.nodes[id] === node);
    const mask = built.one('ThresholdMask').inputs['mask'];
    expect(built.one('ThresholdMask').inputs['value']).toBe(0.5);
    expect(built.one('InpaintModelConditioning').inputs['mask']).toEqual([idOf(built.one('ThresholdMask')), 0]);
    expect(built.one('MaskComposite').inputs).toEqual({ destination: mask, source: mask, x: 0, y: 0, operation: 'add' });
    expect(built.one('ImageCompositeMasked').inputs['mask']).toEqual([idOf(built.one('MaskComposite')), 0]);
    const blended = await pixels(await runsToSize(built, soft));
    // The same task with everything regenerated: what the sampler makes at each pixel.
    const whole = img2img({ ...soft, inpaint: inpaint(whiteMask) });
    const generated = await pixels(await runsToSize(await build(whole, 7, whiteMask), whole));
    // At a weight of 0.3 the sampler changed nothing (rounded: the original kept), so nothing is blended in.
    expect(at(blended, 154)).toEqual([200, 20, 20]);
    // At 0.4 the doubled mask is 0.8, but the sampler kept the original there (under one half): still the original.
    expect(at(blended, 205)).toEqual([200, 20, 20]);
    // At 0.8 (doubled: 1) the generated pixel is taken whole.
    expect(at(generated, 410)).not.toEqual([200, 20, 20]);
    expect(at(blended, 410)).toEqual(at(generated, 410));
    // At 0.6 (doubled: 1) too; A1111's clip(2 × mask) makes the edge's inner half fully generated.
    expect(at(blended, 307)).toEqual(at(generated, 307));
  });

  it('without InpaintModelConditioning (ComfyUI before 2024): the rounded mask on the encoded latent', async () => {
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 8, denoisingStrength: 0.75, inpaint: { mask: squareMask.toString('base64'), maskBlur: 0, regenerate: 'masked', area: 'whole' } });
    const files: GraphFiles = { initImage: 'init.png', mask: 'mask.png' };
    const graph = buildGraph(spec, world.bind(spec), { ...world.discovery.inventory, inpaintConditioning: false }, files, 7).graph.nodes;
    const types = Object.values(graph).map((n) => n.class_type);
    expect(types).toEqual(expect.arrayContaining(['VAEEncode', 'SetLatentNoiseMask', 'ThresholdMask']));
    expect(types).not.toContain('InpaintModelConditioning');
  });

  it('without ThresholdMask and MaskComposite (ComfyUI before late 2023): the soft mask serves the sampler and the paste', async () => {
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 8, denoisingStrength: 0.75, inpaint: { mask: squareMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'whole' } });
    const files: GraphFiles = { initImage: 'init.png', mask: 'mask.png' };
    const inventory = { ...world.discovery.inventory, thresholdMask: false, maskComposite: false };
    const nodes = buildGraph(spec, world.bind(spec), inventory, files, 7).graph.nodes;
    const byType = (type: string) => Object.entries(nodes).filter(([, n]) => n.class_type === type);
    expect(byType('ThresholdMask')).toEqual([]);
    expect(byType('MaskComposite')).toEqual([]);
    const [[maskId]] = byType('ImageToMask') as [[string, unknown]];
    expect(byType('InpaintModelConditioning')[0]![1].inputs['mask']).toEqual([maskId, 0]);
    expect(byType('ImageCompositeMasked')[0]![1].inputs['mask']).toEqual([maskId, 0]);
  });

  it('the masked area only, pasted back by the node: no paste in the graph', async () => {
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 8, denoisingStrength: 0.75, inpaint: { mask: squareMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'masked_only' } });
    const files: GraphFiles = { initImage: 'init.png', mask: 'mask.png', pastedByNode: true };
    const types = Object.values(buildGraph(spec, world.bind(spec), world.discovery.inventory, files, 7).graph.nodes).map((n) => n.class_type);
    expect(types).toContain('InpaintModelConditioning');
    expect(types).not.toContain('ImageCompositeMasked');
    expect(types).not.toContain('MaskComposite');
  });

  it('inpaint at full denoise starts from the original too (no greyed picture), as A1111 nodes are asked to', async () => {
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 4, denoisingStrength: 1, inpaint: { mask: squareMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'whole' } });
    const built = await build(spec);
    expect(built.of('VAEEncodeForInpaint')).toEqual([]);
    expect(built.one('InpaintModelConditioning').inputs['pixels']).toEqual(built.one('ImageCompositeMasked').inputs['destination']);
    await run(built);
  });

  it('inpaint at full denoise with a soft edge: under one half the original stays', async () => {
    const rampMask = await maskRamp();
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 4, denoisingStrength: 1, inpaint: { mask: rampMask.toString('base64'), maskBlur: 4, regenerate: 'masked', area: 'whole' } });
    const result = await pixels(await runsToSize(await build(spec, 7, rampMask), spec));
    expect(at(result, 154)).toEqual([200, 20, 20]);
    expect(at(result, 410)).not.toEqual([200, 20, 20]);
  });
});

describe('ControlNet', () => {
  it('canny: the core Canny node with A1111 thresholds on its 0–1 scale, applied with weight and range', async () => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), steps: 4, controlNet: [unit('canny', 'sd15_canny')] });
    const built = await build(spec);
    expect(built.one('Canny').inputs).toMatchObject({ low_threshold: 0.39, high_threshold: 0.78 });
    expect(built.one('ControlNetLoader').inputs).toEqual({ control_net_name: 'control_v11p_sd15_canny.pth' });
    expect(built.one('ControlNetApplyAdvanced').inputs).toMatchObject({ strength: 0.8, start_percent: 0.1, end_percent: 0.9 });
    await runsToSize(built, spec);
  });

  it('img2img: start and end, fractions of the steps sampled, placed on the part of the schedule sampled', async () => {
    // 20 steps at strength 0.5: the last 11 are sampled, from step 9. Ending half way through them: step 14.5 of 20.
    const spec = img2img({ model: world.model('clarity.safetensors'), steps: 20, denoisingStrength: 0.5, controlNet: [unit('canny', 'sd15_canny', { guidanceStart: 0, guidanceEnd: 0.5 })] });
    const built = await build(spec);
    expect(built.one('ControlNetApplyAdvanced').inputs).toMatchObject({ start_percent: 0.45, end_percent: 0.725 });
    expect(built.one('KSamplerAdvanced').inputs['start_at_step']).toBe(9);
    await runsToSize(built, spec);
  });

  it('openpose through the installed preprocessor, two units chained', async () => {
    const spec = txt2img({ model: world.model('clarity.safetensors'), steps: 4, controlNet: [unit('openpose', 'sd15_openpose'), unit('canny', 'sd15_canny')] });
    const built = await build(spec);
    // A1111's "openpose" is the body alone (hands and face are "openpose_full").
    expect(built.one('OpenposePreprocessor').inputs).toMatchObject({ detect_body: 'enable', detect_hand: 'disable', detect_face: 'disable' });
    const applies = Object.entries(built.nodes).filter(([, n]) => n.class_type === 'ControlNetApplyAdvanced');
    expect(applies).toHaveLength(2);
    expect(applies[1]![1].inputs['positive']).toEqual([applies[0]![0], 0]);
    expect(built.one('KSampler').inputs['positive']).toEqual([applies[1]![0], 0]);
    expect(built.one('KSampler').inputs['negative']).toEqual([applies[1]![0], 1]);
    await run(built);
  });
});

describe('upscale and interrogate', () => {
  it('upscales with the model to exactly scale × the source, a second upscaler blended in', async () => {
    const spec: GenerationSpec = { kind: 'upscale', image: (await picture(300, 200, { r: 1, g: 2, b: 3 })).toString('base64'), scale: 2, upscaler: 'R-ESRGAN 4x+', upscaler2: 'Lanczos', upscaler2Visibility: 0.3, sourceWidth: 300, sourceHeight: 200 };
    const built = await build(spec);
    expect(built.one('ImageUpscaleWithModel')).toBeDefined();
    expect(built.of('ImageScale').map((n) => [n.inputs['upscale_method'], n.inputs['width'], n.inputs['height']])).toEqual([
      ['lanczos', 600, 400],
      ['lanczos', 600, 400],
    ]);
    expect(built.one('ImageBlend').inputs).toMatchObject({ blend_factor: 0.3, blend_mode: 'normal' });
    expect(pngSize((await run(built)).png!)).toEqual({ width: 600, height: 400 });
  });

  it('interrogates with the WD14 tagger and reads its tags', async () => {
    const spec: GenerationSpec = { kind: 'interrogate', image: 'x', interrogator: 'deepdanbooru' };
    const built = await build(spec);
    expect(built.one('WD14Tagger|pysssss').inputs).toMatchObject({ model: 'wd-v1-4-moat-tagger-v2', threshold: 0.35 });
    const { tags } = await run(built);
    expect(tags).toContain('300x200');
    expect(tags).toContain('blue');
  });
});
