/**
 * One network, two kinds of GPU: real gateway, node and sandbox processes, a
 * node beside a ComfyUI (the sandbox's ComfyUI flavour, which validates every
 * graph as ComfyUI does) and a node beside an A1111 WebUI. First every
 * endpoint through the ComfyUI node alone; then both serving the same queue:
 * each task only where it can run (Flux never on the A1111 node; guess-mode
 * ControlNet and CLIP interrogation never on ComfyUI), each node kept on the
 * checkpoint it has loaded, and each node's speed learned.
 */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOnlyMaskedAndUpright, rednessOf } from '../helpers/picture-checks.js';
import { getJson, halfMaskBase64, imageInfo, pngBase64, pollUntilDone, postJson } from '../helpers/api-client.js';
import { defaultOfferings } from '../../src/sandbox/offerings.js';
import { type DanProcess, runDan, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const KOBENI = '3e5d8fe726b4c0f1e7f0905f32ea3d1c9ce89a54028209e8179d64d323048dac';
/** The operator adds SDXL base to the catalog; the ComfyUI node's file is known by its download link's name. */
const SDXL_SHA = '31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b';
/** Time ten times faster than a real GPU's: a checkpoint load (4 s) stays dearer than a task's fixed costs. */
const SPEED = 10;

let gateway: string;
let comfy: string;
let a1111: string | null = null;
const processes: DanProcess[] = [];
const dir = tempDir();

beforeAll(async () => {
  const added = await runDan(['catalog', 'add', 'model', 'sdxl-base', '--sha256', SDXL_SHA, '--family', 'sdxl', '--data', `${dir.path}/data`,
    '--download', 'https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors']);
  if (added.code !== 0) throw new Error(`dan catalog add failed: ${added.stderr}`);
  const [sb, gw] = await Promise.all([
    startSandboxProcess({ flavor: 'comfyui', speed: SPEED, args: ['--it-per-second', '40', '--switch-seconds', '4'] }),
    startGatewayProcess({ dataDir: `${dir.path}/data` }),
  ]);
  const node = await startNodeProcess({ gateway: gw.url, comfyui: sb.url, name: 'comfy-node' });
  processes.push(sb.proc, gw.proc, node.proc);
  gateway = gw.url;
  comfy = sb.url;
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  dir.remove();
});

async function prompts(sandbox: string): Promise<any[]> {
  const { body } = await getJson(`${sandbox}/sandbox/requests`);
  return body.requests.filter((r: any) => r.path === '/prompt');
}

/** The model file each graph the ComfyUI sandbox accepted loads. */
async function comfyModels(): Promise<string[]> {
  return (await prompts(comfy))
    .filter((r) => r.status === 200)
    .map((r) => Object.values(r.body.prompt as Record<string, any>).find((n) => n.class_type === 'CheckpointLoaderSimple' || n.class_type === 'UNETLoader'))
    .filter((loader) => loader !== undefined)
    .map((loader) => loader.inputs.ckpt_name ?? loader.inputs.unet_name);
}

async function a1111Requests(path: string): Promise<any[]> {
  const { body } = await getJson(`${a1111}/sandbox/requests`);
  return body.requests.filter((r: any) => r.path === path);
}

describe('every endpoint through a ComfyUI node', () => {
  it('lists what ComfyUI has, with families: SD 1.5 and the added SDXL from the catalog, Flux with its encoders', async () => {
    const { body } = await getJson(`${gateway}/api/sd/supportedModelInfo`);
    const models = Object.fromEntries(body.data.Models.map((m: any) => [m.name, m]));
    expect(models['clarity']).toMatchObject({ family: 'sd15', available: true });
    expect(models['sdxl-base']).toMatchObject({ family: 'sdxl', hash: SDXL_SHA, available: true, download: expect.stringContaining('sd_xl_base_1.0.safetensors') });
    expect(models['sd_xl_base_1.0']).toBeUndefined();
    expect(models['flux1-dev']).toMatchObject({ family: 'flux', available: true });
    expect(body.data.Interrogators).toContainEqual({ name: 'deepdanbooru', available: true });
    expect(body.data.Interrogators).toContainEqual({ name: 'clip', available: false });
    const nodes = (await getJson(`${gateway}/api/nodes`)).body.data;
    expect(nodes).toMatchObject([{ name: 'comfy-node', backend: 'comfyui', state: 'ready' }]);
  });

  it('txt2img with LoRAs and latent hires: the hires size and the seed', async () => {
    const { status, body } = await postJson(`${gateway}/api/sd/txt2img`, {
      prompt: 'a portrait', negative_prompt: 'blurry', loras: [[KOBENI, 0.7]], seed: 4242, sampler_name: 'DPM++ SDE Karras', steps: 12,
      width: 512, height: 640, model: 'clarity', upscale: { denoising_strength: 0.5, scale: 1.5, upscaler: 'Latent' },
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.data.seeds).toEqual([4242]);
    expect(await imageInfo(body.data.images[0])).toEqual({ format: 'png', width: 768, height: 960 });
  });

  it('txt2img with a model upscaler for hires, and with canny and openpose ControlNet units', async () => {
    const hires = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a castle', model: 'clarity', steps: 6, upscale: { denoising_strength: 0.4, scale: 2, upscaler: 'R-ESRGAN 4x+' } });
    expect(await imageInfo(hires.body.data.images[0])).toMatchObject({ width: 1024, height: 1024 });
    const control = await pngBase64(512, 512);
    const units = [
      { image: control, preprocess: 'canny', model: 'sd15_canny', preprocess_param1: 100, preprocess_param2: 200, weight: 1, resize_mode: 2, guidance_start: 0, guidance_end: 1, guessmode: false },
      { image: control, preprocess: 'openpose', model: 'sd15_openpose', weight: 0.6, resize_mode: 1, guidance_start: 0, guidance_end: 0.8, guessmode: false },
    ];
    const { status, body } = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a dancer', model: 'clarity', steps: 6, control_net: units });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.data.images).toHaveLength(1);
  });

  it('SDXL at its native 1024² (the family default) and Flux (its own graph) both answer', async () => {
    const sdxl = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a lighthouse', model: SDXL_SHA, steps: 6 });
    expect(await imageInfo(sdxl.body.data.images[0])).toMatchObject({ width: 1024, height: 1024 });
    const flux = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a neon sign that reads DAN', model: 'flux1-dev', width: 1024, height: 768, steps: 6, sampler_name: 'Euler' });
    expect(flux.status, JSON.stringify(flux.body)).toBe(200);
    expect(await imageInfo(flux.body.data.images[0])).toMatchObject({ width: 1024, height: 768 });
    expect(await comfyModels()).toEqual(expect.arrayContaining(['sd_xl_base_1.0.safetensors', 'flux1-dev.safetensors']));
  });

  it('Flux.2, Qwen-Image and Z-Image-Turbo answer with their family defaults: guidance 4 on its own sampler; cfg 2.5 and a negative prompt; 8 steps at cfg 1 and 1024²', async () => {
    const { body: info } = await getJson(`${gateway}/api/sd/supportedModelInfo`);
    const families = Object.fromEntries(info.data.Models.map((m: any) => [m.name, m.family]));
    expect(families).toMatchObject({ flux2_dev_fp8mixed: 'flux2', qwen_image_fp8_e4m3fn: 'qwen-image', z_image_turbo_bf16: 'z-image-turbo' });
    const flux2 = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a poster that reads DAN', model: 'flux2_dev_fp8mixed', width: 768, height: 512, steps: 6 });
    expect(flux2.status, JSON.stringify(flux2.body)).toBe(200);
    expect(await imageInfo(flux2.body.data.images[0])).toMatchObject({ width: 768, height: 512 });
    const qwen = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a shop sign that reads DAN', negative_prompt: 'blurry', model: 'qwen_image_fp8_e4m3fn', width: 768, height: 512, steps: 6 });
    expect(qwen.status, JSON.stringify(qwen.body)).toBe(200);
    expect(await imageInfo(qwen.body.data.images[0])).toMatchObject({ width: 768, height: 512 });
    const turbo = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'a lighthouse at dusk', model: 'z_image_turbo_bf16' });
    expect(turbo.status, JSON.stringify(turbo.body)).toBe(200);
    expect(await imageInfo(turbo.body.data.images[0])).toMatchObject({ width: 1024, height: 1024 });
    const graphs = (await prompts(comfy)).filter((r) => r.status === 200).map((r) => Object.values(r.body.prompt as Record<string, any>));
    const samplerOf = (file: string) => graphs.find((nodes) => nodes.some((n) => n.inputs.unet_name === file))!.find((n) => n.class_type === 'KSampler').inputs;
    expect(samplerOf('qwen_image_fp8_e4m3fn.safetensors')).toMatchObject({ cfg: 2.5, steps: 6, scheduler: 'simple' });
    expect(samplerOf('z_image_turbo_bf16.safetensors')).toMatchObject({ cfg: 1, steps: 8, scheduler: 'simple' });
    const flux2Graph = graphs.find((nodes) => nodes.some((n) => n.inputs.unet_name === 'flux2_dev_fp8mixed.safetensors'))!;
    expect(flux2Graph.find((n) => n.class_type === 'FluxGuidance').inputs.guidance).toBe(4);
    expect(flux2Graph.find((n) => n.class_type === 'Flux2Scheduler').inputs).toEqual({ steps: 6, width: 768, height: 512 });
    // A negative prompt for the turbo model is refused at the door, naming the field, before any GPU sees it.
    const refused = await postJson(`${gateway}/api/sd/txt2img`, { prompt: 'x', negative_prompt: 'blurry', model: 'z_image_turbo_bf16' });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain('negative_prompt');
  });

  it('img2img, and inpainting that keeps the unmasked half', async () => {
    const img = await postJson(`${gateway}/api/sd/img2img`, { init_image: await pngBase64(300, 200), prompt: 'a cat', model: 'clarity', width: 256, height: 192, denoising_strength: 0.5 });
    expect(await imageInfo(img.body.data.images[0])).toMatchObject({ width: 256, height: 192 });
    const { status, body } = await postJson(`${gateway}/api/sd/img2img`, {
      init_image: await pngBase64(128, 128, { r: 255, g: 0, b: 0 }), prompt: 'blue sky', model: 'clarity', width: 128, height: 128, denoising_strength: 1,
      inpaint: { mask: await halfMaskBase64(128, 128), mask_blur: 0, mask_mode: 0, inpaint_area: 0 },
    });
    expect(status, JSON.stringify(body)).toBe(200);
    const { data } = await sharp(Buffer.from(body.data.images[0], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number) => [...data.subarray((y * 128 + x) * 3, (y * 128 + x) * 3 + 3)];
    expect(pixel(100, 64)).toEqual([255, 0, 0]);
    expect(pixel(20, 64)).not.toEqual([255, 0, 0]);
  });

  it('edits an image with FLUX.1 Kontext: at the edit size nearest its aspect, keeping much of it, through ReferenceLatent', async () => {
    const { status, body } = await postJson(`${gateway}/api/sd/img2img`, { init_image: await pngBase64(320, 180, { r: 220, g: 20, b: 20 }), prompt: 'make it night', model: 'flux1-dev-kontext_fp8_scaled', steps: 4 });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(await imageInfo(body.data.images[0])).toMatchObject({ width: 1392, height: 752 });
    expect(await rednessOf(Buffer.from(body.data.images[0], 'base64'))).toBeGreaterThan(40);
    const graph = Object.values((await prompts(comfy)).at(-1)!.body.prompt as Record<string, any>);
    expect(graph.find((n) => n.class_type === 'ReferenceLatent')).toBeDefined();
    expect(graph.find((n) => n.class_type === 'KSampler').inputs).toMatchObject({ denoise: 1, cfg: 1 });
  });

  it('edits an image with Qwen-Image-Edit: at the edit size nearest its aspect, keeping much of it, both prompts encoded with it', async () => {
    const init = await pngBase64(180, 320, { r: 220, g: 20, b: 20 });
    const { status, body } = await postJson(`${gateway}/api/sd/img2img`, { init_image: init, prompt: 'make it night', negative_prompt: 'blurry', model: 'qwen_image_edit_2509_fp8_e4m3fn', steps: 4 });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(await imageInfo(body.data.images[0])).toMatchObject({ width: 752, height: 1392 });
    expect(await rednessOf(Buffer.from(body.data.images[0], 'base64'))).toBeGreaterThan(40);
    const graph = Object.values((await prompts(comfy)).at(-1)!.body.prompt as Record<string, any>);
    expect(graph.filter((n) => n.class_type === 'TextEncodeQwenImageEditPlus').map((n) => n.inputs.prompt)).toEqual(['make it night', 'blurry']);
    expect(graph.find((n) => n.class_type === 'CFGNorm')).toBeDefined();
    expect(graph.find((n) => n.class_type === 'KSampler').inputs).toMatchObject({ denoise: 1, cfg: 2.5 });
  });

  it('inpainting only the masked area answers the picture at its own size, changed only around the mask; a phone photo is upscaled upright', async () => {
    await expectOnlyMaskedAndUpright(gateway, 'R-ESRGAN 4x+');
  });

  it('upscale, interrogate (tags) and the async routes', async () => {
    const up = await postJson(`${gateway}/api/sd/upscale`, { image: await pngBase64(100, 60), upscalingRate: 2, upscaler: 'R-ESRGAN 4x+' });
    expect(await imageInfo(up.body.data.images[0])).toMatchObject({ width: 200, height: 120 });
    const tags = await postJson(`${gateway}/api/sd/interrogate`, { image: await pngBase64(64, 64), model: 'deepdanbooru' });
    expect(tags.body.data.caption).toContain('64x64');
    const { body } = await postJson(`${gateway}/api/sd/txt2img/async`, { prompt: 'async', model: 'anything-v4.5-pruned', steps: 4 });
    expect((await pollUntilDone(gateway, body.data.taskId)).status).toBe(2);
  });

  it('ComfyUI refused no graph DAN sent it', async () => {
    const sent = await prompts(comfy);
    expect(sent.length).toBeGreaterThan(8);
    expect(sent.filter((r) => r.status !== 200)).toEqual([]);
  });
});

describe('one queue, an A1111 node and a ComfyUI node', () => {
  beforeAll(async () => {
    const config = `${dir.path}/a1111.json`;
    // The WebUI has a copy of the Qwen-Image file too, which it cannot tell the family of (the node cannot read its header).
    const models = [...defaultOfferings.models, { fileName: 'qwen_image_fp8_e4m3fn.safetensors', sha256: null }];
    writeFileSync(config, JSON.stringify({ loadedModel: 'clarity.safetensors', models }));
    const sb = await startSandboxProcess({ speed: SPEED, config, args: ['--it-per-second', '10', '--switch-seconds', '4'] });
    const node = await startNodeProcess({ gateway, webui: sb.url, name: 'a1111-node' });
    processes.push(sb.proc, node.proc);
    a1111 = sb.url;
  }, 60_000);

  it("keeps each node on the checkpoint it has loaded, and learns both nodes' speeds and ComfyUI's load times", async () => {
    // The ComfyUI node's last task loaded anything-v4.5; the A1111 node starts with clarity loaded.
    const switches = async () => ({
      comfy: (await getJson(`${comfy}/sandbox/stats`)).body.checkpointSwitches as number,
      a1111: (await getJson(`${a1111}/sandbox/stats`)).body.checkpointSwitches as number,
    });
    const before = await switches();
    // One at a time: each goes to the node that has its checkpoint loaded, no switch anywhere. A clarity task is
    // short enough that the ComfyUI node, four times faster, would not finish it sooner with a load first (0.4 s):
    // one of 40 steps (0.4 s on the A1111 node, 0.1 s on it) was a tie that a loaded machine's timings could tip.
    for (const [model, steps] of [['anything-v4.5-pruned', 40], ['clarity', 12], ['anything-v4.5-pruned', 40], ['clarity', 12]] as const) {
      const { status, body } = await postJson(`${gateway}/api/sd/txt2img`, { prompt: model, model, steps });
      expect(status, JSON.stringify(body)).toBe(200);
    }
    expect(await switches()).toEqual(before);
    const nodes = Object.fromEntries((await getJson(`${gateway}/api/nodes`)).body.data.map((n: any) => [n.name, n]));
    expect(nodes['comfy-node'].loadedModel).toMatch(/anything/);
    expect(nodes['a1111-node'].loadedModel).toMatch(/clarity/);
    // The ComfyUI sandbox runs four times faster. Learned from a few tasks, on a machine other processes
    // share, the figures come closer than that (1.8 times in one CI run): a quarter faster is what is asserted.
    expect(nodes['comfy-node'].itPerSecond).toBeGreaterThan(1.25 * nodes['a1111-node'].itPerSecond);
    expect(Object.keys(nodes['comfy-node'].loadSeconds).length).toBeGreaterThan(0);
  });

  it('sends each task only where it can run: Flux and Qwen-Image to ComfyUI (the network knows the family the A1111 node cannot tell), guess mode and CLIP to A1111', async () => {
    const before = (await comfyModels()).filter((m) => m === 'flux1-dev.safetensors').length;
    const qwenBefore = (await comfyModels()).filter((m) => m === 'qwen_image_fp8_e4m3fn.safetensors').length;
    const control = await pngBase64(256, 256);
    const submissions = [
      ...Array.from({ length: 2 }, (_, i) => ['txt2img', { prompt: `flux ${i}`, model: 'flux1-dev', steps: 4, width: 512, height: 512 }] as const),
      ...Array.from({ length: 4 }, (_, i) => ['txt2img', { prompt: `sd ${i}`, model: 'clarity', steps: 8 }] as const),
      ...Array.from({ length: 2 }, (_, i) => ['txt2img', { prompt: `qwen ${i}`, model: 'qwen_image_fp8_e4m3fn', steps: 4, width: 512, height: 512 }] as const),
      ['txt2img', { prompt: 'guess', model: 'clarity', steps: 4, control_net: [{ image: control, preprocess: 'canny', model: 'sd15_canny', weight: 1, guessmode: true }] }] as const,
      ['interrogate', { image: control, model: 'clip' }] as const,
    ];
    const ids = await Promise.all(
      submissions.map(async ([kind, body]) => {
        const response = await postJson(`${gateway}/api/sd/${kind}/async`, body);
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        return response.body.data.taskId as string;
      }),
    );
    for (const id of ids) expect((await pollUntilDone(gateway, id, 60_000)).status).toBe(2);
    const a1111Checkpoints = (await a1111Requests('/sdapi/v1/txt2img')).map((r) => r.body.override_settings.sd_model_checkpoint);
    expect(a1111Checkpoints.filter((c: string) => c.includes('flux') || c.includes('qwen'))).toEqual([]);
    expect((await comfyModels()).filter((m) => m === 'qwen_image_fp8_e4m3fn.safetensors').length - qwenBefore).toBe(2);
    expect((await comfyModels()).filter((m) => m === 'flux1-dev.safetensors').length - before).toBe(2);
    expect((await a1111Requests('/sdapi/v1/txt2img')).filter((r) => r.body.alwayson_scripts?.controlnet?.args[0].control_mode === 'ControlNet is more important')).toHaveLength(1);
    expect((await a1111Requests('/sdapi/v1/interrogate')).map((r) => r.body.model)).toEqual(['clip']);
  });

});
