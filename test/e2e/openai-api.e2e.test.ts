/**
 * The OpenAI-compatible images API (`/v1`) with the official `openai` npm
 * package, unchanged, as the client: real gateway, node and sandbox processes.
 * Generations (base64 and URL), edits with and without a mask, variations, n
 * images spread over the nodes, models, and errors the SDK raises as its typed
 * errors.
 */
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../helpers/api-client.js';
import { type DanProcess, runDan, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const started: DanProcess[] = [];
const dir = tempDir();
let gateway: { proc: DanProcess; url: string };
const sandboxes: string[] = [];
let client: OpenAI;
let secret: string;

/** A PNG of `size`², one colour; with a transparent square in its top-left quarter when `hole` is set. */
async function png(size: number, hole = false): Promise<Buffer> {
  const image = sharp({ create: { width: size, height: size, channels: 4, background: { r: 200, g: 120, b: 40, alpha: 1 } } });
  if (!hole) return image.png().toBuffer();
  const clear = await sharp({ create: { width: size / 2, height: size / 2, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  return image.composite([{ input: clear, left: 0, top: 0, blend: 'source' }]).png().toBuffer();
}

/**
 * `call`, or, when it fails or takes over 20 s, an error carrying the gateway's latest task lines: a request
 * that hangs under a loaded machine (seen once in CI) then says what its tasks were doing.
 */
async function explained<T>(call: (options: { timeout: number }) => Promise<T>): Promise<T> {
  try {
    return await call({ timeout: 20_000 });
  } catch (error) {
    const recent = gateway.proc.lines.filter((l) => typeof l['task'] === 'string' || l.level >= 40).slice(-25);
    // What the scheduler thinks: each node's state and loaded model, and the queue.
    const nodes = await fetch(`${gateway.url}/api/nodes`).then((r) => r.json(), () => null);
    const queue = await fetch(`${gateway.url}/api/network`).then((r) => r.json(), () => null);
    const state = JSON.stringify({ nodes: (nodes as { data?: unknown } | null)?.data, queue: (queue as { data?: { queue?: unknown } } | null)?.data?.queue });
    throw new Error(`${(error as Error).message}; the gateway's latest lines:\n${recent.map((l) => JSON.stringify(l)).join('\n')}\nnodes and queue: ${state}`, { cause: error });
  }
}

/** DAN's sizes and fields are not in the SDK's TypeScript unions (the SDK sends what it is given): typed loosely here. */
const generate = (params: Record<string, unknown>) => client.images.generate(params as unknown as OpenAI.ImageGenerateParamsNonStreaming);

const sizeOf = async (b64: string) => {
  const { width, height, format } = await sharp(Buffer.from(b64, 'base64')).metadata();
  return `${format} ${width}x${height}`;
};

/** The requests the sandboxes received on `path`, bodies with their base64 shortened. */
async function received(path: string): Promise<Record<string, unknown>[]> {
  const all = await Promise.all(sandboxes.map(async (url) => (await getJson(`${url}/sandbox/requests`)).body.requests as { path: string; body: Record<string, unknown> }[]));
  return all.flat().filter((r) => r.path === path).map((r) => r.body);
}

beforeAll(async () => {
  gateway = await startGatewayProcess({ dataDir: dir.path, args: ['--openai-models', 'dall-e-3=clarity'] });
  started.push(gateway.proc);
  for (const name of ['gpu-1', 'gpu-2', 'gpu-3']) {
    const sandbox = await startSandboxProcess({ speed: 200 });
    started.push(sandbox.proc);
    sandboxes.push(sandbox.url);
    started.push((await startNodeProcess({ gateway: gateway.url, webui: sandbox.url, name })).proc);
  }
  // A key as an operator makes one.
  const made = await runDan(['keys', 'create', '--data', dir.path, '--name', 'openai-sdk', '--json']);
  secret = (JSON.parse(made.stdout) as { secret: string }).secret;
  client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  dir.remove();
});

describe('the openai SDK against /v1', () => {
  it('generates images as base64, the size asked, with DAN\'s own fields passed as extra body fields', async () => {
    const answer = await generate({ model: 'clarity', prompt: 'a lighthouse at dusk', size: '256x256', negative_prompt: 'blurry', seed: 42, steps: 6 });
    expect(answer.created).toBeGreaterThan(1_700_000_000);
    expect(answer.data).toHaveLength(1);
    expect(await sizeOf(answer.data![0]!.b64_json!)).toBe('png 256x256');
    const sent = (await received('/sdapi/v1/txt2img')).at(-1)!;
    expect(sent).toMatchObject({ prompt: 'a lighthouse at dusk', negative_prompt: 'blurry', seed: 42, steps: 6, width: 256, height: 256 });
  });

  it('runs n = 3 as three tasks spread over the nodes, seeds following the one given', async () => {
    const before = gateway.proc.lines.length;
    const answer = await generate({ model: 'clarity', prompt: 'three foxes', n: 3, size: '128x128', seed: 7, steps: 30 });
    expect(answer.data).toHaveLength(3);
    const succeeded = () => gateway.proc.lines.slice(before).filter((l) => l.msg === 'task succeeded');
    await expect.poll(() => succeeded().length).toBe(3);
    const done = succeeded();
    expect(new Set(done.map((l) => l['node'])).size).toBeGreaterThan(1);
    const seeds = (await received('/sdapi/v1/txt2img')).slice(-3).map((b) => b['seed']);
    expect(seeds.sort((a, b) => Number(a) - Number(b))).toEqual([7, 8, 9]);
  });

  it('streams a generation (stream: true) as OpenAI\'s events, the image in the last', async () => {
    const stream = await explained((options) => client.images.generate({ model: 'clarity', prompt: 'a streamed fox', size: '192x128', steps: 8, stream: true, partial_images: 1 } as unknown as OpenAI.ImageGenerateParamsStreaming, options));
    const events: OpenAI.ImageGenStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    // A preview comes only if the node polled one while the task ran (the sandbox here runs it in milliseconds).
    expect(events.length).toBeLessThanOrEqual(2);
    expect(events.filter((event) => event.type === 'image_generation.completed')).toHaveLength(1);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ type: 'image_generation.completed', size: '192x128', output_format: 'png' });
    expect(await sizeOf(last.b64_json)).toBe('png 192x128');
    for (const partial of events.slice(0, -1)) expect(partial).toMatchObject({ type: 'image_generation.partial_image', partial_image_index: 0 });
  });

  it('answers a URL that serves the image without a key for an hour, and refuses one altered', async () => {
    const answer = await generate({ model: 'dall-e-3', prompt: 'a red door', size: '128x128', response_format: 'url', steps: 4 });
    const url = answer.data![0]!.url!;
    expect(url.startsWith(`${gateway.url}/v1/images/files/`)).toBe(true);
    const image = await fetch(url);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(await sizeOf(Buffer.from(await image.arrayBuffer()).toString('base64'))).toBe('png 128x128');
    // One character of the signature changed (to another: a signature may start with any of them).
    const altered = await fetch(url.replace(/signature=(.)/, (_, first: string) => `signature=${first === 'Z' ? 'Y' : 'Z'}`));
    expect(altered.status).toBe(404);
    expect(((await altered.json()) as { error: { message: string } }).error.message).toMatch(/not one this network made/);
  });

  it('edits an image (img2img) and, with a mask, repaints its transparent pixels (inpainting, mask made DAN\'s)', async () => {
    const image = await toFile(await png(128), 'in.png', { type: 'image/png' });
    const plain = await explained((options) => client.images.edit({ image, prompt: 'make it blue', steps: 4 } as OpenAI.ImageEditParamsNonStreaming, options));
    expect(await sizeOf(plain.data![0]!.b64_json!)).toBe('png 128x128');
    const mask = await toFile(await png(128, true), 'mask.png', { type: 'image/png' });
    const again = await toFile(await png(128), 'in.png', { type: 'image/png' });
    const masked = await explained((options) => client.images.edit({ image: again, mask, prompt: 'a window', n: 2, steps: 4 } as OpenAI.ImageEditParamsNonStreaming, options));
    expect(masked.data).toHaveLength(2);
    // The requests of the three sandboxes, found by prompt: which node ran which is the scheduler's choice.
    const sent = await received('/sdapi/v1/img2img');
    expect(sent.filter((b) => b['prompt'] === 'make it blue').map((b) => 'mask' in b)).toEqual([false]);
    const inpainted = sent.filter((b) => b['prompt'] === 'a window');
    expect(inpainted).toHaveLength(2);
    // White is repainted in the WebUI's mask (inpainting_mask_invert 0): the mask the SDK sent was turned.
    for (const body of inpainted) expect(body).toMatchObject({ inpainting_mask_invert: 0, mask: expect.stringMatching(/^<base64 \d+ bytes>$/) });
  });

  it('makes variations of an image', async () => {
    const image = await toFile(await png(128), 'in.png', { type: 'image/png' });
    const answer = await explained((options) => client.images.createVariation({ image, n: 2, size: '256x256' }, options));
    expect(answer.data).toHaveLength(2);
    expect(await sizeOf(answer.data![1]!.b64_json!)).toBe('png 256x256');
    const variations = (await received('/sdapi/v1/img2img')).filter((b) => b['width'] === 256);
    expect(variations).toHaveLength(2);
    for (const body of variations) expect(body).toMatchObject({ denoising_strength: 0.6, height: 256 });
  });

  it('lists the checkpoints the network serves, and the names mapped to them', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['clarity', 'dall-e-3']));
    expect(await client.models.retrieve('dall-e-3')).toMatchObject({ id: 'dall-e-3', object: 'model' });
    const missing = await client.models.retrieve('no-such-model').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'DAN_ERR_MODEL_NOT_FOUND', param: 'model' });
  });

  it('raises the SDK\'s typed errors: BadRequestError naming the field, AuthenticationError for a key it does not know', async () => {
    const refused = await generate({ model: 'clarity', prompt: 'x', size: '100000x64' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({ status: 400, param: 'size', code: 'DAN_ERR_REQUEST_INVALID_FIELD' });
    const noMask = await client.images
      .edit({ image: await toFile(await png(64), 'in.png', { type: 'image/png' }), mask: await toFile(await png(64), 'mask.png', { type: 'image/png' }), prompt: 'x' })
      .catch((error: unknown) => error);
    expect(noMask).toBeInstanceOf(OpenAI.BadRequestError);
    expect(noMask).toMatchObject({ param: 'mask' });
    expect((noMask as Error).message).toMatch(/fully opaque/);
    const partialAlone = await generate({ model: 'clarity', prompt: 'x', partial_images: 2 }).catch((error: unknown) => error);
    expect(partialAlone).toMatchObject({ status: 400, param: 'partial_images' });
    const stranger = new OpenAI({ apiKey: 'sk-not-a-key-this-gateway-made', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await expect(stranger.images.generate({ prompt: 'x' })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
