/**
 * The schedule benchmark's simulator, on small hand-made fleets: what it
 * reports must be what happened, or its figures mean nothing.
 */
import { describe, expect, it } from 'vitest';
import { bindSpec } from '../../src/domain/binding.js';
import { toA1111Request } from '../../src/node/backends/a1111/translate.js';
import { type Checkpoint, LATENT_UPSCALE_MODES, makeCheckpoints, makeSimNode, type SimNodeSpec, STANDARD_FLEET } from '../../bench/schedule-nodes.js';
import { nodeWorkOf } from '../../bench/schedule-node-time.js';
import { type RunResult, simulate } from '../../bench/schedule-sim.js';
import { Ledger, SimNode, type TaskRecord } from '../../bench/schedule-sim-node.js';
import { CANNY_UNIT, makeTxt2Img, type SimTask } from '../../bench/schedule-tasks.js';
import { longestCovered, longestStretch, summarize } from '../../bench/schedule-stats.js';
import { arrivalsOf, makeStandardTrace } from '../../bench/schedule-trace.js';

const SWITCH_SECONDS = 8;
const [a, b, c] = makeCheckpoints(3) as [Checkpoint, Checkpoint, Checkpoint];

function node(id: string, itPerSecond: number, checkpoints: Checkpoint[], slots = 1): SimNodeSpec {
  return makeSimNode({ id, speedClass: itPerSecond >= 15 ? 'fast' : 'slow', itPerSecond, switchSeconds: SWITCH_SECONDS, checkpoints, slots });
}

/** 512², 20 steps, Euler a: 20 it·s of work (1 s at 20 it/s). */
function task(index: number, checkpoint: Checkpoint, arrivalMs = 0, apiKey = 'k1'): SimTask {
  return { id: `t${String(index).padStart(2, '0')}`, apiKey, spec: makeTxt2Img(checkpoint, { seed: index }), arrivalMs };
}

const twoNodes = () => [node('fast', 20, [a, b]), node('slow', 10, [b, c])];
const pattern = [a, b, a, c, b, a, a, c, b, a];
/** 20 tasks over a, b, c: the first ten at once, the rest spread over 30 s, from two keys. */
const twentyTasks = () => Array.from({ length: 20 }, (_, i) => task(i, pattern[i % 10]!, i < 10 ? 0 : (i - 9) * 3000, i % 3 === 0 ? 'k2' : 'k1'));

function byNode(run: RunResult): Map<string, TaskRecord[]> {
  const out = new Map<string, TaskRecord[]>();
  for (const t of run.tasks) out.set(t.nodeId!, [...(out.get(t.nodeId!) ?? []), t].sort((x, y) => x.beginMs! - y.beginMs!));
  return out;
}

describe.each(['dan', 'baseline'] as const)('the %s run', (policy) => {
  const nodes = twoNodes();
  const run = simulate(policy, nodes, twentyTasks(), { auditPositions: true, positionChecksPerEvent: 5 });

  it('finishes every task exactly once, after it arrived and began', () => {
    expect(run.tasks).toHaveLength(20);
    for (const t of run.tasks) {
      expect(t.finishCount).toBe(1);
      expect(t.beginMs!).toBeGreaterThanOrEqual(t.arrivalMs);
      expect(t.finishMs! - t.beginMs!).toBeCloseTo(t.workSeconds * 1000, 6);
    }
  });

  it('never sends a task to a node that lacks its checkpoint', () => {
    for (const t of run.tasks) {
      const held = nodes.find((n) => n.id === t.nodeId)!.checkpoints.map((cp) => cp.ref.id);
      expect(held).toContain(t.checkpointId);
    }
    expect(run.nodes.every((n) => n.capabilityViolations === 0)).toBe(true);
  });

  it('counts a load exactly when the checkpoint a node runs changes, and charges it', () => {
    for (const [nodeId, tasks] of byNode(run)) {
      const record = run.nodes.find((n) => n.id === nodeId)!;
      const speed = nodes.find((n) => n.id === nodeId)!.itPerSecond;
      let loaded: string | null = null;
      let switches = 0;
      for (const t of tasks) {
        const changes = t.checkpointId !== loaded;
        if (changes && loaded !== null) switches += 1;
        expect(t.switched).toBe(changes);
        expect(t.workSeconds).toBeCloseTo((changes ? SWITCH_SECONDS : 0) + 20 / speed, 9);
        loaded = t.checkpointId;
      }
      expect(record.firstLoads).toBe(1);
      expect(record.switches).toBe(switches);
      expect(record.jobs).toBe(tasks.length);
    }
  });
});

describe('the DAN run', () => {
  const run = simulate('dan', twoNodes(), twentyTasks(), { auditPositions: true, positionChecksPerEvent: 5 });

  it('never has more tasks on a node than its slots, and begins each task when it sends it', () => {
    for (const tasks of byNode(run).values()) {
      tasks.slice(1).forEach((t, i) => expect(t.beginMs!).toBeGreaterThanOrEqual(tasks[i]!.finishMs!));
    }
    expect(run.nodes.map((n) => n.maxHeld)).toEqual([1, 1]);
    for (const t of run.tasks) expect(t.beginMs).toBe(t.sentMs);
  });

  it('records an ETA for every task and audits positions against Scheduler.position', () => {
    expect(run.tasks.every((t) => t.etaSeconds !== null && t.expectedSeconds !== null)).toBe(true);
    expect(run.positions!.checked).toBeGreaterThan(0);
    expect(run.positions!.mismatches).toBe(0);
    expect(run.positions!.unexplained).toBe(0);
  });

  it('keeps a node with more slots within them', () => {
    const wide = simulate('dan', [node('wide', 20, [a, b], 2)], Array.from({ length: 6 }, (_, i) => task(i, i % 2 ? a : b)));
    expect(wide.tasks.every((t) => t.finishCount === 1)).toBe(true);
    expect(wide.nodes[0]!.maxHeld).toBe(2);
    expect(wide.nodes[0]!.slotViolations).toBe(0);
  });
});

describe('the baseline', () => {
  it('sends each task to the next capable node in round-robin order, busy or not', () => {
    const nodes = [node('n0', 20, [a, b]), node('n1', 10, [b, c]), node('n2', 10, [a, b, c])];
    const order = [b, b, b, b, c, a, c];
    const run = simulate('baseline', nodes, order.map((cp, i) => task(i, cp)));
    expect(run.tasks.map((t) => t.nodeId)).toEqual(['n0', 'n1', 'n2', 'n0', 'n1', 'n2', 'n1']);
    expect(run.nodes.map((n) => n.maxHeld)).toEqual([2, 3, 2]);
  });
});

describe('a simulated node', () => {
  const spec = node('solo', 10, [a, b]);
  const tasks = [a, a, b, a, c].map((cp, i) => task(i, cp));
  const ledger = new Ledger(tasks, [spec]);
  const solo = new SimNode(spec, 0, ledger);
  const bindingOf = (t: SimTask) => {
    const outcome = bindSpec(t.spec, spec.offering);
    return outcome.ok ? outcome.binding : { checkpoint: c.title, sampler: { sampler: 'Euler a', scheduler: null }, loras: [] };
  };
  const ends: number[] = [];
  for (const t of tasks) ledger.arrived(t);
  solo.submit({ task: tasks[0]!, binding: bindingOf(tasks[0]!), sentMs: 0 }, 0);
  for (const t of tasks.slice(1)) {
    const endMs = solo.endMs;
    ends.push(endMs);
    solo.finish(endMs);
    solo.submit({ task: t, binding: bindingOf(t), sentMs: endMs }, endMs);
  }

  it('pays the switch on the first load and on every change, not on a repeat', () => {
    expect(ends).toEqual([10_000, 12_000, 22_000, 32_000]);
    expect(solo.record.firstLoads).toBe(1);
    expect(solo.record.switches).toBe(3);
  });

  it('counts a task whose checkpoint it does not hold as a violation, and nothing else', () => {
    expect(solo.record.capabilityViolations).toBe(1);
    expect(solo.record.slotViolations).toBe(0);
  });

  it('reports the loaded checkpoint with each result', () => {
    expect(solo.reportedTitle).toBe(a.title);
  });
});

describe('node time', () => {
  const fast = node('fast', 20, [a]);
  const timing = { itPerSecond: 20, switchSeconds: SWITCH_SECONDS, latentUpscaleModes: LATENT_UPSCALE_MODES };
  const secondsOf = (spec: SimTask['spec'], loaded: string | null = a.title) => {
    const outcome = bindSpec(spec, fast.offering);
    if (!outcome.ok) throw new Error(outcome.missing.join(', '));
    return nodeWorkOf(toA1111Request(spec, outcome.binding), timing, loaded).seconds;
  };

  it('follows the sandbox model: size^0.72, second order ×2, ControlNet +30 %, hires at the target size', () => {
    const spec = makeTxt2Img(a, { width: 768, height: 768, steps: 25, sampler: 'DPM++ SDE', controlNet: [CANNY_UNIT], hires: { scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 } });
    const perStep = (side: number) => ((side * side) / (512 * 512)) ** 0.72 * 2 * 1.3 / 20;
    expect(secondsOf(spec)).toBeCloseTo(25 * perStep(768) + 25 * perStep(1152), 9);
    expect(secondsOf(spec, null)).toBeCloseTo(SWITCH_SECONDS + secondsOf(spec), 9);
  });

  it('charges a model upscaler 0.5 s per output megapixel and a latent one nothing', () => {
    const hires = (upscaler: string) => makeTxt2Img(a, { hires: { scale: 2, upscaler, denoisingStrength: 0.5 } });
    expect(secondsOf(hires('R-ESRGAN 4x+')) - secondsOf(hires('Latent'))).toBeCloseTo((1024 * 1024 * 0.5) / 1e6, 9);
  });
});

describe('the standard trace', () => {
  it('is the same for the same seed, and its fleet covers every checkpoint with a fast or mid node', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const trace = makeStandardTrace({ seed, taskCount: 40, load: 0.8, switchSeconds: SWITCH_SECONDS });
      const again = makeStandardTrace({ seed, taskCount: 40, load: 0.8, switchSeconds: SWITCH_SECONDS });
      expect(arrivalsOf(again, 'poisson')).toEqual(arrivalsOf(trace, 'poisson'));
      expect(trace.nodes).toHaveLength(STANDARD_FLEET.reduce((n, f) => n + f.count, 0));
      for (const n of trace.nodes) expect(n.checkpoints.length).toBeGreaterThanOrEqual(3);
      for (const n of trace.nodes) expect(n.checkpoints.length).toBeLessThanOrEqual(5);
      const strong = trace.nodes.filter((n) => n.speedClass !== 'slow').flatMap((n) => n.checkpoints.map((cp) => cp.name));
      for (const cp of trace.checkpoints) expect(strong).toContain(cp.name);
    }
  });
});

describe('the figures', () => {
  const record = (id: string, arrivalMs: number, beginMs: number, etaSeconds: number | null): TaskRecord => ({
    id,
    apiKey: 'k',
    checkpointId: a.ref.id,
    arrivalMs,
    sentMs: beginMs,
    beginMs,
    finishMs: beginMs + 1000,
    nodeId: 'n',
    switched: false,
    workSeconds: 1,
    expectedSeconds: 1,
    etaSeconds,
    sentOnArrival: etaSeconds === 0,
    finishCount: 1,
  });
  const tasks = [
    record('sent', 0, 0, 0), // within: no wait, none predicted
    record('floor', 0, 800, 0.1), // |0.1 − 0.8| ≤ 1 s floor
    record('close', 0, 40_000, 31), // 9 s off a 40 s wait ≤ 10 s
    record('far', 1000, 41_000, 29), // 11 s off a 40 s wait > 10 s
    record('none', 2000, 3000, null), // unplanned: a miss; begins before 'close' and 'far', which arrived earlier
    record('late', 3000, 4000, 1),
  ];
  const run: RunResult = { policy: 'dan', tasks, nodes: [], endMs: 42_000, positions: null, wallMs: 0 };
  const eta = summarize(run).eta!;

  it('judges ETAs within max(25 % of the wait, 1 s), unplanned ones as misses', () => {
    expect(eta.within).toBe(4);
    expect(eta.unplanned).toBe(1);
  });

  it('tells apart the tasks a later arrival began before', () => {
    expect(eta.overtaken).toBe(2);
    expect(eta.overtakenWithinShare).toBe(0.5);
    expect(eta.notOvertakenWithinShare).toBe(0.75);
  });
});

describe('longestCovered (bench:live: how long a node stood idle beside work it could run)', () => {
  it('joins overlapping waits, and not waits with a gap between them', () => {
    // One task waited 0–1 s, another 7–8.4 s: idle beside work for 1.4 s at most, not 8.4 s.
    expect(longestCovered([{ from: 0, to: 1 }, { from: 7, to: 8.4 }])).toBeCloseTo(1.4);
    expect(longestCovered([{ from: 0, to: 3 }, { from: 2, to: 5 }, { from: 5, to: 6 }, { from: 9, to: 9.5 }])).toBe(6);
    expect(longestCovered([{ from: 4, to: 4 }, { from: 5, to: 3 }])).toBe(0);
  });

  it('tells where that stretch lies (longestStretch), the joined one when it outgrows an earlier one', () => {
    expect(longestStretch([{ from: 0, to: 2 }, { from: 7, to: 8 }, { from: 7.5, to: 9.5 }])).toEqual({ from: 7, to: 9.5 });
    expect(longestStretch([{ from: 0, to: 3 }, { from: 7, to: 8 }])).toEqual({ from: 0, to: 3 });
    expect(longestStretch([{ from: 4, to: 4 }])).toBeUndefined();
  });
});
