/**
 * `stream: true` on the OpenAI door, read by the official `openai` SDK over a real socket (the app over the
 * fake-node core, whose node the test plays): partial images from the node's live previews, up to
 * `partial_images`; each image as its task ends; an error event the SDK raises as an `APIError`; a client that
 * hangs up leaving its task going on. The refusals are with the others in openai-routes.test.ts; with real
 * processes, test/e2e/openai-api.e2e.test.ts.
 */
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { AssignMessage, GatewayMessage } from '../../src/protocol/messages.js';
import { MINUTE } from '../../src/util/clock.js';
import type { FakeNode } from '../helpers/fake-nodes.js';
import { capturingLogger, createListeningApp, type InjectApp, type InjectAppOptions } from '../helpers/inject-app.js';

let api: InjectApp | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function listening(options: InjectAppOptions = {}) {
  const { logger, lines } = capturingLogger();
  const listened = await createListeningApp({ logger, ...options });
  api = listened.app;
  // The gateway's public key counts as no key: the SDK wants one.
  const client = new OpenAI({ apiKey: listened.app.publicApiKey, baseURL: `${listened.url}/v1`, maxRetries: 0 });
  return { ...listened, client, lines };
}

/** The `index`-th task the node is sent, received or to come. */
function nthAssign(node: FakeNode, index: number): Promise<AssignMessage> {
  let seen = -1;
  return node.next((m: GatewayMessage): m is AssignMessage => m.type === 'assign' && ++seen === index);
}

/** Reads `stream` to its end in the background: the events so far, and its end (a thrown error rejects it). */
function reading<T>(stream: AsyncIterable<T>) {
  const events: T[] = [];
  const done = (async () => {
    for await (const event of stream) events.push(event);
  })();
  // Handled here too: a stream that fails before the test awaits it is no unhandled rejection.
  done.catch(() => undefined);
  return { events, done };
}

const imageOf = async (b64: string) => {
  const { width, height, format } = await sharp(Buffer.from(b64, 'base64')).metadata();
  return `${format} ${width}x${height}`;
};

// DAN's sizes and fields are not in the SDK's TypeScript unions (the SDK sends what it is given): the
// parameters below are cast.
describe('a streamed generation (stream: true)', () => {
  it('sends the node\'s previews as partial images, spread over the run, no more than partial_images, then the image', async () => {
    const { node, client, app } = await listening();
    const stream = await client.images.generate({ model: 'clarity', prompt: 'a boat', size: '768x512', quality: 'hd', stream: true, partial_images: 2 } as unknown as OpenAI.ImageGenerateParamsStreaming);
    const read = reading(stream);
    const { taskId } = await nthAssign(node, 0);
    const preview = async (background: string, format: 'png' | 'jpeg') => (await sharp({ create: { width: 96, height: 64, channels: 3, background } })[format]().toBuffer()).toString('base64');
    const [noise, early, late, last] = [await preview('gray', 'png'), await preview('teal', 'jpeg'), await preview('navy', 'png'), await preview('red', 'png')];
    // Two partial images: past a third of the run, and past two thirds. The first preview, at a fifth, is noise.
    node.progress(taskId, 0.2, 8, noise);
    node.progress(taskId, 0.4, 6, early);
    await expect.poll(() => read.events.length).toBe(1);
    node.progress(taskId, 0.5, 5);
    node.progress(taskId, 0.6, 4, early);
    node.progress(taskId, 0.7, 3, late);
    await expect.poll(() => read.events.length).toBe(2);
    // Two were asked for.
    node.progress(taskId, 0.9, 1, last);
    await app.world.settle();
    node.succeed(taskId);
    await read.done;
    expect(read.events.map((e) => [e.type, 'partial_image_index' in e ? e.partial_image_index : null, e.output_format])).toEqual([
      ['image_generation.partial_image', 0, 'jpeg'],
      ['image_generation.partial_image', 1, 'png'],
      ['image_generation.completed', null, 'png'],
    ]);
    expect(read.events.map((e) => e.b64_json)).toEqual([early, late, expect.any(String)]);
    expect(await imageOf(read.events[2]!.b64_json)).toBe('png 768x512');
    // `hd` as OpenAI's current models say it.
    for (const event of read.events) expect(event).toMatchObject({ size: '768x512', quality: 'high', background: 'auto', created_at: expect.any(Number) });
    expect(read.events[2]).toMatchObject({ usage: { total_tokens: 0 } });
  });

  it('keeps a quiet stream alive with comment lines', async () => {
    const { node, url, app } = await listening({ openaiStreamHeartbeatMs: 20 });
    const answer = await fetch(`${url}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${app.publicApiKey}` },
      body: JSON.stringify({ model: 'clarity', prompt: 'quiet', stream: true }),
    });
    expect(answer.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const { taskId } = await nthAssign(node, 0);
    expect(answer.headers.get('x-task-id')).toBe(taskId);
    const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes(': keep-alive\n\n')) text += (await reader.read()).value ?? '';
    node.succeed(taskId);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value;
    expect(text).toMatch(/event: image_generation\.completed\ndata: \{"type":"image_generation\.completed","b64_json":"iVBOR/);
  });

  it('sends n images as n completed events, each as its task ends, and no partial image unless asked', async () => {
    const { node, client, app } = await listening();
    const other = app.world.connect('node-1');
    const stream = await client.images.generate({ model: 'clarity', prompt: 'two boats', n: 2, seed: 7, size: '256x256', stream: true } as unknown as OpenAI.ImageGenerateParamsStreaming);
    const read = reading(stream);
    // One task on each node, side by side (the plan may hold the second a moment for the node it knows).
    const first = await nthAssign(node, 0);
    await app.world.clock.advance(10_000);
    const second = await nthAssign(other, 0);
    expect([first.spec, second.spec].map((spec) => (spec as { seed: number }).seed).sort((a, b) => a - b)).toEqual([7, 8]);
    node.progress(first.taskId, 0.8, 1, (await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).png().toBuffer()).toString('base64'));
    // The task that ends first is streamed first, while the other still runs.
    other.succeed(second.taskId);
    await expect.poll(() => read.events.length).toBe(1);
    node.succeed(first.taskId);
    await read.done;
    expect(read.events.map((e) => e.type)).toEqual(['image_generation.completed', 'image_generation.completed']);
    for (const event of read.events) expect(await imageOf(event.b64_json)).toBe('png 256x256');
  });

  it('ends with an error event when the gateway stops, telling a request with an Idempotency-Key to come back with it', async () => {
    const { node, client, app } = await listening();
    const stream = await client.images.generate({ model: 'clarity', prompt: 'stopped', stream: true } as unknown as OpenAI.ImageGenerateParamsStreaming, { headers: { 'Idempotency-Key': 'stream-stop-1' } });
    const read = reading(stream);
    const { taskId } = await nthAssign(node, 0);
    await app.world.dispatcher.close();
    const error = await read.done.then(() => null, (thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DAN_ERR_GATEWAY_STOPPING', message: expect.stringMatching(new RegExp(`${taskId}.*same Idempotency-Key`)) });
  });

  it('ends with an error event the SDK raises, naming the node\'s reason, when a task fails', async () => {
    const { node, client } = await listening({ world: { maxAttempts: 1 } });
    const stream = await client.images.generate({ model: 'clarity', prompt: 'a boat', stream: true } as unknown as OpenAI.ImageGenerateParamsStreaming);
    const read = reading(stream);
    const { taskId } = await nthAssign(node, 0);
    node.fail(taskId, 'DAN_ERR_BACKEND_REJECTED', 'WebUI 422: lora not found');
    const error = await read.done.then(() => null, (thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ message: expect.stringContaining('lora not found'), code: expect.stringMatching(/^DAN_ERR_/) });
    expect(read.events).toEqual([]);
  });

  it('ends with an error event after the sync timeout, naming the task, which goes on', async () => {
    const { node, client, app } = await listening({ syncTimeoutMs: MINUTE });
    const stream = await client.images.generate({ model: 'clarity', prompt: 'slow', stream: true } as unknown as OpenAI.ImageGenerateParamsStreaming);
    const read = reading(stream);
    const { taskId } = await nthAssign(node, 0);
    await app.world.clock.advance(MINUTE);
    const error = await read.done.then(() => null, (thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DAN_ERR_WAIT_TIMEOUT', message: expect.stringContaining(taskId) });
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
  });

  it('answers a retry with the same Idempotency-Key from the same task, run once', async () => {
    const { node, client } = await listening();
    const params = { model: 'clarity', prompt: 'once', stream: true } as unknown as OpenAI.ImageGenerateParamsStreaming;
    const first = reading(await client.images.generate(params, { headers: { 'Idempotency-Key': 'stream-once' } }));
    const { taskId } = await nthAssign(node, 0);
    node.succeed(taskId);
    await first.done;
    const again = await client.images.generate(params, { headers: { 'Idempotency-Key': 'stream-once' } }).withResponse();
    expect(again.response.headers.get('x-task-id')).toBe(taskId);
    expect(again.response.headers.get('idempotent-replayed')).toBe('true');
    const second = reading(again.data);
    await second.done;
    expect(second.events.map((e) => [e.type, e.b64_json])).toEqual(first.events.map((e) => [e.type, e.b64_json]));
    expect(node.assignments()).toHaveLength(1);
  });

  it('leaves the task going on when the client hangs up', async () => {
    const { node, client, app, lines } = await listening();
    const stream = await client.images.generate({ model: 'clarity', prompt: 'left', stream: true, partial_images: 1 } as unknown as OpenAI.ImageGenerateParamsStreaming);
    const read = reading(stream);
    const { taskId } = await nthAssign(node, 0);
    stream.controller.abort();
    await read.done.catch(() => undefined);
    await expect.poll(() => lines.some((l) => l['msg'] === 'client left before its tasks were done; they go on')).toBe(true);
    // No preview is kept for it any more, nor sent anywhere: the stream's watch ended with it.
    node.progress(taskId, 0.5, 1, (await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).png().toBuffer()).toString('base64'));
    await app.world.settle();
    expect(app.world.service.previewOf(taskId)).toBeUndefined();
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
    node.succeed(taskId);
    await app.world.settle();
    expect((await app.get(`/api/sd/task/${taskId}`)).body.data).toMatchObject({ status: 2 });
  });
});

describe('a streamed edit', () => {
  it('sends image_edit events, the size of the image given', async () => {
    const { node, client } = await listening();
    const image = await toFile(await sharp({ create: { width: 256, height: 192, channels: 3, background: 'orange' } }).png().toBuffer(), 'in.png', { type: 'image/png' });
    const stream = await client.images.edit({ model: 'clarity', image, prompt: 'make it blue', stream: true } as unknown as OpenAI.ImageEditParamsStreaming);
    const read = reading(stream);
    const { taskId, spec } = await nthAssign(node, 0);
    expect(spec).toMatchObject({ kind: 'img2img', width: 256, height: 192 });
    node.succeed(taskId);
    await read.done;
    expect(read.events).toEqual([expect.objectContaining({ type: 'image_edit.completed', size: '256x192', output_format: 'png' })]);
  });

  it('is refused before anything runs when a field is wrong, as without stream; variations are not streamed', async () => {
    const { client, app } = await listening();
    const refused = await client.images.generate({ model: 'clarity', prompt: 'x', size: 'big', stream: true } as unknown as OpenAI.ImageGenerateParamsStreaming).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({ param: 'size' });
    const image = await toFile(await sharp({ create: { width: 64, height: 64, channels: 3, background: 'orange' } }).png().toBuffer(), 'in.png', { type: 'image/png' });
    const variation = await client.images.createVariation({ image, stream: true } as unknown as OpenAI.ImageCreateVariationParams).catch((error: unknown) => error);
    expect(variation).toBeInstanceOf(OpenAI.BadRequestError);
    expect(variation).toMatchObject({ param: 'stream', message: expect.stringContaining('not streamed') });
    const partials = await client.images.createVariation({ image, partial_images: 2 } as unknown as OpenAI.ImageCreateVariationParams).catch((error: unknown) => error);
    expect(partials).toMatchObject({ param: 'partial_images', message: expect.stringContaining('not streamed') });
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });
});
