/**
 * @module scheduler/long-poles
 *
 * Work only some nodes can run (planner rule 0b). Queued tasks fall into
 * classes: same checkpoint, same available nodes able to run them. A group is
 * the node set of some class; its confined work is that of every class whose
 * nodes all lie in the group, work that can run nowhere else. When a group
 * would need at least as long for its confined work as the other nodes need
 * for all the rest of the queue, it is the long pole, and its lanes take
 * confined work before anything else. Left to fair order, that work trails
 * behind work any node could do, and the few nodes able to run it finish long
 * after the rest of the fleet has run dry: on the benchmark's all-at-once
 * trace, a checkpoint held by two mid nodes only (seed 5) or by the two fast
 * nodes and a slow one (seed 9) put the makespan at 1.22 and 1.11 × the bound.
 *
 * A single node is the group of the tasks only it can run: the first form of
 * the rule, which acts whatever the size of the queue. A group of two or more
 * nodes counts only once its confined work would take it `minGroupSeconds`:
 * under steady arrivals the queue holds seconds of work, a rare checkpoint's
 * share of it swings from one arrival to the next, and which nodes finish
 * last means nothing while arrivals keep moving the end. There the rule only
 * reshuffled the order against promises (ETAs within 25 % fell from 80.5–85.5 %
 * to 73–80 % of tasks on seeds 1–10), and never shortened a backlog.
 *
 * Groups are the classes' own node sets, not unions of them (a union of two
 * classes' nodes may be a long pole too; there are exponentially many unions).
 * Cost: building is linear in the tasks plus groups × classes; each pick tests
 * its node against every group (a handful: no per-node lists to build on
 * every pass over a thousand nodes).
 */
import { addNode, countAndSum, hasNode, isSubset, sameNodes, wordsFor } from './node-bits.js';
import type { DemandClass, PlanNode, PlanTask } from './plan-types.js';

interface TaskClass {
  checkpoint: string | null;
  /** The able nodes as a bit set (32 per word). */
  mask: Uint32Array;
  /** Task indices in service order; `from` skips the front ones already planned. */
  tasks: number[];
  from: number;
  /** The groups whose confined work includes this class. */
  groups: Group[];
}

interface Group {
  mask: Uint32Array;
  nodeCount: number;
  /** Units per second of the group's lanes together. */
  speed: number;
  /** Classes confined to the group. */
  classes: TaskClass[];
  /** Units of their unplanned tasks. */
  confinedUnits: number;
}

/** What `LongPoles.due` asks of the plan about a load for the pole (seconds from now). */
export interface PoleCosts {
  /** When the asking lane would be done loading `checkpoint`. */
  loadDone(checkpoint: string): number;
  /** When the nodes of `mask` that have `checkpoint` loaded would get through `units` of its work (Infinity: none has). */
  loadedFinish(checkpoint: string, mask: Uint32Array, units: number): number;
}

export class LongPoles {
  readonly #classOf: (TaskClass | undefined)[];
  /** Every group (a few: one per distinct node set of the classes). A node's are those whose mask has it. */
  readonly #groups: Group[] = [];
  readonly #fleetSpeed: number;
  #unplannedUnits = 0;

  /**
   * `laneSpeed`: per node, units per second of its lanes together (0 when it has none). `demand`: the
   * plan's grouping of the tasks by checkpoint and `capable` list (plan-state.ts); a class here joins
   * those whose available nodes are the same.
   */
  constructor(
    readonly tasks: readonly PlanTask[],
    nodes: readonly PlanNode[],
    laneSpeed: Float64Array,
    readonly minGroupSeconds: number,
    demand: { classes: readonly DemandClass[]; classOf: Int32Array },
  ) {
    let fleetSpeed = 0;
    for (let node = 0; node < laneSpeed.length; node++) fleetSpeed += laneSpeed[node]!;
    this.#fleetSpeed = fleetSpeed;
    const words = wordsFor(nodes.length);
    const byCheckpoint = new Map<string | null, TaskClass[]>();
    const classFor = ({ checkpoint, capable }: DemandClass): TaskClass | undefined => {
      const mask = new Uint32Array(words);
      let able = 0;
      for (const n of capable) {
        if (!nodes[n]?.available) continue;
        addNode(mask, 0, n);
        able += 1;
      }
      if (able === 0) return undefined;
      let list = byCheckpoint.get(checkpoint);
      if (!list) byCheckpoint.set(checkpoint, (list = []));
      let taskClass = list.find((c) => sameNodes(c.mask, mask));
      if (!taskClass) list.push((taskClass = { checkpoint, mask, tasks: [], from: 0, groups: [] }));
      return taskClass;
    };
    const ofDemand = demand.classes.map(classFor);
    this.#classOf = tasks.map((task, i) => {
      this.#unplannedUnits += task.units;
      const taskClass = ofDemand[demand.classOf[i]!];
      taskClass?.tasks.push(i);
      return taskClass;
    });
    const classes = [...byCheckpoint.values()].flat();
    const groups = this.#groups;
    for (const { mask } of classes) {
      if (groups.some((g) => sameNodes(g.mask, mask))) continue;
      const { count: nodeCount, sum: speed } = countAndSum(mask, laneSpeed);
      // A group of the whole fleet has no other nodes to be slower than.
      if (speed <= 0 || speed >= this.#fleetSpeed - 1e-9) continue;
      const group: Group = { mask, nodeCount, speed, classes: classes.filter((c) => isSubset(c.mask, mask)), confinedUnits: 0 };
      groups.push(group);
      for (const c of group.classes) c.groups.push(group);
    }
    // Plain loops: this runs over the whole horizon on every pass.
    for (let i = 0; i < tasks.length; i++) {
      const groupsOfTask = this.#classOf[i]?.groups;
      if (groupsOfTask) for (let g = 0; g < groupsOfTask.length; g++) groupsOfTask[g]!.confinedUnits += tasks[i]!.units;
    }
  }

  markPlanned(index: number): void {
    const units = this.tasks[index]!.units;
    this.#unplannedUnits -= units;
    const groupsOfTask = this.#classOf[index]?.groups;
    if (groupsOfTask) for (let g = 0; g < groupsOfTask.length; g++) groupsOfTask[g]!.confinedUnits -= units;
  }

  /**
   * The task `node` should take because a group it belongs to is the long
   * pole; undefined when none is. Groups furthest behind (their time over the
   * others') first; of a group's confined work that the node can run, the
   * first in service order on the `loaded` checkpoint (no switch), else the
   * first in service order. A group's confined work may all be of classes
   * this node cannot run (a checkpoint only its partner holds): then the next. Nor a task it must load a
   * checkpoint for when the group's nodes that have it loaded would get through its confined work before
   * that load was done (`costs`, fluid: from the first of them to free, at their speed together): the load
   * would add nothing to the pole (a live trial: a node whose loads take 30 s
   * loaded the pole's checkpoint with 25 s of the group's work left, and ran one task of it).
   */
  due(node: number, loaded: string | null, planned: Uint8Array, costs: PoleCosts): number | undefined {
    const poles: { group: Group; pressure: number }[] = [];
    for (const group of this.#groups) {
      if (!hasNode(group.mask, 0, node)) continue;
      if (group.confinedUnits <= 1e-9) continue;
      const mine = group.confinedUnits / group.speed;
      if (group.nodeCount > 1 && mine < this.minGroupSeconds) continue;
      const rest = (this.#unplannedUnits - group.confinedUnits) / (this.#fleetSpeed - group.speed);
      if (mine >= rest) poles.push({ group, pressure: rest > 0 ? mine / rest : Infinity });
    }
    for (const { group } of poles.sort((a, b) => b.pressure - a.pressure)) {
      const found = firstConfined(group, node, loaded, planned);
      if (found === undefined) continue;
      const checkpoint = this.#classOf[found]?.checkpoint ?? null;
      if (checkpoint === null || checkpoint === loaded) return found;
      // Against the group's nodes that have it loaded (in the plan so far): those that must load it too are no quicker.
      if (costs.loadDone(checkpoint) < costs.loadedFinish(checkpoint, group.mask, group.confinedUnits)) return found;
    }
    return undefined;
  }
}

function firstConfined(group: Group, node: number, loaded: string | null, planned: Uint8Array): number | undefined {
  let first: number | undefined;
  let onLoaded: number | undefined;
  for (const taskClass of group.classes) {
    if (!hasNode(taskClass.mask, 0, node)) continue;
    while (taskClass.from < taskClass.tasks.length && planned[taskClass.tasks[taskClass.from]!] === 1) taskClass.from++;
    const front = taskClass.tasks[taskClass.from];
    if (front === undefined) continue;
    if (first === undefined || front < first) first = front;
    const noSwitch = taskClass.checkpoint === null || taskClass.checkpoint === loaded;
    if (noSwitch && (onLoaded === undefined || front < onLoaded)) onLoaded = front;
  }
  return onLoaded ?? first;
}
