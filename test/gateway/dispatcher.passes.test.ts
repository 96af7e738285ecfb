/**
 * How many scheduling passes the gateway runs: events that arrive together share one (over a thousand
 * nodes a pass costs milliseconds), and a submit still answers once its task is sent.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeCapabilities } from '../helpers/capabilities.js';
import { type CoreWorld, createCoreWorld } from '../helpers/fake-nodes.js';

let world: CoreWorld;
afterEach(() => world.close());

describe('scheduling passes', () => {
  it('runs one pass for submits that arrive together, each answered after its task was sent', async () => {
    world = createCoreWorld();
    const node = world.connect('a', makeCapabilities(), 4);
    await world.settle();
    const passes = vi.spyOn(world.dispatcher.scheduler, 'assignments');
    const ids = await Promise.all([world.submit(), world.submit(), world.submit()]);
    expect(passes).toHaveBeenCalledTimes(1);
    for (const id of ids) expect(world.dispatcher.liveStatus(id)).toMatchObject({ state: 'running' });
    expect(node.assignments().map((m) => m.taskId).sort()).toEqual([...ids].sort());
  });

  it('runs no pass for a submit whose nodes are all busy', async () => {
    world = createCoreWorld();
    world.connect('a');
    await world.settle();
    const running = await world.submit();
    expect(world.dispatcher.liveStatus(running)).toMatchObject({ state: 'running' });
    const passes = vi.spyOn(world.dispatcher.scheduler, 'assignments');
    const queued = await world.submit();
    expect(passes).not.toHaveBeenCalled();
    expect(world.dispatcher.liveStatus(queued)).toMatchObject({ state: 'queued', position: 1 });
  });
});
