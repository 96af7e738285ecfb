/**
 * The OpenAI-compatible images API through the real app with `inject`: what a
 * request becomes (the spec a node is sent), its errors in OpenAI's shape with
 * the retry advice the SDK reads, Idempotency-Key, the wait's end, and the mask
 * turned from OpenAI's meaning into DAN's. With the official SDK and real
 * processes: test/e2e/openai-api.e2e.test.ts.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { danMaskOf } from '../../src/api/openai/openai-requests.js';
import { MINUTE } from '../../src/util/clock.js';
import { useAnsweringApp } from '../helpers/answering-node.js';
import { txt2img } from '../helpers/specs.js';
import { requestHashOf } from '../../src/api/idempotency.js';
import { defaultKeyLimits } from '../../src/auth/api-key.js';
import { makeCapabilities } from '../helpers/capabilities.js';

const door = useAnsweringApp();
const start = (options?: Parameters<typeof door.start>[0]) => door.start(options);
const answerAll = (count: number) => door.answer(count);
const node = () => door.node();

const generations = '/v1/images/generations';

describe('POST /v1/images/generations', () => {
  it('sends the node a txt2img spec: size as width and height, quality as steps, DAN\'s own fields as given', async () => {
    const app = await start();
    const answering = app.post(generations, { model: 'clarity', prompt: 'a boat', size: '768x512', quality: 'hd', negative_prompt: 'fog', cfg_scale: 5, style: 'natural', user: 'u-1' });
    await answerAll(1);
    const answer = await answering;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ created: expect.any(Number), data: [{ b64_json: expect.stringMatching(/^iVBORw0KGgo/) }] });
    expect(node().assignments()[0]!.spec).toMatchObject({ kind: 'txt2img', prompt: 'a boat', negativePrompt: 'fog', width: 768, height: 512, steps: 40, cfgScale: 5 });
  });

  it('without a size, makes the model family\'s native one: 512² for SD 1.5, 1024² for an SDXL model', async () => {
    const app = await start();
    const sdxl = { title: 'sd_xl_base_1.0.safetensors', name: 'sd_xl_base_1.0', fileName: 'sd_xl_base_1.0.safetensors', sha256: null, family: 'sdxl' as const };
    const xlNode = app.world.connect('xl-node', makeCapabilities({ models: [sdxl] }));
    const plain = app.post(generations, { model: 'clarity', prompt: 'a boat' });
    await answerAll(1);
    expect((await plain).status).toBe(200);
    expect(node().assignments()[0]!.spec).toMatchObject({ width: 512, height: 512 });
    const xl = app.post(generations, { model: 'sd_xl_base_1.0', prompt: 'a boat' });
    await expect.poll(() => xlNode.assignments().length).toBe(1);
    expect(xlNode.assignments()[0]!.spec).toMatchObject({ width: 1024, height: 1024 });
    xlNode.succeed(xlNode.assignments()[0]!.taskId);
    expect((await xl).status).toBe(200);
  });

  it('quality is a share of the model family\'s default steps: high is 40 for SD 1.5, 16 for Z-Image-Turbo; low 15 and 6', async () => {
    const app = await start();
    const turbo = { title: 'z_image_turbo_bf16.safetensors', name: 'z_image_turbo_bf16', fileName: 'z_image_turbo_bf16.safetensors', sha256: null, family: 'z-image-turbo' as const };
    const turboNode = app.world.connect('turbo-node', makeCapabilities({ backend: { kind: 'comfyui', version: null }, models: [turbo] }));
    const sd = app.post(generations, { model: 'clarity', prompt: 'a boat', quality: 'high' });
    await answerAll(1);
    expect((await sd).status).toBe(200);
    expect(node().assignments()[0]!.spec).toMatchObject({ steps: 40 });
    for (const [quality, steps] of [['high', 16], ['low', 6]] as const) {
      const asked = app.post(generations, { model: 'z_image_turbo_bf16', prompt: 'a boat', quality });
      await expect.poll(() => turboNode.assignments().length).toBe(quality === 'high' ? 1 : 2);
      const sent = turboNode.assignments().at(-1)!;
      expect(sent.spec).toMatchObject({ steps, width: 1024, height: 1024 });
      turboNode.succeed(sent.taskId);
      expect((await asked).status).toBe(200);
    }
  });

  it('takes the operator\'s alias of a model, and without a model the first checkpoint a node serves', async () => {
    const app = await start({ openaiModels: { 'dall-e-3': 'anything-v4.5-pruned' } });
    const aliased = app.post(generations, { model: 'DALL-E-3', prompt: 'x' });
    await answerAll(1);
    expect((await aliased).status).toBe(200);
    const unnamed = app.post(generations, { prompt: 'y' });
    await answerAll(1);
    expect((await unnamed).status).toBe(200);
    const [first, second] = node().assignments().map((a) => (a.spec as { model: { name: string } }).model.name);
    expect(first).toBe('anything-v4.5-pruned');
    expect(second).toBe('chillout_mix');
  });

  it('answers errors in OpenAI\'s shape, naming the field, and tells the SDK not to retry what would run again', async () => {
    const app = await start();
    const cases: [unknown, string | null, RegExp][] = [
      [{ prompt: 'x', n: 11 }, 'n', /from 1 to 10/],
      [{ prompt: 'x', size: 'big' }, 'size', /WIDTHxHEIGHT/],
      [{ prompt: 'x', size: '8000x512' }, 'size', /width/],
      [{ prompt: '' }, 'prompt', /is required/],
      [{ prompt: ['a', 'b'] }, 'prompt', /must be a string \(a text description of the image\), got an array/],
      [{ prompt: 7 }, 'prompt', /must be a string .*got number/],
      [{ prompt: 'x', response_format: 'bytes' }, 'response_format', /b64_json/],
      [{ prompt: 'x', output_format: 'webp' }, 'output_format', /png/],
      [{ prompt: 'x', stream: 'yes' }, 'stream', /must be a boolean/],
      [{ prompt: 'x', partial_images: 2 }, 'partial_images', /send "stream": true too/],
      [{ prompt: 'x', stream: true, partial_images: 4 }, 'partial_images', /from 0 to 3/],
      [{ prompt: 'x', stream: true, partial_images: 1.5 }, 'partial_images', /from 0 to 3/],
      [{ prompt: 'x', stream: true, response_format: 'url' }, 'response_format', /streamed answer carries its images as b64_json/],
      [{ prompt: 'x', stream: true, n: 2, partial_images: 1 }, 'partial_images', /asks for 2/],
      [{ prompt: 'x', model: 'no-such-model' }, 'model', /no-such-model/],
      // Both doors' fields are named as accepted.
      [{ prompt: 'x', colour: 'red' }, 'colour', /colour: unknown field.*accepted fields: .*negative_prompt.*; and OpenAI's: model, n, size, response_format, quality/],
    ];
    for (const [body, param, message] of cases) {
      const answer = await app.post(generations, body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body).toMatchObject({ error: { type: 'invalid_request_error', param, message: expect.stringMatching(message) } });
      expect(answer.headers['x-should-retry']).toBe('false');
    }
    const broken = await app.post(generations, '{"prompt": ');
    expect(broken.body).toMatchObject({ error: { type: 'invalid_request_error', code: 'DAN_ERR_REQUEST_INVALID_JSON', param: null } });
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });

  it('answers what no route of /v1 answers in OpenAI\'s shape too (an SDK call the gateway does not have)', async () => {
    const app = await start();
    const chat = await app.post('/v1/chat/completions', { model: 'x', messages: [] });
    expect(chat.status).toBe(404);
    expect(chat.body).toMatchObject({ error: { type: 'not_found_error', code: 'DAN_ERR_ROUTE_NOT_FOUND' } });
    const wrongMethod = await app.get('/v1/images/generations');
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: { code: 'DAN_ERR_METHOD_NOT_ALLOWED' } } });
    expect((await app.get(`/v1/images/files/${'x'.repeat(200)}/0`)).body).toMatchObject({ error: { param: 'path' } });
    expect((await app.get('/sdapi/v1/memory')).body).toMatchObject({ error: 'DAN_ERR_ROUTE_NOT_FOUND', detail: expect.stringContaining('/sdapi/v1/memory') });
  });

  it('wants a key where the gateway does (AuthenticationError), and lets the SDK retry a rate limit', async () => {
    const app = await start({ auth: 'required' });
    const none = await app.post(generations, { prompt: 'x' });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { type: 'authentication_error', code: 'DAN_ERR_AUTH_KEY_REQUIRED' } });
    const { secret } = await app.keys.create({ name: 'slow', requestsPerMinute: 1 });
    const auth = { authorization: `Bearer ${secret}` };
    expect((await app.get('/v1/models', auth)).status).toBe(200);
    const limited = await app.get('/v1/models', auth);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(limited.headers['x-should-retry']).toBeUndefined();
  });

  it('runs a retried request once: the same Idempotency-Key answers with the same tasks\' images', async () => {
    const app = await start();
    const body = { model: 'clarity', prompt: 'once', n: 2 };
    const first = app.post(generations, body, { 'idempotency-key': 'gen-1' });
    await answerAll(2);
    const answered = await first;
    expect(answered.status).toBe(200);
    const again = await app.post(generations, body, { 'idempotency-key': 'gen-1' });
    expect(again.status).toBe(200);
    expect(again.headers['x-task-id']).toBe(answered.headers['x-task-id']);
    expect((again.body as { data: unknown }).data).toEqual((answered.body as { data: unknown }).data);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(answered.headers['idempotent-replayed']).toBeUndefined();
    expect(node().assignments()).toHaveLength(2);
    // Another request under the same key, for one image: refused, naming the key as sent.
    const other = await app.post(generations, { model: 'clarity', prompt: 'twice' }, { 'idempotency-key': 'gen-1' });
    expect(other.body).toMatchObject({ error: { code: 'DAN_ERR_IDEMPOTENCY_MISMATCH', message: expect.stringMatching(/^Idempotency-Key "gen-1" was used/) } });
    expect(node().assignments()).toHaveLength(2);
  });

  it('refuses an Idempotency-Key reused through another door, whichever came first: no second task runs', async () => {
    const app = await start();
    const native = await app.post('/api/sd/txt2img/async', { prompt: 'native', model: 'clarity' }, { 'idempotency-key': 'cross-1' });
    expect(native.status).toBe(200);
    const taskId = (native.body as { data: { taskId: string } }).data.taskId;
    for (const [url, body] of [[generations, { model: 'clarity', prompt: 'native' }], ['/sdapi/v1/txt2img', { prompt: 'native' }]] as const) {
      const reused = await app.post(url, body, { 'idempotency-key': 'cross-1' });
      expect(reused.status).toBe(422);
      expect(JSON.stringify(reused.body)).toContain(taskId);
    }
    // A door's request first, then a native submit under its key.
    const first = app.post(generations, { model: 'clarity', prompt: 'door', n: 2 }, { 'idempotency-key': 'cross-2' });
    await answerAll(3);
    expect((await first).status).toBe(200);
    const again = await app.post('/api/sd/txt2img/async', { prompt: 'door', model: 'clarity' }, { 'idempotency-key': 'cross-2' });
    expect(again.status).toBe(422);
    expect(node().assignments()).toHaveLength(3);
  });

  it('replays a request a version before stored under `key#0` for its first image, retried with the same key', async () => {
    const app = await start();
    const body = { model: 'clarity', prompt: 'stored before the upgrade' };
    // As the version before wrote it: the first image's task under `key#0`.
    const legacy = await app.world.service.enqueue({
      spec: txt2img(),
      caller: { key: null, owner: 'anon:127.0.0.1', limits: { ...defaultKeyLimits, maxTasks: 0, requestsPerMinute: 0 } },
      idempotency: { key: 'legacy-1#0', bodyHash: requestHashOf(generations, body) },
    });
    const retried = app.post(generations, body, { 'idempotency-key': 'legacy-1' });
    await answerAll(1);
    const answer = await retried;
    expect(answer.status).toBe(200);
    expect(answer.headers['x-task-id']).toBe(legacy.taskId);
    expect(answer.headers['idempotent-replayed']).toBe('true');
    expect(node().assignments()).toHaveLength(1);
  });

  it('answers a wait the gateway\'s stop ends with a 503 the SDK retries, naming the tasks, not the wait\'s timeout', async () => {
    const app = await start({ syncTimeoutMs: MINUTE });
    const waiting = app.post(generations, { model: 'clarity', prompt: 'stopped' }, { 'idempotency-key': 'stop-1' });
    await expect.poll(() => node().assignments().length).toBe(1);
    await app.world.dispatcher.close();
    const answer = await waiting;
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    const taskId = node().assignments()[0]!.taskId;
    expect(answer.body).toMatchObject({ error: { code: 'DAN_ERR_GATEWAY_STOPPING', message: expect.stringContaining(taskId) } });
  });

  it('ends the wait after the sync timeout with a 504 naming the tasks, which go on', async () => {
    const app = await start({ syncTimeoutMs: MINUTE });
    const waiting = app.post(generations, { model: 'clarity', prompt: 'slow' });
    await expect.poll(() => node().assignments().length).toBe(1);
    await app.world.clock.advance(MINUTE);
    const answer = await waiting;
    expect(answer.status).toBe(504);
    const taskId = node().assignments()[0]!.taskId;
    expect(answer.body).toMatchObject({ error: { code: 'DAN_ERR_WAIT_TIMEOUT', message: expect.stringContaining(taskId) } });
    expect(app.world.service.load()).toEqual({ queued: 0, running: 1 });
  });
});

/** A multipart/form-data body: text fields, and files as PNG parts. */
function form(parts: [string, string | Buffer][]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----dan-test-boundary';
  const chunks = parts.flatMap(([name, value]) =>
    typeof value === 'string'
      ? [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)]
      : [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.png"\r\nContent-Type: image/png\r\n\r\n`), value, Buffer.from('\r\n')],
  );
  return { payload: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

describe('POST /v1/images/edits', () => {
  it('refuses a form larger than the body limit (413), and a second image rather than dropping it', async () => {
    const app = await start({ bodyLimitBytes: 256 * 1024 });
    const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'red' } }).png().toBuffer();
    const big = form([['image', Buffer.alloc(300 * 1024, 1)], ['prompt', 'x']]);
    const tooLarge = await app.send({ method: 'POST', url: '/v1/images/edits', ...big });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ error: { code: 'DAN_ERR_REQUEST_TOO_LARGE' } });
    const two = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image[]', image], ['image[]', image], ['prompt', 'x']]) });
    expect(two.status).toBe(400);
    expect(two.body).toMatchObject({ error: { param: 'image', message: expect.stringMatching(/one image per request, got 2/) } });
    const notImage = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', Buffer.from('GIF89a not really')], ['prompt', 'x']]) });
    expect(notImage.body).toMatchObject({ error: { param: 'image', message: expect.stringMatching(/GIF/) } });
    // A text field larger than a form's may be is named as such, not cut and then measured ("got 65536").
    const long = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', image], ['prompt', 'p'.repeat(70_000)]]) });
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ error: { param: 'prompt', message: expect.stringMatching(/larger than a form's text field may be \(64 KiB\)/) } });
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });
});

describe('edits with an edit model (FLUX.1 Kontext)', () => {
  it('edit the whole image as the prompt says, at the image\'s size in 16-pixel cells; a mask is refused with its reason', async () => {
    const app = await start();
    const kontext = { title: 'flux1-dev-kontext_fp8_scaled.safetensors', name: 'flux1-dev-kontext_fp8_scaled', fileName: 'flux1-dev-kontext_fp8_scaled.safetensors', sha256: null, family: 'flux-kontext' as const };
    const comfy = app.world.connect('comfy', makeCapabilities({ backend: { kind: 'comfyui', version: null }, models: [kontext], schedulers: ['Automatic', 'Simple'] }));
    const image = await sharp({ create: { width: 200, height: 120, channels: 3, background: 'red' } }).png().toBuffer();
    const answering = app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', image], ['prompt', 'make it night'], ['model', kontext.name]]) });
    await expect.poll(() => comfy.assignments().length).toBe(1);
    // No size asked for: the edit size nearest the image's aspect (5:3 → 1248 × 832), not the small image's own.
    expect(comfy.assignments()[0]!.spec).toMatchObject({ kind: 'img2img', denoisingStrength: 1, guidance: 2.5, cfgScale: 1, width: 1248, height: 832, inpaint: null });
    comfy.succeed(comfy.assignments()[0]!.taskId);
    expect((await answering).status).toBe(200);
    const mask = await sharp({ create: { width: 200, height: 120, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const masked = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', image], ['mask', mask], ['prompt', 'x'], ['model', kontext.name]]) });
    expect(masked.status).toBe(400);
    expect(masked.body).toMatchObject({ error: { message: expect.stringMatching(/no mask/) } });
  });
});

describe('n images', () => {
  it('are all or none: a request the task budget cannot hold whole stores nothing', async () => {
    const app = await start({ anonymous: { maxTasks: 2 } });
    const answer = await app.post(generations, { model: 'clarity', prompt: 'x', n: 3 });
    expect(answer.status).toBe(429);
    expect(answer.body).toMatchObject({ error: { type: 'rate_limit_error', code: 'DAN_ERR_TASK_LIMIT', message: expect.stringMatching(/3 images/) } });
    expect(answer.headers['retry-after']).toBe('5');
    expect(app.world.service.load()).toEqual({ queued: 0, running: 0 });
  });
});

describe('OpenAI masks', () => {
  it('become DAN masks: transparent pixels white (repainted), opaque ones black (kept)', async () => {
    const size = 16;
    const pixels = Buffer.alloc(size * size * 4, 255);
    // The left half transparent.
    for (let y = 0; y < size; y++) for (let x = 0; x < size / 2; x++) pixels[(y * size + x) * 4 + 3] = 0;
    const mask = await sharp(pixels, { raw: { width: size, height: size, channels: 4 } }).png().toBuffer();
    const { data, info } = await sharp(Buffer.from(await danMaskOf(mask, { maxInputSide: 4096, maxSide: 2048 }, { width: size, height: size }), 'base64')).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[(y * size + x) * info.channels];
    expect([at(0, 0), at(size / 2 - 1, 3), at(size / 2, 3), at(size - 1, size - 1)]).toEqual([255, 255, 0, 0]);
  });

  it('take DAN\'s inpainting fields with the mask, and its numeric fields as numbers, in a multipart form', async () => {
    const app = await start();
    const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'red' } }).png().toBuffer();
    const mask = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const fields: [string, string | Buffer][] = [['image', image], ['mask', mask], ['prompt', 'x'], ['mask_blur', '8'], ['inpaint_area', '1'], ['resize_mode', '1']];
    const answering = app.send({ method: 'POST', url: '/v1/images/edits', ...form(fields) });
    await expect.poll(() => node().assignments().length).toBe(1);
    expect(node().assignments()[0]!.spec).toMatchObject({ kind: 'img2img', resizeMode: 'crop_and_resize', inpaint: { maskBlur: 8, area: 'masked_only' } });
    node().succeed(node().assignments()[0]!.taskId);
    expect((await answering).status).toBe(200);
    // Without a mask they have nothing to apply to.
    const alone = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', image], ['prompt', 'x'], ['mask_blur', '8']]) });
    expect(alone.body).toMatchObject({ error: { param: 'mask_blur', message: expect.stringMatching(/applies to a mask/) } });
    // Without a mask, an image with transparent pixels is its own mask, as in OpenAI's API.
    const rgba = Buffer.alloc(64 * 64 * 4);
    for (let i = 0; i < 64 * 64; i++) rgba.set([255, 0, 0, i % 64 < 16 && i < 16 * 64 ? 0 : 255], i * 4);
    const holed = await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } }).png().toBuffer();
    const own = app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', holed], ['prompt', 'x'], ['mask_blur', '2']]) });
    await expect.poll(() => node().assignments().length).toBe(2);
    const ownSpec = node().assignments()[1]!.spec;
    expect(ownSpec).toMatchObject({ kind: 'img2img', inpaint: { maskBlur: 2 } });
    const ownMask = ownSpec.kind === 'img2img' ? ownSpec.inpaint!.mask : '';
    const { data: maskPixels, info: maskInfo } = await sharp(Buffer.from(ownMask, 'base64')).raw().toBuffer({ resolveWithObject: true });
    // The transparent corner repainted (white), the rest kept (black).
    expect([maskPixels[0], maskPixels[(63 * 64 + 63) * maskInfo.channels]]).toEqual([255, 0]);
    node().succeed(node().assignments()[1]!.taskId);
    expect((await own).status).toBe(200);
    // A mask of another size than its image, as OpenAI's API: refused, not stretched.
    const wide = await sharp({ create: { width: 96, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const mismatched = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', image], ['mask', wide], ['prompt', 'x']]) });
    expect(mismatched.status).toBe(400);
    expect(mismatched.body).toMatchObject({ error: { param: 'mask', message: 'mask: must be the size of the image (64×64), got 96×64' } });
    // loras in a form: JSON, and the error says which shape.
    const loras = await app.send({ method: 'POST', url: '/v1/images/edits', ...form([['image', image], ['prompt', 'x'], ['loras', '[oops']]) });
    expect(loras.body).toMatchObject({ error: { param: 'loras', message: expect.stringContaining('[LoRA, weight] pairs') } });
  });
});
