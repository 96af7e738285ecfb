/**
 * A row the store holds as running on this gateway, where no such attempt
 * runs: a start written with its insert whose commit the gateway stopped
 * waiting for (the submit answered 503, the row stayed), or left by a bug.
 * Nobody would ever end it. Found at two checks in a row, it goes back to the
 * queue and runs; a task whose attempt does run here is left alone. The real
 * dispatcher and SQLite store, in process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CoreWorld, createCoreWorld } from '../helpers/fake-nodes.js';
import { chillout, txt2img } from '../helpers/specs.js';
import { runningOnOtherGateway } from '../helpers/store-overrides.js';

let world: CoreWorld;
afterEach(() => world.close());

describe('a running row no attempt here runs', () => {
  it('goes back to the queue at the second check in a row, and runs; a running attempt is left alone', async () => {
    world = createCoreWorld();
    const a = world.connect('a');
    const spec = txt2img({ model: chillout });
    // A task that really runs here.
    const live = await world.submit(spec);
    await a.assignment(live, 1);
    // The orphan: stored and started behind the dispatcher's back, as a lost commit leaves it.
    await world.store.insert({ id: 'orphan', kind: 'txt2img', spec, owner: null, createdAt: world.clock.now() });
    expect(await world.store.markRunning('orphan', 1, 'a', world.clock.now())).toBe(true);

    // First check: suspected only (a start or an end may be in flight).
    expect(await world.dispatcher.requeueOrphans()).toBe(0);
    expect(await world.store.get('orphan')).toMatchObject({ state: 'running', attempts: 1 });
    // Second: back in the queue, at its attempt; the node, free once the live task is done, runs it.
    expect(await world.dispatcher.requeueOrphans()).toBe(1);
    expect(world.log.lines.some((l) => l.message.includes('back in the queue') && (l.fields as { task?: string }).task === 'orphan')).toBe(true);
    expect(await world.store.get(live)).toMatchObject({ state: 'running', attempts: 1 });
    a.succeed(live, 1000, 1);
    await a.assignment('orphan', 2);
    a.succeed('orphan', 1000, 2);
    await world.settle();
    expect(await world.store.get('orphan')).toMatchObject({ state: 'succeeded', attempts: 2 });
    // Nothing more to find.
    expect(await world.dispatcher.requeueOrphans()).toBe(0);
    expect(await world.dispatcher.requeueOrphans()).toBe(0);
  });

  it('forgets a suspect that moved on between two checks', async () => {
    world = createCoreWorld();
    const spec = txt2img({ model: chillout });
    await world.store.insert({ id: 'moving', kind: 'txt2img', spec, owner: null, createdAt: world.clock.now() });
    await world.store.markRunning('moving', 1, 'a', world.clock.now());
    expect(await world.dispatcher.requeueOrphans()).toBe(0);
    // Its attempt ended (another writer): no longer running, never requeued.
    await world.store.fail('moving', 1, { id: 'DAN_ERR_INTERNAL', message: 'x' }, world.clock.now());
    expect(await world.dispatcher.requeueOrphans()).toBe(0);
    expect(await world.store.get('moving')).toMatchObject({ state: 'failed' });
  });
});

describe('a running row this gateway held as running on another gateway\'s node', () => {
  it('is queued here, not still said to run there, once put back (a take-over that landed though its write seemed to fail)', async () => {
    world = createCoreWorld({
      shared: { runsElsewhere: () => true, servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} },
      // Read back at the start, the row names another gateway; later, as the take-over left it, this one.
      store: runningOnOtherGateway,
    });
    const spec = txt2img({ model: chillout });
    await world.store.insert({ id: 'moved', kind: 'txt2img', spec, owner: null, createdAt: world.clock.now() });
    await world.store.markRunning('moved', 1, 'gpu-0a1b2c', world.clock.now());
    await world.dispatcher.recover();
    expect(world.dispatcher.liveStatus('moved')).toMatchObject({ state: 'running', nodeId: '' });
    expect(await world.dispatcher.requeueOrphans()).toBe(0);
    expect(await world.dispatcher.requeueOrphans()).toBe(1);
    expect(world.dispatcher.liveStatus('moved')).toMatchObject({ state: 'queued' });
    const a = world.connect('a');
    await a.assignment('moved', 2);
  });
});
