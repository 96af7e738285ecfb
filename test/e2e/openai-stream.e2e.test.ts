/**
 * A streamed generation (`stream: true`, `partial_images`) through real gateway, node and sandbox processes,
 * read by the official `openai` SDK: the partial image is a live preview the sandbox made, polled by the
 * node's A1111 driver and relayed with the progress it was made at. The stream's rules, with a node the
 * test plays: test/api/openai-stream.test.ts.
 */
import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const started: DanProcess[] = [];
const dir = tempDir();
let client: OpenAI;

beforeAll(async () => {
  const gateway = await startGatewayProcess({ dataDir: dir.path });
  started.push(gateway.proc);
  // Real time, 10 steps a second at 512²: a task of 100 steps runs 10 s, and the node asks for a preview every 2 s (so some come past the half, even on a loaded machine).
  const sandbox = await startSandboxProcess({ speed: 1, args: ['--it-per-second', '10'] });
  started.push(sandbox.proc);
  started.push((await startNodeProcess({ gateway: gateway.url, webui: sandbox.url, name: 'gpu-stream' })).proc);
  const publicKey = (await (await fetch(`${gateway.url}/api/user/public-api-key`)).json()) as { data: { apiKey: string } };
  client = new OpenAI({ apiKey: publicKey.data.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  dir.remove();
});

describe('a streamed generation with the openai SDK', () => {
  it('sends a live preview made past half the run as its partial image, then the image', async () => {
    const stream = await client.images.generate({ model: 'clarity', prompt: 'a fox, slowly', size: '512x512', steps: 100, stream: true, partial_images: 1 } as unknown as OpenAI.ImageGenerateParamsStreaming);
    const events: OpenAI.ImageGenStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual(['image_generation.partial_image', 'image_generation.completed']);
    const [partial, completed] = events as [OpenAI.ImageGenPartialImageEvent, OpenAI.ImageGenCompletedEvent];
    expect(partial).toMatchObject({ partial_image_index: 0, output_format: 'png', size: '512x512' });
    // The sandbox's previews are grey squares, lighter as the run goes on: this one from past the half.
    const { width, format } = await sharp(Buffer.from(partial.b64_json, 'base64')).metadata();
    expect(`${format} ${width}`).toBe('png 64');
    const [level] = (await sharp(Buffer.from(partial.b64_json, 'base64')).stats()).channels.map((c) => c.mean);
    expect(level).toBeGreaterThanOrEqual(40 + 5 * 20);
    const image = await sharp(Buffer.from(completed.b64_json, 'base64')).metadata();
    expect(`${image.format} ${image.width}x${image.height}`).toBe('png 512x512');
  }, 60_000);
});
