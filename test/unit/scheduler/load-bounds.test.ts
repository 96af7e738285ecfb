import { afterEach, describe, expect, it, vi } from 'vitest';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';
import { LoadBounds } from '../../../src/scheduler/load-bounds.js';
import type { PlanNode } from '../../../src/scheduler/plan-types.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { CLARITY, chillout, clarity, node, task } from './scheduler-helpers.js';

const NOW = 1_000_000;

function planNode(id: string, options: Partial<PlanNode> = {}): PlanNode {
  return { id, unitsPerSecond: 10, switchSeconds: 8, lanes: [0], loaded: null, available: true, ...options };
}

describe('LoadBounds: the longest and shortest load of each checkpoint on an available node', () => {
  it('reads each node\'s own figure for the checkpoint, else its typical load, and skips nodes that take no work', () => {
    const bounds = new LoadBounds([
      planNode('nvme', { switchSeconds: 2 }),
      planNode('hdd', { switchSeconds: 8, loadSeconds: new Map([['X', 30]]) }),
      planNode('down', { switchSeconds: 100, available: false }),
    ]);
    expect(bounds.of('X')).toEqual({ longest: 30, shortest: 2 });
    expect(bounds.of('Y')).toEqual({ longest: 8, shortest: 2 });
    expect(bounds.all()).toEqual({ longest: 30, shortest: 2 });
  });

  it('bounds every load over all checkpoints, own figures included', () => {
    expect(new LoadBounds([planNode('a', { switchSeconds: 4 }), planNode('b', { switchSeconds: 6 })]).all()).toEqual({ longest: 6, shortest: 4 });
    expect(new LoadBounds([planNode('a', { switchSeconds: 4 }), planNode('b', { switchSeconds: 6, loadSeconds: new Map([['X', 1]]) })]).all()).toEqual({ longest: 6, shortest: 1 });
  });
});

describe('Scheduler: the fleet\'s load bounds kept from pass to pass', () => {
  afterEach(() => vi.restoreAllMocks());

  /** A scheduler over a (typical load 1 s) and b (8 s), which differ: rule 0c looks at the bounds on every pass. */
  function world() {
    const estimates = new NodeEstimates({ switchSeconds: 6 });
    estimates.seed('a', { unitsPerSecond: 20, switchSeconds: 1 });
    estimates.seed('b', { unitsPerSecond: 20, switchSeconds: 8 });
    const scheduler = new Scheduler({ estimates });
    const nodes = (bAvailable = true) => [node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY, available: bAvailable })];
    scheduler.setNodes(nodes());
    for (let i = 0; i < 6; i++) scheduler.enqueue(task(`c${i}`, 'k', { model: i % 2 === 0 ? clarity : chillout }), NOW);
    // Each LoadBounds the passes read: a new one is a new `this` of `all`, which every pass asks.
    const asked = vi.spyOn(LoadBounds.prototype, 'all');
    const made = () => new Set(asked.mock.contexts).size;
    return { estimates, scheduler, nodes, made };
  }

  it('works them out again only when a load is learned, or a node starts or stops taking work', () => {
    const { estimates, scheduler, nodes, made } = world();
    scheduler.assignments(NOW);
    scheduler.assignments(NOW + 1000);
    expect(made()).toBe(1);
    // A run without a load teaches a speed, not a load: the same bounds.
    estimates.record('a', { units: 20, elapsedSeconds: 1, switched: false });
    scheduler.assignments(NOW + 2000);
    expect(made()).toBe(1);
    // A load learned: new bounds.
    estimates.record('b', { units: 20, elapsedSeconds: 31, switched: true, loadSeconds: 30, checkpoint: 'some-checkpoint' });
    scheduler.assignments(NOW + 3000);
    expect(made()).toBe(2);
    // b stops taking work: new bounds; and again when it is back.
    scheduler.setNodes(nodes(false));
    scheduler.assignments(NOW + 4000);
    expect(made()).toBe(3);
    scheduler.setNodes(nodes(true));
    scheduler.assignments(NOW + 5000);
    expect(made()).toBe(4);
  });

  it('works them out again when a node is set aside and when its set-aside ends, and for a new node list', () => {
    const { scheduler, made } = world();
    scheduler.assignments(NOW);
    expect(made()).toBe(1);
    // Three distinct failures in a row set b aside for a minute (node-health.ts).
    for (let i = 0; i < 3; i++) scheduler.health.failed('b', { taskId: `failed-${i}`, reason: 'WebUI error' }, NOW);
    expect(scheduler.health.setAside('b', NOW + 1000)).not.toBeNull();
    scheduler.assignments(NOW + 1000);
    expect(made()).toBe(2);
    scheduler.assignments(NOW + 2000);
    expect(made()).toBe(2);
    scheduler.assignments(NOW + 61_000);
    expect(made()).toBe(3);
    // A node joins: another list.
    scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY }), node('c', { loadedModel: CLARITY })]);
    scheduler.assignments(NOW + 62_000);
    expect(made()).toBe(4);
  });
});
