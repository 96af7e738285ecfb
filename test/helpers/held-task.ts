/**
 * A node holding a task ready, set up in a fake-node world (fake-nodes.ts): what the held-task tests of the
 * dispatcher and of nodes that drop start from.
 */
import { type CoreWorld, createCoreWorld } from './fake-nodes.js';
import { chillout, txt2img } from './specs.js';

/**
 * A node holds a task ready: it is sent one once its lane frees within half a load (its window; here 1 s
 * expected and a measured load of 2 s: within it from the start), by a pass no sooner than a fifth of the
 * window (0.2 s) after the one that sent the task before (scheduler.ts `SEND_AHEAD_PASS_GAP`).
 */
export const SEND_AHEAD_GAP_MS = 200;

/**
 * A new world (one attempt allowed) whose node `a` holds one task ready. Two tasks on the checkpoint it has
 * loaded (a task that needs a load is never sent ahead): the first runs, the second is sent 0.2 s later to
 * wait behind it. Returns the world, the node, the spec, both ids and the held task's assign.
 */
export async function heldBehindFirst() {
  const world: CoreWorld = createCoreWorld({ maxAttempts: 1 });
  const a = world.connect('a', undefined, 1, undefined, 1);
  const spec = txt2img({ model: chillout });
  const first = await world.submit(spec);
  const held = await world.submit(spec);
  await a.assignment(first, 1);
  await world.clock.advance(SEND_AHEAD_GAP_MS);
  const heldAssign = await a.assignment(held, 1);
  return { world, a, spec, first, held, heldAssign };
}
