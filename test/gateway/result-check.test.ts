/**
 * Results that do not answer their task (nodes are other people's machines): never handed to a client;
 * the node that sent one is disconnected and its task runs elsewhere. The real hub, dispatcher and store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CoreWorld, createCoreWorld, type FakeNode, PNG_512, pngOfSize, TINY_PNG } from '../helpers/fake-nodes.js';
import type { Img2ImgSpec, InterrogateSpec } from '../../src/domain/spec.js';
import { resultProblem } from '../../src/gateway/result-check.js';
import { txt2img } from '../helpers/specs.js';

let world: CoreWorld;
afterEach(() => world.close());

const png = Buffer.from(PNG_512, 'base64');
/** The 8-byte PNG signature, then junk: passes a check of the first bytes only. */
const pngThenJunk = Buffer.concat([png.subarray(0, 8), Buffer.alloc(64, 0x41)]).toString('base64');
/** A 512² PNG with one bit of its header's width flipped: its IHDR CRC no longer matches. */
const brokenHeader = Buffer.from(png);
brokenHeader[19]! ^= 0x01;

/** Submits a task, has `bad` answer it with `result`, and expects `good` to get it next and its answer to be the one kept. */
async function refusedThenRetried(result: Parameters<FakeNode['answer']>[1], spec?: Parameters<CoreWorld['submit']>[0]) {
  const bad = world.connect('bad');
  await world.settle();
  const id = await world.submit(spec);
  await bad.assignment(id);
  const good = world.connect('good');
  bad.answer(id, result);
  await good.assignment(id, 2);
  expect(world.hub.sessions.size).toBe(1);
  expect(world.dispatcher.liveStatus(id)).toMatchObject({ state: 'running' });
  return { id, good };
}

describe('a result that does not answer its task', () => {
  it('a caption for a txt2img task: its node is disconnected and the task runs on another node', async () => {
    world = createCoreWorld();
    const { id, good } = await refusedThenRetried({ kind: 'caption', caption: 'a cat' });
    good.succeed(id);
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 2, images: [PNG_512] });
    expect(world.log.lines.some((l) => l.message === 'closing node connection: protocol error' && JSON.stringify(l.fields).includes('answered a txt2img task with a caption'))).toBe(true);
  });

  it('images for an interrogation', async () => {
    world = createCoreWorld();
    const spec: InterrogateSpec = { kind: 'interrogate', image: TINY_PNG, interrogator: 'clip' };
    const { id, good } = await refusedThenRetried({ kind: 'images', images: [PNG_512], seeds: [1] }, spec);
    good.answer(id, { kind: 'caption', caption: 'a cat, sitting' });
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 2, caption: 'a cat, sitting' });
  });

  it.each([
    ['an image that is the PNG signature followed by junk', [pngThenJunk], [1], 'first chunk is not a header'],
    ['an image that is a PNG whose header CRC does not match', [brokenHeader.toString('base64')], [1], 'CRC does not match'],
    ['a 1×1 image for a 512² task', [TINY_PNG], [1], 'its image is 1×1; the task makes 512×512'],
    ['three images with no seeds', [PNG_512, PNG_512, PNG_512], [], 'answered with 3 images; the task makes one'],
    ['an image without its seed', [PNG_512], [], 'answered with 0 seeds for its one image'],
  ])('%s', async (_what, images, seeds, reason) => {
    world = createCoreWorld();
    const { id, good } = await refusedThenRetried({ kind: 'images', images, seeds });
    expect(JSON.stringify(world.log.lines)).toContain(reason);
    good.succeed(id);
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 2, images: [PNG_512], seeds: [1] });
  });
});

describe('resultProblem (images as base64 text, as the text protocol carries them)', () => {
  const spec = txt2img();

  it('reads only the header of the image', () => {
    expect(resultProblem(spec, { kind: 'images', images: [PNG_512], seeds: [1] })).toBeNull();
    expect(resultProblem(spec, { kind: 'images', images: [pngThenJunk], seeds: [1] })).toBe('its image is a PNG whose first chunk is not a header (IHDR)');
    expect(resultProblem(spec, { kind: 'images', images: [brokenHeader.toString('base64')], seeds: [1] })).toBe('its image is a PNG whose header is corrupt (its CRC does not match)');
    expect(resultProblem(spec, { kind: 'images', images: [Buffer.from('GIF89a, not a PNG').toString('base64')], seeds: [1] })).toBe('its image is not a PNG, JPEG or WebP image');
  });

  it('takes the size of the task\'s result within 8 pixels a side: hires targets and upscales round', () => {
    const hires = txt2img({ width: 512, height: 768, hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 } });
    expect(resultProblem(hires, { kind: 'images', images: [pngOfSize(768, 1152)], seeds: [1] })).toBeNull();
    expect(resultProblem(hires, { kind: 'images', images: [pngOfSize(768, 1144)], seeds: [1] })).toBeNull();
    expect(resultProblem(hires, { kind: 'images', images: [pngOfSize(512, 768)], seeds: [1] })).toBe('its image is 512×768; the task makes 768×1152');
  });

  it('inpainting the masked area only: the init image\'s size (the WebUI pastes into the original), or the task\'s when the mask covered nothing', () => {
    const { hires: _hires, kind: _kind, ...common } = txt2img({ width: 512, height: 512 });
    const inpaint = { mask: TINY_PNG, maskBlur: 4, regenerate: 'masked' as const, area: 'masked_only' as const };
    const spec: Img2ImgSpec = { kind: 'img2img', ...common, initImage: TINY_PNG, initWidth: 640, initHeight: 480, resizeMode: 'just_resize', denoisingStrength: 0.75, inpaint };
    expect(resultProblem(spec, { kind: 'images', images: [pngOfSize(640, 480)], seeds: [1] })).toBeNull();
    expect(resultProblem(spec, { kind: 'images', images: [pngOfSize(512, 512)], seeds: [1] })).toBeNull();
    expect(resultProblem(spec, { kind: 'images', images: [pngOfSize(480, 640)], seeds: [1] })).toBe('its image is 480×640; the task makes 640×480');
    // The whole picture: the task's size only.
    const whole = { ...spec, inpaint: { ...inpaint, area: 'whole' as const } };
    expect(resultProblem(whole, { kind: 'images', images: [pngOfSize(640, 480)], seeds: [1] })).toBe('its image is 640×480; the task makes 512×512');
  });
});
