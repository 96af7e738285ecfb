/**
 * What the gateway counts of a finished task (the node's tally on the dashboard, the network's recent tasks,
 * metrics through the same observer) is what the store holds. A gateway that stood still past its lease
 * (a long pause, a suspended VM) wakes to its nodes' results of attempts another gateway has run since:
 * the store refuses them, and they are not counted. The real hub, dispatcher and store, in process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CoreWorld, createCoreWorld } from '../helpers/fake-nodes.js';
import { chillout, txt2img } from '../helpers/specs.js';

let world: CoreWorld;
afterEach(() => world.close());

/** Lets the store writes and what follows them run (they wait for an immediate first). */
const written = async () => {
  for (let i = 0; i < 3; i++) await world.settle();
};
/** The dashboard's recent tasks, read anew (its answer is kept for a second). */
const recent = async () => {
  await world.clock.advance(2_000);
  return world.network.read().recent.map((t) => t.state);
};
const tally = () => world.nodes.list().map((n) => ({ name: n.name, done: n.done, failed: n.failed }));

describe('counting finished tasks', () => {
  it('counts a result the store took, and not one of an attempt another gateway started again meanwhile', async () => {
    world = createCoreWorld();
    const a = world.connect('a');
    const spec = txt2img({ model: chillout });
    const kept = await world.submit(spec);
    await a.assignment(kept, 1);
    a.succeed(kept, 1000, 1);
    await written();
    expect(tally()).toEqual([{ name: 'a', done: 1, failed: 0 }]);
    expect(await recent()).toEqual(['succeeded']);

    const moved = await world.submit(spec);
    await a.assignment(moved, 1);
    // Another gateway counted this one gone, put the task back and started it on its own node.
    await world.sqlite.requeue(moved, 1);
    await world.sqlite.markRunning(moved, 2, 'other-gateways-node', world.clock.now());
    a.succeed(moved, 1000, 1);
    await written();
    expect((await world.store.get(moved))!).toMatchObject({ state: 'running', attempts: 2 });
    expect(tally()).toEqual([{ name: 'a', done: 1, failed: 0 }]);
    expect(await recent()).toEqual(['succeeded']);
    expect(world.log.lines.map((l) => l.message)).toContain('task outcome not stored: the task moved on (now running, attempt 2); its later outcome is the one kept');
  });
});
