/**
 * A task held ready on a busy node is taken back for an idle node that would finish it well before
 * (scheduler/held-reclaims.ts): the holder is told to drop it, the idle node runs it as the next attempt,
 * and what the holder says of the old attempt afterwards changes nothing. In one process with a fake clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeCapabilities } from '../helpers/capabilities.js';
import { type CoreWorld, createCoreWorld, type FakeNode } from '../helpers/fake-nodes.js';
import { chillout, clarity, txt2img } from '../helpers/specs.js';
import { overridden } from '../helpers/store-overrides.js';
import type { TaskStore } from '../../src/store/task-store.js';

let world: CoreWorld;
afterEach(() => world.close());

const spec = txt2img({ model: chillout });

/** Node a (one slot, one held ready) runs a chillout task and holds another behind it. */
async function aHolding(): Promise<{ a: FakeNode; first: string; held: string }> {
  world = createCoreWorld({ maxAttempts: 3 });
  const a = world.connect('a', undefined, 1, undefined, 1);
  const first = await world.submit(spec);
  const held = await world.submit(spec);
  await a.assignment(first, 1);
  await world.clock.advance(200);
  await a.assignment(held, 1);
  expect(await world.status(held)).toMatchObject({ status: 1, message: expect.stringContaining('held ready') });
  return { a, first, held };
}

describe('a task held ready on a busy node, and a node idle beside it', () => {
  it('is taken back and sent to the idle node; the holder\'s late word of it changes nothing', async () => {
    const { a, first, held } = await aHolding();
    // b comes, idle, chillout loaded (the only checkpoint it has): it ends the task before a would even begin it.
    const b = world.connect('b', makeCapabilities({ models: makeCapabilities().models.filter((m) => m.name === 'chilloutmix_NiPrunedFp32Fix') }));
    const moved = await b.assignment(held, 2);
    expect(moved.attempt).toBe(2);
    expect(a.cancels()).toEqual([held]);
    // a had begun it just then: its progress and its result for attempt 1 are too late.
    a.progress(held, 0.5, 1);
    a.succeed(first, 1000, 1);
    a.succeed(held, 1000, 1);
    await world.settle();
    expect(await world.store.get(held)).toMatchObject({ state: 'running', attempts: 2 });
    b.succeed(held, 1000, 2);
    await world.settle();
    expect(await world.store.get(held)).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(await world.store.get(first)).toMatchObject({ state: 'succeeded', attempts: 1 });
    // Nothing counted against a: no failed attempt on its tally, and it is not set aside (a task only it can
    // run, clarity, is sent to it).
    expect(world.nodes.list().find((n) => n.name === 'a')).toMatchObject({ done: 1, failed: 0 });
    const next = await world.submit(txt2img({ model: clarity }));
    await a.assignment(next, 1);
    expect(world.log.lines.some((l) => l.message.includes('taken back for an idle one'))).toBe(true);
  });

  it('is taken back when the holder says its running task will end much later than thought', async () => {
    const { a, first, held } = await aHolding();
    // b has clarity loaded (the first of its models): chillout costs it a load (2 s) and the run (1 s), more than a needs now.
    const models = makeCapabilities().models;
    const b = world.connect('b', makeCapabilities({ models: [...models.filter((m) => m.name === 'clarity'), ...models.filter((m) => m.name !== 'clarity')] }));
    await world.settle();
    expect(world.nodes.list().find((n) => n.name === 'b')?.loadedModel).toContain('clarity');
    await world.clock.advance(500);
    expect(a.cancels()).toEqual([]);
    // a's running task has 10 s left, by its own word: b is far sooner.
    a.progress(first, 0.1, 10);
    await world.settle();
    expect(a.cancels()).toEqual([held]);
    expect((await b.assignment(held, 2)).attempt).toBe(2);
  });

  it('is taken back while its claim is being written: the next attempt\'s start lands first, and the late refusal is no error', async () => {
    // The store holds a's claim of its second task (attempt 1) until the test lets it go.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    // Every claim of attempt 1 after the first task's: the second task's (sent ahead in the pass its submit joins).
    let firstId = '';
    world = createCoreWorld({
      maxAttempts: 3,
      store: (inner: TaskStore) =>
        overridden(inner, (method) =>
          method === 'markRunning'
            ? async (id: string, attempt: number, nodeId: string, at: number, identity?: string) => {
                if (firstId !== '' && id !== firstId && attempt === 1) await released;
                return inner.markRunning(id, attempt, nodeId, at, identity);
              }
            : undefined,
        ),
    });
    const a = world.connect('a', undefined, 1, undefined, 1);
    const first = await world.submit(spec);
    firstId = first;
    await a.assignment(first, 1);
    await world.clock.advance(200);
    const held = await world.submit(spec);
    await world.clock.advance(200);
    await world.settle();
    expect(world.dispatcher.scheduler.attempts.get(held)).toMatchObject({ nodeId: expect.any(String), attempt: 1, begunAt: null });
    // b comes idle: attempt 2 starts there and is stored; then a's claim of attempt 1 is refused.
    const b = world.connect('b', makeCapabilities({ models: makeCapabilities().models.filter((m) => m.name === 'chilloutmix_NiPrunedFp32Fix') }));
    await b.assignment(held, 2);
    release();
    await world.settle();
    expect(a.assignments().map((m) => m.taskId)).toEqual([first]);
    expect(world.log.lines.filter((l) => l.level === 'error')).toEqual([]);
    b.succeed(held, 1000, 2);
    await world.settle();
    expect(await world.store.get(held)).toMatchObject({ state: 'succeeded', attempts: 2 });
  });

  it('stays with its holder when the idle node cannot run it', async () => {
    const { a, held } = await aHolding();
    const clarityOnly = makeCapabilities({ models: makeCapabilities().models.filter((m) => m.name === 'clarity') });
    const b = world.connect('b', clarityOnly);
    await world.settle();
    await world.clock.advance(500);
    await world.settle();
    expect(a.cancels()).toEqual([]);
    expect(b.assignments()).toEqual([]);
    expect(await world.store.get(held)).toMatchObject({ state: 'running', attempts: 1 });
  });
});
