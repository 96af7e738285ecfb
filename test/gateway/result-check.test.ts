/**
 * Results that do not answer their task (nodes are other people's machines): never handed to a client;
 * the node that sent one is disconnected and its task runs elsewhere. The real hub, dispatcher and store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CoreWorld, createCoreWorld, type FakeNode, TINY_PNG } from '../helpers/fake-nodes.js';
import type { InterrogateSpec } from '../../src/domain/spec.js';
import { resultProblem } from '../../src/gateway/result-check.js';

let world: CoreWorld;
afterEach(() => world.close());

const png = Buffer.from(TINY_PNG, 'base64');
/** The 8-byte PNG signature, then junk: passes a check of the first bytes only. */
const pngThenJunk = Buffer.concat([png.subarray(0, 8), Buffer.alloc(64, 0x41)]).toString('base64');
/** TINY_PNG with one bit of its header's width flipped: its IHDR CRC no longer matches. */
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
    expect(await world.status(id)).toMatchObject({ status: 2, images: [TINY_PNG] });
    expect(world.log.lines.some((l) => l.message === 'closing node connection: protocol error' && JSON.stringify(l.fields).includes('answered a txt2img task with a caption'))).toBe(true);
  });

  it('images for an interrogation', async () => {
    world = createCoreWorld();
    const spec: InterrogateSpec = { kind: 'interrogate', image: TINY_PNG, interrogator: 'clip' };
    const { id, good } = await refusedThenRetried({ kind: 'images', images: [TINY_PNG], seeds: [1] }, spec);
    good.answer(id, { kind: 'caption', caption: 'a cat, sitting' });
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 2, caption: 'a cat, sitting' });
  });

  it.each([
    ['the PNG signature followed by junk', pngThenJunk, 'first chunk is not a header'],
    ['a PNG whose header CRC does not match', brokenHeader.toString('base64'), 'CRC does not match'],
  ])('an image that is %s', async (_what, image, reason) => {
    world = createCoreWorld();
    await refusedThenRetried({ kind: 'images', images: [TINY_PNG, image], seeds: [1, 2] });
    expect(JSON.stringify(world.log.lines)).toContain(reason);
  });
});

describe('resultProblem (images as base64 text, as the text protocol carries them)', () => {
  const spec = { kind: 'txt2img' } as Parameters<typeof resultProblem>[0];

  it('reads only the header of each image', () => {
    expect(resultProblem(spec, { kind: 'images', images: [TINY_PNG], seeds: [1] })).toBeNull();
    expect(resultProblem(spec, { kind: 'images', images: [TINY_PNG, pngThenJunk], seeds: [1, 2] })).toBe('its image 1 is a PNG whose first chunk is not a header (IHDR)');
    expect(resultProblem(spec, { kind: 'images', images: [brokenHeader.toString('base64')], seeds: [1] })).toBe('its image 0 is a PNG whose header is corrupt (its CRC does not match)');
    expect(resultProblem(spec, { kind: 'images', images: [Buffer.from('GIF89a, not a PNG').toString('base64')], seeds: [1] })).toBe('its image 0 is not a PNG, JPEG or WebP image');
  });
});
