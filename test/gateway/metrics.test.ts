/**
 * The gateway's Prometheus metrics read from its sources: the node slots counted as busy, free, or idle on a
 * node that takes no work (a WebUI down is no free slot: an alert on free slots must see it), and the requests
 * waiting for their turn (api/turn-admission.ts).
 */
import { describe, expect, it } from 'vitest';
import { FamilyCosts } from '../../src/domain/family-costs.js';
import { PRIOR_STEP_COSTS } from '../../src/domain/work-units.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import type { NodeListItem } from '../../src/gateway/node-directory.js';

const node = (state: NodeListItem['state'], slots: number, running: number) => ({ state, slots, running }) as NodeListItem;

describe('GatewayMetrics', () => {
  it('counts the slots of nodes that take no work apart from the free ones', async () => {
    const nodes = [node('ready', 2, 1), node('busy', 1, 2), node('webui-down', 1, 0), node('set-aside', 2, 0), node('draining', 1, 1)];
    const metrics = new GatewayMetrics({ load: () => ({ queued: 0, running: 0 }), queuedByCheckpoint: () => new Map(), nodes: () => nodes, stepCost: () => 1 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('dan_node_slots{use="busy"} 3');
    expect(text).toContain('dan_node_slots{use="free"} 1');
    expect(text).toContain('dan_node_slots{use="unavailable"} 3');
  });

  it('reads how many requests wait for their turn from where the app says, 0 until then', async () => {
    const metrics = new GatewayMetrics({ load: () => ({ queued: 0, running: 0 }), queuedByCheckpoint: () => new Map(), nodes: () => [], stepCost: () => 1 });
    expect(await metrics.registry.metrics()).toContain('dan_http_requests_waiting 0');
    let waiting = 7;
    metrics.countWaiting(() => waiting);
    expect(await metrics.registry.metrics()).toContain('dan_http_requests_waiting 7');
    waiting = 2;
    expect(await metrics.registry.metrics()).toContain('dan_http_requests_waiting 2');
  });

  it('shows what a step of each family costs as the gateway prices work now', async () => {
    const costs = new FamilyCosts();
    const metrics = new GatewayMetrics({ load: () => ({ queued: 0, running: 0 }), queuedByCheckpoint: () => new Map(), nodes: () => [], stepCost: (family) => costs.stepCost(family) });
    expect(await metrics.registry.metrics()).toContain(`dan_family_step_cost{family="flux2"} ${PRIOR_STEP_COSTS.flux2}`);
    // A node ran SD 1.5 and Flux.2, whose steps took twice what the prior says.
    for (let i = 0; i < 3; i++) {
      costs.record({ node: 'n', family: 'sd15', priorUnits: 20, seconds: 1 });
      costs.record({ node: 'n', family: 'flux2', priorUnits: 20 * PRIOR_STEP_COSTS.flux2, seconds: 2 * PRIOR_STEP_COSTS.flux2 });
    }
    const learned = /dan_family_step_cost\{family="flux2"\} ([\d.]+)/.exec(await metrics.registry.metrics())?.[1];
    expect(Number(learned)).toBeCloseTo(2 * PRIOR_STEP_COSTS.flux2, 0);
    expect(await metrics.registry.metrics()).toContain('dan_family_step_cost{family="sd15"} 1');
  });
});
