/**
 * @module bench/schedule-ideal
 *
 * References for the wait tail that no scheduler of this fleet can be
 * expected to beat, on the same arrivals: the same nodes at the same speeds,
 * every checkpoint already loaded wherever it is held, and switches that cost
 * nothing. The ideal fleet also lets every node hold every checkpoint; the
 * second reference keeps each node to the checkpoints it holds, so the two
 * together separate what holdings cost from what switches cost.
 *
 * Tasks are served first come, first served: in arrival order, each goes to
 * the node that would begin it earliest (ties: the faster node), so a node
 * works whenever a task it can run waits, and no task is overtaken; or to the
 * node that would finish it earliest, which may keep a task waiting for a fast
 * node while a slow one is free. Each reference keeps the rule with the
 * smaller longest wait. A task's run is its work over the node's speed (the
 * time model is linear in 1 / it/s).
 */
import { spreadOf, type Spread } from './schedule-stats.js';
import type { SimTask } from './schedule-tasks.js';
import type { Trace } from './schedule-trace.js';

export const IdealRules = ['earliest start', 'earliest finish'] as const;
export type IdealRule = (typeof IdealRules)[number];

export interface IdealRun {
  /** True: every node holds every checkpoint; false: each node only those it holds. */
  everyCheckpoint: boolean;
  rule: IdealRule;
  wait: Spread;
  makespanSeconds: number;
}

/** One first-come-first-served pass of `tasks` under `rule`, switches free. */
export function idealFleet(trace: Pick<Trace, 'nodes' | 'workById'>, tasks: readonly SimTask[], rule: IdealRule, everyCheckpoint: boolean): IdealRun {
  const nodes = trace.nodes.map((n) => ({ speed: n.itPerSecond, holds: new Set(n.checkpoints.map((c) => c.ref.id)), freeAt: 0 }));
  const waits: number[] = [];
  let makespan = 0;
  for (const task of [...tasks].sort((a, b) => a.arrivalMs - b.arrivalMs)) {
    const arrival = task.arrivalMs / 1000;
    const work = trace.workById.get(task.id)!;
    let best: { node: (typeof nodes)[number]; score: number } | undefined;
    for (const node of nodes) {
      if (!everyCheckpoint && !node.holds.has(task.spec.model.id)) continue;
      const begin = Math.max(arrival, node.freeAt);
      const score = rule === 'earliest start' ? begin : begin + work / node.speed;
      const better = !best || score < best.score - 1e-9 || (score <= best.score + 1e-9 && node.speed > best.node.speed);
      if (better) best = { node, score };
    }
    if (!best) throw new Error(`no node holds the checkpoint of task ${task.id}`);
    const begin = Math.max(arrival, best.node.freeAt);
    best.node.freeAt = begin + work / best.node.speed;
    waits.push(begin - arrival);
    makespan = Math.max(makespan, best.node.freeAt);
  }
  return { everyCheckpoint, rule, wait: spreadOf(waits), makespanSeconds: makespan };
}

/** The ideal fleet, then the fleet's own holdings; each under the rule with the smaller longest wait. */
export function idealRuns(trace: Pick<Trace, 'nodes' | 'workById'>, tasks: readonly SimTask[]): IdealRun[] {
  return [true, false].map((everyCheckpoint) => {
    const [best] = IdealRules.map((rule) => idealFleet(trace, tasks, rule, everyCheckpoint)).sort((a, b) => a.wait.max - b.wait.max);
    return best!;
  });
}
