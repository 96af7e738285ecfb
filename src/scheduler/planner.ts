/**
 * @module scheduler/planner
 *
 * The plan: for every queued task, in service order, the node that would
 * finish it earliest, given what each node is doing now, how fast it is, and
 * what it has loaded. Earliest-finish-time list scheduling, with a checkpoint
 * switch counted as part of the work:
 *
 *   finish(task, node) = lane free at + (switch seconds if the node must load
 *                        another checkpoint) + units / node speed
 *
 * This one rule gives the affinity policy: a task goes to a node that has its
 * checkpoint loaded unless another node, even after paying the switch, would
 * finish it sooner (say because the loaded nodes are backed up by more than a
 * switch's worth of work); a free node is switched only when that is the
 * earliest way to get some queued task done, and otherwise waits; big tasks
 * at the end of a run go to nodes fast enough to finish them first.
 *
 * The dispatcher sends each free lane the first task planned on it; the rest
 * of the plan gives every queued task its estimated start (ETA). Pure: times
 * are seconds from "now", no clock, no I/O.
 */

export interface PlanTask {
  id: string;
  units: number;
  /** Checkpoint identity the task needs, or null. */
  checkpoint: string | null;
  /** Indices (into the node list) of the nodes that can run it. */
  capable: readonly number[];
}

export interface PlanNode {
  id: string;
  unitsPerSecond: number;
  switchSeconds: number;
  /** When each slot frees, in seconds from now (0 = free now). */
  lanes: readonly number[];
  /** Checkpoint identity loaded (after the task it runs now), or null if unknown. */
  loaded: string | null;
  /** False for nodes that must get no new work (backend down, draining, set aside). */
  available: boolean;
}

export interface Plan {
  /** Tasks to send now: the first task planned on each free lane. */
  assignments: { taskId: string; nodeId: string }[];
  /** Estimated start of each planned task, seconds from now. */
  startAt: Map<string, number>;
  /** Estimated node of each planned task. */
  nodeOf: Map<string, string>;
}

interface LaneState {
  freeAt: number[];
  loaded: string | null;
}

function bestNode(task: PlanTask, nodes: readonly PlanNode[], state: LaneState[]) {
  let best: { index: number; lane: number; start: number; finish: number; switched: boolean } | undefined;
  for (const index of task.capable) {
    const node = nodes[index]!;
    if (!node.available) continue;
    const lanes = state[index]!;
    let lane = 0;
    for (let l = 1; l < lanes.freeAt.length; l++) if (lanes.freeAt[l]! < lanes.freeAt[lane]!) lane = l;
    const start = lanes.freeAt[lane]!;
    const switched = task.checkpoint !== null && task.checkpoint !== lanes.loaded;
    const finish = start + (switched ? node.switchSeconds : 0) + task.units / node.unitsPerSecond;
    const better =
      !best ||
      finish < best.finish - 1e-9 ||
      (Math.abs(finish - best.finish) <= 1e-9 && (Number(switched) < Number(best.switched) || node.unitsPerSecond > nodes[best.index]!.unitsPerSecond));
    if (better) best = { index, lane, start, finish, switched };
  }
  return best;
}

/** Plans `tasks` (in service order) onto `nodes`. */
export function planTasks(tasks: readonly PlanTask[], nodes: readonly PlanNode[]): Plan {
  const state: LaneState[] = nodes.map((n) => ({ freeAt: n.lanes.length > 0 ? [...n.lanes] : [0], loaded: n.loaded }));
  const plan: Plan = { assignments: [], startAt: new Map(), nodeOf: new Map() };
  const claimed = new Set<string>();
  for (const task of tasks) {
    const best = bestNode(task, nodes, state);
    if (!best) continue;
    const node = nodes[best.index]!;
    const lanes = state[best.index]!;
    plan.startAt.set(task.id, best.start);
    plan.nodeOf.set(task.id, node.id);
    const laneKey = `${best.index}:${best.lane}`;
    if (best.start <= 0 && !claimed.has(laneKey)) {
      claimed.add(laneKey);
      plan.assignments.push({ taskId: task.id, nodeId: node.id });
    }
    lanes.freeAt[best.lane] = best.finish;
    if (task.checkpoint !== null) lanes.loaded = task.checkpoint;
  }
  return plan;
}
