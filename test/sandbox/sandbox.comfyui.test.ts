/**
 * The ComfyUI flavour of the sandbox against ComfyUI's wire format: what
 * `/object_info` lists, `POST /prompt`'s validation errors in ComfyUI's shapes,
 * the websocket messages of a prompt in order, history and view, uploads,
 * the node cache that keeps a model loaded, interrupts, queue deletes and
 * injected failures.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { picture, uploadImage } from '../helpers/comfy-world.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await startSandbox({ flavor: 'comfyui', speed: Infinity });
});
afterEach(() => sandbox.close());

function txt2imgGraph(overrides: { ckpt?: string; steps?: unknown; seed?: number } = {}): Record<string, any> {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: overrides.ckpt ?? 'clarity.safetensors' } },
    '2': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox', clip: ['1', 1] } },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['1', 1] } },
    '4': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '5': {
      class_type: 'KSampler',
      inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent_image: ['4', 0], seed: overrides.seed ?? 1, steps: overrides.steps ?? 4, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1 },
    },
    '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
    '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'T' } },
  };
}

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : JSON.parse(text) };
}

async function history(promptId: string): Promise<any> {
  for (let i = 0; i < 500; i++) {
    const entry = ((await (await fetch(`${sandbox.url}/history/${promptId}`)).json()) as any)[promptId];
    if (entry) return entry;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no history entry');
}

describe('object_info', () => {
  it('lists node classes with ComfyUI input specs: classic combos, v3 combos, ranges, upload flags, live file lists', async () => {
    const info = (await (await fetch(`${sandbox.url}/object_info`)).json()) as any;
    expect(info.KSampler.input.required.steps).toEqual(['INT', { default: 20, min: 1, max: 10000 }]);
    expect(info.KSampler.input.required.sampler_name[0]).toContain('dpmpp_2m');
    expect(info.CheckpointLoaderSimple.input.required.ckpt_name[0]).toContain('clarity.safetensors');
    expect(info.UpscaleModelLoader.input.required.model_name).toEqual(['COMBO', { multiselect: false, options: ['RealESRGAN_x4plus.pth', 'RealESRGAN_x4plus_anime_6B.pth'] }]);
    expect(info.SaveImage.output_node).toBe(true);
    expect(info.CheckpointLoaderSimple.output).toEqual(['MODEL', 'CLIP', 'VAE']);
    expect(info.LoadImage.input.required.image).toEqual([[], { image_upload: true }]);
    await uploadImage(sandbox.url, await picture(8, 8, { r: 1, g: 1, b: 1 }), 'a.png');
    const one = (await (await fetch(`${sandbox.url}/api/object_info/LoadImage`)).json()) as any;
    expect(one.LoadImage.input.required.image[0]).toEqual(['a.png']);
  });

  it('serves the family metadata of a checkpoint that has it, 404 for one without', async () => {
    const sdxl = await fetch(`${sandbox.url}/view_metadata/checkpoints?filename=sd_xl_base_1.0.safetensors`);
    expect(await sdxl.json()).toMatchObject({ 'modelspec.architecture': 'stable-diffusion-xl-v1-base' });
    expect((await fetch(`${sandbox.url}/view_metadata/checkpoints?filename=clarity.safetensors`)).status).toBe(404);
  });
});

describe('POST /prompt validation, in ComfyUI shapes', () => {
  it('no prompt; a node without class_type; an unknown class; no output node', async () => {
    expect(await post('/prompt', {})).toEqual({ status: 400, body: { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} } });
    const missing = await post('/prompt', { prompt: { '1': { inputs: {} } } });
    expect(missing.body.error).toMatchObject({ type: 'missing_node_type', details: "Node ID '#1'" });
    const unknown = await post('/prompt', { prompt: { '1': { class_type: 'NoSuchNode', inputs: {} } } });
    expect(unknown.body.error).toMatchObject({ type: 'missing_node_type', message: "Node 'NoSuchNode' not found. The custom node may not be installed." });
    const noOutput = await post('/prompt', { prompt: { '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'clarity.safetensors' } } } });
    expect(noOutput).toMatchObject({ status: 400, body: { error: { type: 'prompt_no_outputs', message: 'Prompt has no outputs' } } });
  });

  it('per-node errors: missing input, value range, list, link type, a link to no node', async () => {
    const graph = txt2imgGraph({ ckpt: 'nope.safetensors', steps: 0 });
    delete graph['4'].inputs.width;
    graph['6'].inputs.vae = ['2', 0];
    const { status, body } = await post('/prompt', { prompt: graph });
    expect(status).toBe(400);
    expect(body.error.type).toBe('prompt_outputs_failed_validation');
    expect(body.node_errors['1'].errors[0]).toMatchObject({ type: 'value_not_in_list', details: expect.stringContaining("ckpt_name: 'nope.safetensors' not in [") });
    expect(body.node_errors['4'].errors[0]).toMatchObject({ type: 'required_input_missing', details: 'width' });
    expect(body.node_errors['5'].errors[0]).toMatchObject({ type: 'value_smaller_than_min', message: 'Value 0 smaller than min of 1' });
    expect(body.node_errors['6'].errors[0]).toMatchObject({ type: 'return_type_mismatch', details: 'vae, received_type(CONDITIONING) mismatch input_type(VAE)' });
    expect(body.node_errors['6'].dependent_outputs).toEqual(['7']);
    const dangling = txt2imgGraph();
    dangling['6'].inputs.samples = ['42', 0];
    expect((await post('/prompt', { prompt: dangling })).body.node_errors['6'].errors[0].type).toBe('exception_during_inner_validation');
  });

  it('converts literals as Python does: "3" is an INT; a word is refused', async () => {
    const ok = await post('/prompt', { prompt: txt2imgGraph({ steps: '3' }) });
    expect(ok.status).toBe(200);
    const entry = await history(ok.body.prompt_id);
    expect(entry.prompt[2]['5'].inputs.steps).toBe(3);
    const bad = await post('/prompt', { prompt: txt2imgGraph({ steps: 'many' }) });
    expect(bad.body.node_errors['5'].errors[0]).toMatchObject({ type: 'invalid_input_type', message: 'Failed to convert an input value to a INT value' });
  });

  it("LoadImage checks its file itself: a missing one is custom_validation_failed, not value_not_in_list", async () => {
    const graph = { '1': { class_type: 'LoadImage', inputs: { image: 'missing.png' } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } };
    const { body } = await post('/prompt', { prompt: graph });
    expect(body.node_errors['1'].errors[0]).toMatchObject({ type: 'custom_validation_failed', details: 'image - Invalid image file: missing.png' });
  });

  it('queues the outputs that validate when another fails, listing the failed one in node_errors', async () => {
    const graph: Record<string, any> = { ...txt2imgGraph(), '8': { class_type: 'SaveImage', inputs: { images: ['99', 0], filename_prefix: 'x' } } };
    const { status, body } = await post('/prompt', { prompt: graph });
    expect(status).toBe(200);
    expect(Object.keys(body.node_errors)).toEqual(['8']);
    expect(Object.keys((await history(body.prompt_id)).outputs)).toEqual(['7']);
  });
});

describe('running a prompt', () => {
  it('sends ComfyUI websocket messages in order, keeps history, serves the image', async () => {
    const socket = new WebSocket(`${sandbox.url.replace('http', 'ws')}/ws?clientId=me`);
    const messages: any[] = [];
    socket.on('message', (data, binary) => messages.push(binary ? { binary: (data as Buffer).readUInt32BE(0) } : JSON.parse((data as Buffer).toString('utf8'))));
    await new Promise((resolve) => socket.once('open', resolve));
    const { body } = await post('/prompt', { prompt: txt2imgGraph({ steps: 8 }), client_id: 'me' });
    const entry = await history(body.prompt_id);
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.close();
    const types = messages.map((m) => m.type ?? 'preview');
    expect(messages[0]).toEqual({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'me' } });
    expect(types.indexOf('execution_start')).toBeLessThan(types.indexOf('execution_cached'));
    expect(messages.filter((m) => m.type === 'progress').map((m) => m.data.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(messages.filter((m) => m.binary === 1).length).toBeGreaterThan(0);
    expect(messages.find((m) => m.type === 'executed')?.data).toMatchObject({ node: '7', output: { images: [{ subfolder: '', type: 'output' }] } });
    expect(types.slice(-3)).toEqual(['execution_success', 'status', 'executing']);
    expect(messages.at(-1).data).toEqual({ node: null, prompt_id: body.prompt_id });
    expect(entry.status).toMatchObject({ status_str: 'success', completed: true });
    const file = entry.outputs['7'].images[0];
    const png = await fetch(`${sandbox.url}/view?filename=${file.filename}&type=output`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect((await png.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    expect((await fetch(`${sandbox.url}/view?filename=../etc/passwd`)).status).toBe(400);
  });

  it('caches unchanged nodes: the same checkpoint loads once; another one is a switch', async () => {
    const first = await post('/prompt', { prompt: txt2imgGraph({ seed: 1 }) });
    await history(first.body.prompt_id);
    const second = await post('/prompt', { prompt: txt2imgGraph({ seed: 2 }) });
    const cached = (await history(second.body.prompt_id)).status.messages.find((m: any) => m[0] === 'execution_cached')[1].nodes;
    expect(cached).toEqual(expect.arrayContaining(['1', '2', '3', '4']));
    expect(cached).not.toContain('5');
    expect(sandbox.stats().checkpointSwitches).toBe(1);
    await history((await post('/prompt', { prompt: txt2imgGraph({ ckpt: 'anything-v4.5-pruned.safetensors' }) })).body.prompt_id);
    expect(sandbox.stats()).toMatchObject({ checkpointSwitches: 2, loadedModel: 'anything-v4.5-pruned.safetensors', jobs: 3 });
  });

  it('uploads: same bytes keep the name, other bytes under the same name get "(1)"', async () => {
    const a = await picture(8, 8, { r: 1, g: 1, b: 1 });
    const b = await picture(8, 8, { r: 9, g: 9, b: 9 });
    const send = async (bytes: Buffer) => {
      const form = new FormData();
      form.append('image', new Blob([bytes]), 'x.png');
      return (await (await fetch(`${sandbox.url}/upload/image`, { method: 'POST', body: form })).json()) as any;
    };
    expect(await send(a)).toEqual({ name: 'x.png', subfolder: '', type: 'input' });
    expect((await send(a)).name).toBe('x.png');
    expect((await send(b)).name).toBe('x (1).png');
  });

  it('a failing node ends the prompt with execution_error in history', async () => {
    await post('/sandbox/faults', { failNext: 1 });
    const { body } = await post('/prompt', { prompt: txt2imgGraph() });
    const entry = await history(body.prompt_id);
    expect(entry.status).toMatchObject({ status_str: 'error', completed: false });
    const error = entry.status.messages.find((m: any) => m[0] === 'execution_error')[1];
    expect(error).toMatchObject({ node_id: '5', node_type: 'KSampler', exception_type: 'torch.OutOfMemoryError' });
  });
});

describe('interrupt and queue', () => {
  it('interrupts the running prompt by id, and deletes a waiting one from the queue', async () => {
    const slow = await startSandbox({ flavor: 'comfyui', speed: 1, itPerSecond: 20, switchSeconds: 0 });
    try {
      const send = async (body: unknown) =>
        (await (await fetch(`${slow.url}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
      const running = await send({ prompt: txt2imgGraph({ steps: 200 }) });
      const waiting = await send({ prompt: txt2imgGraph({ steps: 200, seed: 9 }) });
      const queue = (await (await fetch(`${slow.url}/queue`)).json()) as any;
      expect(queue.queue_pending.map((row: any[]) => row[1])).toContain(waiting.prompt_id);
      await fetch(`${slow.url}/queue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delete: [waiting.prompt_id] }) });
      await fetch(`${slow.url}/interrupt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt_id: 'another' }) });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(((await (await fetch(`${slow.url}/history/${running.prompt_id}`)).json()) as any)[running.prompt_id]).toBeUndefined();
      await fetch(`${slow.url}/interrupt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt_id: running.prompt_id }) });
      let entry: any;
      for (let i = 0; i < 200 && !entry; i++) {
        entry = ((await (await fetch(`${slow.url}/history/${running.prompt_id}`)).json()) as any)[running.prompt_id];
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(entry.status.status_str).toBe('error');
      expect(entry.status.messages.map((m: any[]) => m[0])).toContain('execution_interrupted');
      expect(((await (await fetch(`${slow.url}/queue`)).json()) as any).queue_pending).toEqual([]);
      expect(((await (await fetch(`${slow.url}/history/${waiting.prompt_id}`)).json()) as any)[waiting.prompt_id]).toBeUndefined();
    } finally {
      await slow.close();
    }
  });
});
