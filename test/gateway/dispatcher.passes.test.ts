/**
 * How many scheduling passes the gateway runs: events that arrive together share one (over a thousand
 * nodes a pass costs milliseconds), and a submit still answers once its task is sent.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeCapabilities } from '../helpers/capabilities.js';
import { type CoreWorld, createCoreWorld } from '../helpers/fake-nodes.js';
import { PassPacing } from '../../src/gateway/pass-pacing.js';

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

/** Pacing as a large fleet's: every pass asked for after a result waits `ms` of real time for its turn. */
class SlowTurns extends PassPacing {
  constructor(private readonly ms: number) {
    super();
  }

  override waitMs(): number {
    return this.ms;
  }
}

const realTime = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Node a has run one task and holds none; a second waits in the queue for the pass its result asked for. */
async function resultAwaitingItsPass(pacing: PassPacing) {
  world = createCoreWorld({ pacing });
  const node = world.connect('a');
  await world.settle();
  const first = await world.submit();
  // A submit's pass is never paced: its task is sent before it answers.
  expect(world.dispatcher.liveStatus(first)).toMatchObject({ state: 'running' });
  const second = await world.submit();
  node.succeed(first, 1000);
  await world.settle();
  expect(world.dispatcher.liveStatus(second)).toMatchObject({ state: 'queued' });
  return { node, first, second, passes: vi.spyOn(world.dispatcher.scheduler, 'assignments') };
}

describe('scheduling passes in a large fleet (paced)', () => {
  it("runs a submit's pass this turn all the same, and the pass that waited is that one", async () => {
    // An hour's wait: a submit that waited for it would never answer.
    const { second, passes } = await resultAwaitingItsPass(new SlowTurns(3_600_000));
    const third = await world.submit();
    expect(world.dispatcher.liveStatus(second)).toMatchObject({ state: 'running' });
    expect(world.dispatcher.liveStatus(third)).toMatchObject({ state: 'queued' });
    expect(passes).toHaveBeenCalledTimes(1);
  });

  it('runs a waiting pass once its turn comes', async () => {
    const { node, first, second, passes } = await resultAwaitingItsPass(new SlowTurns(40));
    await realTime(80);
    expect(world.dispatcher.liveStatus(second)).toMatchObject({ state: 'running' });
    expect(node.assignments().map((m) => m.taskId)).toEqual([first, second]);
    expect(passes).toHaveBeenCalledTimes(1);
  });

  it('runs no pass for a submit far back in a long queue, and answers it without waiting for the pass', async () => {
    // An hour's wait: a submit that waited for the paced pass would never answer.
    world = createCoreWorld({ pacing: new SlowTurns(3_600_000) });
    const node = world.connect('a');
    await world.settle();
    const first = await world.submit();
    // 2,000 queued behind it (a pass plans the queue's first 2,000), then node a frees: its result's pass waits.
    const ahead = await Promise.all(Array.from({ length: 2000 }, () => world.submit()));
    node.succeed(first, 1000);
    await world.settle();
    const passes = vi.spyOn(world.dispatcher.scheduler, 'assignments');
    const far = await world.submit();
    expect(passes).not.toHaveBeenCalled();
    expect(world.dispatcher.liveStatus(far)).toMatchObject({ state: 'queued', position: 2001 });
    expect(world.dispatcher.liveStatus(ahead[0]!)).toMatchObject({ state: 'queued', position: 1 });
    // Another caller's first task goes to the front (fair order): its submit has its pass this turn, which
    // sends node a the next task.
    const front = await world.submit(undefined, 'another-caller');
    expect(world.dispatcher.liveStatus(front)).toMatchObject({ position: 1 });
    expect(passes).toHaveBeenCalledTimes(1);
    expect(node.assignments()).toHaveLength(2);
  });

  it('takes a pass run meanwhile for the one that waits, which then does not run again', async () => {
    const { second, passes } = await resultAwaitingItsPass(new SlowTurns(40));
    world.dispatcher.schedule();
    expect(world.dispatcher.liveStatus(second)).toMatchObject({ state: 'running' });
    await realTime(80);
    expect(passes).toHaveBeenCalledTimes(1);
  });
});
