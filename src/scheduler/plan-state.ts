/**
 * @module scheduler/plan-state
 *
 * The working state of one plan (planner.ts): which tasks are planned, each
 * lane's time, what each node will have loaded, and the indexes that keep the
 * planner's rules cheap on long queues (promised tasks that have come due,
 * work only some nodes can run: long-poles.ts). Built fresh for every plan, in
 * arrays of its own or, for a plan dropped before the next, pooled ones
 * (plan-buffers.ts); pure.
 */
import { type Lane, LaneQueue } from './lane-queue.js';
import { CheckpointSupply } from './checkpoint-supply.js';
import { LongPoles } from './long-poles.js';
import { OWN_BUFFERS, type PlanArrays } from './plan-buffers.js';
import { addNode, hasNode, wordsFor } from './node-bits.js';
import { firstAtLeast } from '../util/sorted-numbers.js';
import { type DemandClass, type LoadBoundsReader, loadSecondsOf, type PlanNode, type PlanTask } from './plan-types.js';

export type { Lane } from './lane-queue.js';

/** Older urgent tasks left to a node (`urgent`): when it would finish them, and the checkpoint it has loaded then. */
interface Claim {
  finish: number;
  checkpoint: string | null;
}

/**
 * How many of its loads a lane must gain to take an urgent task older ones were left to another node before
 * (`urgent`). At none, lanes in a long overload switched to each other's backlogs (simulated seed 2: 78 →
 * 140 s). At two, the second holder of a rare checkpoint left the end of a batch to the first: on seed 2 a
 * mid node ran four urgent tasks of f one after another (the last began after 87 s) while the other node
 * that holds f, free 10 s after the first began, was two loads short of gaining on the last two and kept its
 * own work. With one, over 30 seeds with two jittered runs each, 17 and 21 of 90 runs had a wait over 80 s
 * (warm, cold) against 23 and 24 (seeds 1–30 unjittered: 5 and 6 over 80 s against 7 and 7; at a half 5 and
 * 5, at 1.5 7 and 7). It never acts on a burst: all-at-once makespans are unchanged.
 */
const CLAIMED_SWITCH_MARGIN = 1;
/**
 * The most nodes `urgent` compares in one pick (each urgent task it looks at, against every other node able
 * to run it), once it has left a task to another node: past that, the younger urgent tasks wait for later
 * picks. Unbounded, a queue with many urgent tasks over a thousand nodes cost every pick each of them
 * against 500 nodes: a pass planning 64 lanes took 27 ms (a made-up queue of 2,000 tasks, a tenth of
 * them urgent), 1.7 ms with this bound. The simulated fleets of eight nodes never reach it (bench:schedule
 * and its 30 seeds: the same plans).
 */
const URGENT_NODE_LOOKS = 1024;

/** How many due promises of each checkpoint `overduePromise` looks at, from the front in service order. */
const OVERDUE_LOOKS = 16;
/** How many entries of each list it steps through to find them (planned ones left behind a stuck front). */
const OVERDUE_STEPS = 256;

/**
 * The queue drains (`drains`) while the work that arrived over the last `DRAIN_WINDOW_LOADS` of a node's
 * typical loads is under `DRAIN_SHARE` of what the fleet gets through meanwhile: a burst being served, not
 * steady arrivals. The window is at least the time the fleet takes for `DRAIN_WINDOW_TASKS` tasks of the
 * queue's mean size: where loads are short beside runs (1 s loads, 10 s runs), two loads' time often holds
 * no arrival under steady load at all.
 */
const DRAIN_WINDOW_LOADS = 2;
const DRAIN_WINDOW_TASKS = 4;
const DRAIN_SHARE = 0.3;

/** How many times slower than the fastest node a lane is before it leaves even a due promise (`othersClearFirst`). */
const FAR_SLOWER = 4;

export class PlanState {
  readonly planned: Uint8Array;
  unplanned: number;
  /** Queued tasks past the plan's (`PlanOptions.beyondTasks`). */
  readonly #beyondTasks: number;
  /** `PlanOptions.arrivedUnits`: the work that keeps coming, for `#othersClearFirst`. */
  readonly #arrivedUnits: (seconds: number) => number;
  /** Units of the unplanned tasks (`markPlanned` takes each off): the work left, for `#othersClearFirst`. */
  #unplannedUnits = 0;
  /**
   * Units per second one lane of each node gets through, its fixed cost per task included (`throughputs`):
   * what a node's share of a queue is measured in. Its speed alone made a node whose run times barely grow
   * with the work (a fit of 10^6 units/s and 1.4 s fixed) clear any queue at once.
   */
  readonly #throughput: Float64Array;
  /** Units of the plan's mean task (`throughputs`, `drains`). */
  readonly #meanUnits: number;
  /** `drains`, per window: the arrivals it reads do not change during a plan, and every pick with a due promise asks. */
  readonly #drainsBy = new Map<number, boolean>();
  /**
   * Each node's fixed seconds per task and units per second, and 1 where it is available: the figures a run's
   * time is worked out from, read for every node able to run a task (`betterElsewhere`), from arrays rather
   * than from a thousand objects spread over the heap.
   */
  readonly #fixedOf: Float64Array;
  readonly #speedOf: Float64Array;
  readonly #availableOf: Uint8Array;
  /** `#throughput` times each node's lanes, available nodes only. */
  readonly #laneSpeed: Float64Array;
  /** Per `capable` list: the work its nodes' lanes hold past a time (`#busyPast`). */
  readonly #busy = new Map<readonly number[], { version: number; at: number; sum: number }>();
  /** Per `capable` list: its available nodes' lanes and their throughput together (`#othersClearFirst`). */
  readonly #capacity = new Map<readonly number[], { lanes: number; unitsPerSecond: number }>();
  /** Steps taken and tasks looked at so far: the plan's budget (planner.ts) counts them. */
  work = 0;
  /**
   * Which nodes can run each task (node-bits.ts): one set per distinct `capable` list, `#words` words
   * each, and each task's set. Most tasks share a handful of lists (the scheduler hands equal lists over
   * as one array), so a plan builds sets per list, not per task.
   */
  readonly #capableBits: Uint32Array;
  readonly #setOf: Int32Array;
  /** Tasks by checkpoint and node set (`switchTarget` sums them instead of walking the queue), and each task's. */
  readonly demandClasses: DemandClass[] = [];
  readonly #demandOf: Int32Array;
  readonly #words: number;
  /** What each node will have loaded at the plan's current step (`loaded`; changed by `load`). */
  readonly #loaded: (string | null)[];
  /**
   * Per checkpoint: the available nodes the plan has it loaded on, ascending, and one lane's speed of each
   * summed (`covered`: kept as the plan goes, so a lane that asks at every pass does not walk them).
   */
  readonly #loadedOn = new Map<string, { nodes: number[]; speed: number }>();
  readonly #lanes: LaneQueue;
  /** `#boundsOf`, per `capable` list. */
  readonly #bounds = new Map<readonly number[], { leastFixed: number; mostSpeed: number }>();
  /** Per node: index before which every task is planned or beyond its reach. */
  readonly headFrom: number[];
  /** Indices of the tasks with a promised start, earliest promise first. */
  readonly byPromise: number[];
  /** How far `due` has moved through `byPromise`. */
  #promiseCursor = 0;
  /** Tasks whose promised start has come, by checkpoint, in service order. */
  readonly #dueByCheckpoint = new Map<string | null, number[]>();
  /** Work only some nodes can run (rule 0b). */
  readonly #longPoles: LongPoles;
  /** Each class's loaded speed, each checkpoint's load costs (rules 0' and 0c). */
  readonly #supply: CheckpointSupply;
  /** Units of the queue past the plan's (`PlanOptions.beyondUnits`). */
  #beyondUnits = 0;
  /** Task indices by checkpoint, in service order, with a skip list over the planned ones. */
  readonly #byCheckpoint = new Map<string | null, { tasks: number[]; next: Int32Array }>();
  /** Each task's place in its checkpoint's list. */
  readonly #placeInList: Int32Array;
  /** Skip list over planned tasks in service order: `unplannedFrom(#skipPlanned, i)` is the first unplanned index ≥ i. */
  readonly #skipPlanned: Int32Array;
  /** Fenwick tree over `planned` (see `#plannedBefore`). */
  readonly #plannedTree: Int32Array;
  /** Task indices, longest waited first (ties in service order). */
  readonly #byAge: Int32Array;
  /** Each task's place in `#byAge`. */
  readonly #ageRank: Int32Array;
  /** Fenwick tree over `#byAge` places: 1 while that task is unplanned (see `#medianWaited`). */
  readonly #unplannedByAge: Int32Array;
  /** Places in `#byAge` before this one are all planned. */
  #oldestFrom = 0;

  constructor(
    readonly tasks: readonly PlanTask[],
    readonly nodes: readonly PlanNode[],
    {
      longPoleSeconds,
      beyondTasks = 0,
      beyondUnits = new Map(),
      arrivedUnits = () => 0,
      loadBounds,
    }: { longPoleSeconds: number; beyondTasks?: number; beyondUnits?: ReadonlyMap<string | null, number>; arrivedUnits?: (seconds: number) => number; loadBounds?: LoadBoundsReader | undefined },
    arrays: PlanArrays = OWN_BUFFERS,
  ) {
    this.#beyondTasks = beyondTasks;
    this.#arrivedUnits = arrivedUnits;
    arrays.start();
    this.planned = arrays.uint8(tasks.length);
    this.unplanned = tasks.length;
    this.#words = wordsFor(nodes.length);
    // One pass groups the tasks by `capable` list (node sets) and by list and checkpoint (demand classes).
    const sets = new Map<readonly number[], { set: number; byCheckpoint: Map<string | null, number> }>();
    this.#setOf = arrays.int32(tasks.length);
    this.#demandOf = arrays.int32(tasks.length);
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      let known = sets.get(task.capable);
      if (!known) sets.set(task.capable, (known = { set: sets.size, byCheckpoint: new Map() }));
      let index = known.byCheckpoint.get(task.checkpoint);
      if (index === undefined) {
        known.byCheckpoint.set(task.checkpoint, (index = this.demandClasses.length));
        this.demandClasses.push({ checkpoint: task.checkpoint, capable: task.capable, set: known.set, tasks: [], from: 0, count: 0, units: 0 });
      }
      const demand = this.demandClasses[index]!;
      demand.tasks.push(i);
      demand.count += 1;
      demand.units += task.units;
      this.#unplannedUnits += task.units;
      this.#setOf[i] = known.set;
      this.#demandOf[i] = index;
    }
    this.#capableBits = new Uint32Array(sets.size * this.#words);
    for (const [capable, { set }] of sets) for (const node of capable) addNode(this.#capableBits, set * this.#words, node);
    this.#loaded = nodes.map((n) => n.loaded);
    this.#meanUnits = tasks.length > 0 ? this.#unplannedUnits / tasks.length : 0;
    this.#throughput = throughputs(nodes, this.#meanUnits, arrays);
    this.#fixedOf = arrays.float64(nodes.length);
    this.#speedOf = arrays.float64(nodes.length);
    this.#availableOf = arrays.uint8(nodes.length);
    for (let node = 0; node < nodes.length; node++) {
      const n = nodes[node]!;
      this.#fixedOf[node] = n.fixedSeconds ?? 0;
      this.#speedOf[node] = n.unitsPerSecond;
      this.#availableOf[node] = n.available ? 1 : 0;
    }
    nodes.forEach((n, node) => {
      if (!n.available || n.loaded === null) return;
      const on = this.#loadedSet(n.loaded);
      on.nodes.push(node);
      on.speed += this.#throughput[node]!;
    });
    this.#lanes = new LaneQueue(nodes, arrays);
    this.headFrom = nodes.map(() => 0);
    this.byPromise = [];
    tasks.forEach((t, i) => t.promisedAt !== undefined && this.byPromise.push(i));
    this.byPromise.sort((a, b) => tasks[a]!.promisedAt! - tasks[b]!.promisedAt!);
    const laneSpeed = arrays.float64(nodes.length);
    for (const lane of this.lanes) laneSpeed[lane.node]! += this.#throughput[lane.node]!;
    this.#laneSpeed = laneSpeed;
    this.#longPoles = new LongPoles(tasks, nodes, laneSpeed, longPoleSeconds, { classes: this.demandClasses, classOf: this.#demandOf });
    for (const units of beyondUnits.values()) this.#beyondUnits += units;
    this.#supply = new CheckpointSupply(
      {
        nodes,
        laneSpeed,
        classes: this.demandClasses,
        serves: (taskClass, node) => this.serves(taskClass, node),
        frontOf: (taskClass) => this.frontOf(taskClass),
        loadSeconds: (node, checkpoint) => this.loadSeconds(node, checkpoint),
        loadedSpeed: (checkpoint, taskClass) => this.#loadedCapacity(checkpoint, (node) => this.serves(taskClass, node)).speed,
      },
      this.#loaded,
      loadBounds,
    );
    this.#placeInList = arrays.int32(tasks.length);
    const lists = new Map<string | null, number[]>();
    tasks.forEach((task, i) => {
      const list = lists.get(task.checkpoint) ?? [];
      this.#placeInList[i] = list.length;
      list.push(i);
      lists.set(task.checkpoint, list);
    });
    for (const [checkpoint, list] of lists) {
      const next = arrays.int32(list.length + 1);
      for (let k = 0; k < next.length; k++) next[k] = k;
      this.#byCheckpoint.set(checkpoint, { tasks: list, next });
    }
    this.#skipPlanned = arrays.int32(tasks.length + 1);
    for (let k = 0; k <= tasks.length; k++) this.#skipPlanned[k] = k;
    this.#plannedTree = arrays.int32(tasks.length + 1);
    this.#byAge = longestWaitedFirst(tasks, arrays);
    this.#ageRank = arrays.int32(tasks.length);
    this.#byAge.forEach((index, rank) => (this.#ageRank[index] = rank));
    this.#unplannedByAge = arrays.int32(tasks.length + 1);
    for (let place = 1; place <= tasks.length; place++) {
      this.#unplannedByAge[place]! += 1;
      const parent = place + (place & -place);
      if (parent <= tasks.length) this.#unplannedByAge[parent]! += this.#unplannedByAge[place]!;
    }
  }

  /** Tasks still queued at the plan's current step: the unplanned ones and those past the plan's. */
  get queued(): number {
    return this.unplanned + this.#beyondTasks;
  }

  markPlanned(index: number): void {
    this.planned[index] = 1;
    this.#skipPlanned[index] = index + 1;
    for (let i = index + 1; i < this.#plannedTree.length; i += i & -i) this.#plannedTree[i]! += 1;
    const list = this.#byCheckpoint.get(this.tasks[index]!.checkpoint)!;
    list.next[this.#placeInList[index]!] = this.#placeInList[index]! + 1;
    this.unplanned -= 1;
    const demand = this.demandClasses[this.#demandOf[index]!]!;
    demand.count -= 1;
    demand.units -= this.tasks[index]!.units;
    this.#unplannedUnits -= this.tasks[index]!.units;
    this.#longPoles.markPlanned(index);
    for (let i = this.#ageRank[index]! + 1; i < this.#unplannedByAge.length; i += i & -i) this.#unplannedByAge[i]! -= 1;
  }

  /**
   * The longest-waiting task this lane can run that has been left behind: by
   * `lane.freeAt` it will have waited at least `urgentAge` of the median wait
   * of the tasks still unplanned then (all waits grow alike, so this counts
   * the tasks that will have left the queue by then, and a replan at that time
   * finds the same task). Not when another node would finish it sooner: that
   * node's lane takes it. A switch is no obstacle: that is the point.
   * "Sooner" counts the older urgent tasks left to that node before: one node
   * that has a rare checkpoint loaded finishes any one of its tasks sooner
   * than a node that must load it, but not the tenth of them (simulated seed
   * 4: a burst of one checkpoint waited 95 s on a single node while three
   * other nodes that have it served work that had waited half as long). Then
   * a lane that must load the task's checkpoint takes it only when it would
   * finish it sooner by one of its loads (`CLAIMED_SWITCH_MARGIN`): in a long
   * overload, lanes that switched to each other's backlogs at any gain
   * thrashed (seed 2: the longest wait went from 78 s to 140 s).
   */
  urgent(lane: Lane, urgentAge: (medianWaited: number) => number): number | undefined {
    if (this.unplanned === 0) return undefined;
    while (this.#oldestFrom < this.tasks.length && this.planned[this.#byAge[this.#oldestFrom]!] === 1) this.#oldestFrom++;
    const threshold = urgentAge(this.#medianWaited() + lane.freeAt) - lane.freeAt;
    // Per other node: the older urgent tasks left to it, as when it would finish them and with what loaded.
    // Only tasks this lane can run count (counting the others too lengthened the simulated tail: with them,
    // Poisson seeds over 80 s went from 5 to 11 of 30).
    let claimed: Map<number, Claim> | undefined;
    let looks = 0;
    for (let place = this.#oldestFrom; place < this.tasks.length; place++) {
      const index = this.#byAge[place]!;
      if (!(this.tasks[index]!.waitedSeconds >= threshold)) break;
      if (!this.servable(index, lane.node)) continue;
      if ((looks += this.tasks[index]!.capable.length) > URGENT_NODE_LOOKS && claimed !== undefined) break;
      const sooner = this.#finishesSoonerElsewhere(index, lane, claimed);
      if (sooner === undefined) return index;
      (claimed ??= new Map()).set(sooner.node, { finish: sooner.finish, checkpoint: this.tasks[index]!.checkpoint });
    }
    return undefined;
  }

  /** The median (nearest rank) of the unplanned tasks' waits: a descent of the Fenwick tree over `#byAge`. */
  #medianWaited(): number {
    let rank = this.unplanned - Math.ceil(this.unplanned / 2) + 1;
    let place = 0;
    for (let step = 1 << Math.floor(Math.log2(this.tasks.length)); step > 0; step >>= 1) {
      const next = place + step;
      if (next < this.#unplannedByAge.length && this.#unplannedByAge[next]! < rank) {
        place = next;
        rank -= this.#unplannedByAge[next]!;
      }
    }
    return this.tasks[this.#byAge[place]!]!.waitedSeconds;
  }

  /**
   * The other node that would finish task `index` soonest, if sooner than `lane`, after the tasks `claimed`
   * gives it first. Once older urgent tasks were left to other nodes, a lane that must load the checkpoint
   * takes one only when it finishes it sooner by `CLAIMED_SWITCH_MARGIN` of its loads than any other node (`urgent`). (The
   * margin against only the nodes with claims was tried: over 30 simulated seeds, 7 rather than 5 had a
   * wait over 80 s.)
   */
  #finishesSoonerElsewhere(index: number, lane: Lane, claimed: ReadonlyMap<number, Claim> | undefined): { node: number; finish: number } | undefined {
    const task = this.tasks[index]!;
    const margin = claimed === undefined ? 0 : CLAIMED_SWITCH_MARGIN * this.switchCost(index, lane.node);
    const mine = this.#finishFrom(index, lane) + margin - 1e-9;
    let best: { node: number; finish: number } | undefined;
    for (const node of task.capable) {
      if (node === lane.node || this.#availableOf[node] === 0) continue;
      const claim = claimed?.get(node);
      // Its finish without a load first: a node not sooner even so needs no lookup of its load (as in
      // `betterElsewhere`; over a thousand nodes these lookups were half of an ETA plan, bench:plan-shapes).
      const from = claim === undefined ? this.#lanes.freeAtOf(node) : claim.finish;
      const run = this.#run(task, node);
      if (from + run >= (best === undefined ? mine : Math.min(mine, best.finish))) continue;
      // After its claims, the node has their checkpoint loaded: another one costs a load.
      const load = claim === undefined || task.checkpoint === null || task.checkpoint === claim.checkpoint ? 0 : this.loadSeconds(node, task.checkpoint);
      const finish = claim === undefined ? from + this.switchCost(index, node) + run : from + load + run;
      if (finish < mine && (best === undefined || finish < best.finish)) best = { node, finish };
    }
    return best;
  }

  /**
   * The front task of a checkpoint this lane should load although work for the one it has waits
   * (checkpoint-supply.ts), or undefined: not when another node would finish that task sooner.
   */
  undersupplied(lane: Lane, minLoads: number, minHorizon: number): number | undefined {
    const loaded = this.loaded[lane.node];
    if (loaded === null || loaded === undefined) return undefined;
    const looks = this.#supply.looks;
    const found = this.#supply.moveFor(lane.node, loaded, this.#unplannedUnits + this.#beyondUnits, minLoads, minHorizon);
    // Each task class looked at counts in the plan's work budget: over thousands of nodes of unlike loads and
    // thousands of classes, this rule alone made a whole plan take seconds; past the budget the rest is estimated.
    this.work += this.#supply.looks - looks;
    return found === undefined || this.betterElsewhere(found, lane) ? undefined : found;
  }

  /**
   * A task whose promise is overdue by one of this lane's loads of its checkpoint, when no lane kept it
   * without a switch (rule 0 never switches), and the nodes that have this lane's checkpoint loaded get
   * through that checkpoint's work within the time the fleet needs for the queue without it. The one
   * promised earliest; not when another node would finish it sooner.
   */
  overduePromise(lane: Lane): number | undefined {
    if (this.#dueByCheckpoint.size === 0) return undefined;
    const loaded = this.loaded[lane.node] ?? null;
    let found: number | undefined;
    for (const [checkpoint, list] of this.#dueByCheckpoint) {
      if (checkpoint === null || checkpoint === loaded) continue;
      this.#dropPlannedFront(list);
      const load = this.loadSeconds(lane.node, checkpoint);
      // The front of each list only: a long overload has thousands of due promises, and every pick asks.
      // Planned entries behind a front no lane can run are passed over, not counted.
      for (let k = 0, looked = 0; k < list.length && looked < OVERDUE_LOOKS && k < OVERDUE_STEPS; k++) {
        const i = list[k]!;
        if (this.planned[i] === 1) continue;
        looked += 1;
        if (this.tasks[i]!.promisedAt! > lane.freeAt - load) continue;
        if (!this.servable(i, lane.node)) continue;
        if (found === undefined || this.tasks[i]!.promisedAt! < this.tasks[found]!.promisedAt!) found = i;
        break;
      }
    }
    if (found === undefined || this.betterElsewhere(found, lane) || this.#loadedFinishesSooner(found, lane)) return undefined;
    if (loaded === null) return found;
    // While the queue drains, another node with it loaded that can run the work is enough (see `drains`).
    const horizon = this.drains(lane.node) ? Infinity : this.#supply.horizon(this.#unplannedUnits + this.#beyondUnits);
    return this.#supply.coveredWithout(lane.node, loaded, horizon) ? found : undefined;
  }

  /**
   * `overduePromise`'s task when it was promised one of this lane's loads before the due task `due` and the
   * queue drains (planner rule 0 yields to it), or undefined. Rule 0 never switches, so without this the due
   * promises of a checkpoint every node had loaded came first until the end of a burst, while the promises
   * of another checkpoint, made earlier, waited: `bench:speeds -- big-burst`, told 3-5 s, began at 68-80 s.
   */
  owedBefore(due: number, lane: Lane): number | undefined {
    // Under steady arrivals (most passes with due promises) nothing more is looked at.
    if (!this.drains(lane.node)) return undefined;
    const owed = this.overduePromise(lane);
    if (owed === undefined) return undefined;
    const load = this.loadSeconds(lane.node, this.tasks[owed]!.checkpoint!);
    return this.tasks[owed]!.promisedAt! <= this.tasks[due]!.promisedAt! - load ? owed : undefined;
  }

  /**
   * Whether the queue drains, as `node` sees it: less work arrived over the last `DRAIN_WINDOW_LOADS` of its
   * typical loads (or `DRAIN_WINDOW_TASKS` of the fleet's mean runs) than `DRAIN_SHARE` of what the fleet
   * gets through in that time. Rule 0' then keeps an overdue promise
   * without asking whether the lane's own checkpoint is covered. That check keeps a lane from leaving
   * work that keeps coming to fewer nodes (under steady arrivals the switches cost capacity, and every
   * wait grows: simulated seeds with it dropped, runs with a wait over 80 s went from 17-21 to 31 of 90).
   * A burst being served brings no more work: leaving its majority checkpoint costs a load or two, while
   * keeping it broke the promises of a checkpoint whose work was too small ever to be "not needed" there.
   * Work of the lane's checkpoint that no other node with it loaded can run still keeps the lane.
   */
  drains(node: number): boolean {
    // The fleet's seconds per unit of work (checkpoint-supply.ts sums its speed); Infinity with no fleet.
    const perUnit = this.#supply.horizon(1);
    if (!Number.isFinite(perUnit)) return false;
    const window = Math.max(DRAIN_WINDOW_LOADS * this.nodes[node]!.switchSeconds, DRAIN_WINDOW_TASKS * this.#meanUnits * perUnit);
    let drains = this.#drainsBy.get(window);
    if (drains === undefined) {
      drains = window > 0 && this.#arrivedUnits(window) * perUnit < DRAIN_SHARE * window;
      this.#drainsBy.set(window, drains);
    }
    return drains;
  }

  /** Whether a node that has task `index`'s checkpoint loaded and can run it would finish it sooner than `lane`. */
  #loadedFinishesSooner(index: number, lane: Lane): boolean {
    const checkpoint = this.tasks[index]!.checkpoint;
    const loadedOn = checkpoint === null ? undefined : this.#loadedOn.get(checkpoint)?.nodes;
    if (!loadedOn) return false;
    const mine = this.#finishFrom(index, lane);
    const set = this.#setOf[index]! * this.#words;
    for (const node of loadedOn) {
      if (node !== lane.node && hasNode(this.#capableBits, set, node) && this.finishOn(index, node) < mine - 1e-9) return true;
    }
    return false;
  }

  /** The nodes that have `checkpoint` loaded at the plan's current step and that `counts`: their lanes' speed together, and when the first frees. */
  #loadedCapacity(checkpoint: string, counts: (node: number) => boolean): { speed: number; firstFree: number } {
    let speed = 0;
    let firstFree = Infinity;
    for (const node of this.#loadedOn.get(checkpoint)?.nodes ?? []) {
      if (!counts(node)) continue;
      speed += this.#laneSpeed[node]!;
      firstFree = Math.min(firstFree, this.#lanes.freeAtOf(node));
    }
    return { speed, firstFree };
  }

  /** A task of the long pole's confined work that this lane can run (long-poles.ts), or undefined. */
  exclusiveDue(lane: Lane): number | undefined {
    return this.#longPoles.due(lane.node, this.loaded[lane.node] ?? null, this.planned, {
      loadDone: (checkpoint) => lane.freeAt + this.loadSeconds(lane.node, checkpoint),
      loadedFinish: (checkpoint, mask, units) => {
        const { speed, firstFree } = this.#loadedCapacity(checkpoint, (node) => node !== lane.node && hasNode(mask, 0, node));
        return speed > 0 ? firstFree + units / speed : Infinity;
      },
    });
  }

  /**
   * The first task in service order whose promised start has come by
   * `lane.freeAt` and that the lane serves without a switch. Lanes are taken
   * earliest first, so `freeAt` never goes back within a plan and the set of
   * due tasks only grows: each promised task enters it once, filed under its
   * checkpoint in service order, and planned ones are dropped from the front.
   */
  due(lane: Lane): number | undefined {
    while (this.#promiseCursor < this.byPromise.length) {
      const index = this.byPromise[this.#promiseCursor]!;
      if (this.tasks[index]!.promisedAt! > lane.freeAt) break;
      this.#promiseCursor += 1;
      insertSorted(this.#dueList(this.tasks[index]!.checkpoint), index);
    }
    let first: number | undefined;
    const loaded = this.loaded[lane.node] ?? null;
    for (const checkpoint of loaded === null ? [null] : [loaded, null]) {
      const list = this.#dueByCheckpoint.get(checkpoint);
      if (!list) continue;
      this.#dropPlannedFront(list);
      const found = list.find((i) => this.servable(i, lane.node));
      if (found !== undefined && (first === undefined || found < first)) first = found;
    }
    return first;
  }

  /** Drops the planned tasks at the front of a list of `#dueByCheckpoint` (each is dropped once). */
  #dropPlannedFront(list: number[]): void {
    let planned = 0;
    while (planned < list.length && this.planned[list[planned]!] === 1) planned++;
    if (planned > 0) list.splice(0, planned);
  }

  #dueList(checkpoint: string | null): number[] {
    let list = this.#dueByCheckpoint.get(checkpoint);
    if (!list) this.#dueByCheckpoint.set(checkpoint, (list = []));
    return list;
  }

  /**
   * Whether the other nodes that have `checkpoint` loaded would finish `units` of its work
   * within `seconds` of `lane`'s free time: from the first of them to free, at their summed speed.
   */
  covered(checkpoint: string, units: number, lane: Lane, seconds: number): boolean {
    const on = this.#loadedOn.get(checkpoint);
    if (on === undefined) return false;
    const speed = this.#loaded[lane.node] === checkpoint && this.nodes[lane.node]!.available ? on.speed - this.#throughput[lane.node]! : on.speed;
    if (!(speed > 0)) return false;
    // Covered when one of them frees early enough: the walk ends at the first. A lane left waiting because
    // everything it could switch to is covered asks again at every pass, over hundreds of loaded nodes.
    const freeBy = seconds + lane.freeAt - units / speed;
    for (const node of on.nodes) if (node !== lane.node && this.#lanes.freeAtOf(node) < freeBy) return true;
    return false;
  }

  /**
   * Whether every other node that has `checkpoint` loaded frees by `time`: free when `lane` picks, each had
   * its pick before it (lanes pick in the order they free) and left the checkpoint's tasks it could run.
   */
  loadedFreeBy(checkpoint: string, lane: Lane): boolean {
    const on = this.#loadedOn.get(checkpoint);
    if (on === undefined) return true;
    for (const node of on.nodes) if (node !== lane.node && this.#lanes.freeAtOf(node) > lane.freeAt) return false;
    return true;
  }

  /** What each node will have loaded at the plan's current step. */
  get loaded(): readonly (string | null)[] {
    return this.#loaded;
  }

  /** The plan has `node` load `checkpoint` (for the task it just planned there). */
  load(node: number, checkpoint: string): void {
    const before = this.loaded[node];
    if (before === checkpoint) return;
    this.#loaded[node] = checkpoint;
    if (!this.nodes[node]!.available) return;
    this.#supply.loaded(node, before ?? null, checkpoint);
    const speed = this.#throughput[node]!;
    if (before !== null && before !== undefined) {
      const left = this.#loadedSet(before);
      left.nodes.splice(left.nodes.indexOf(node), 1);
      // Back to exactly 0 when the last leaves, so rounding never leaves a checkpoint a speed nobody has.
      left.speed = left.nodes.length === 0 ? 0 : left.speed - speed;
    }
    const joined = this.#loadedSet(checkpoint);
    insertSorted(joined.nodes, node);
    joined.speed += speed;
  }

  #loadedSet(checkpoint: string): { nodes: number[]; speed: number } {
    let on = this.#loadedOn.get(checkpoint);
    if (!on) this.#loadedOn.set(checkpoint, (on = { nodes: [], speed: 0 }));
    return on;
  }

  /** Every lane of the plan. */
  get lanes(): readonly Lane[] {
    return this.#lanes.lanes;
  }

  /** `node`'s lanes. */
  lanesOf(node: number): readonly Lane[] {
    return this.#lanes.lanesOf(node);
  }

  /** The lane that frees first, or undefined once every lane is retired. */
  earliestLane(): Lane | undefined {
    return this.#lanes.earliest();
  }

  /** The earliest lane takes no more work in this plan. */
  retire(lane: Lane): void {
    this.#lanes.retire(lane);
  }

  /** The earliest lane frees at `freeAt` (later) instead. */
  delay(lane: Lane, freeAt: number): void {
    this.#lanes.delay(lane, freeAt);
  }

  /** The earliest lane runs task `index` next: it is planned, and the lane frees after its run. */
  occupy(lane: Lane, index: number): void {
    const seconds = this.switchCost(index, lane.node) + this.runSeconds(index, lane.node);
    this.markPlanned(index);
    const checkpoint = this.tasks[index]!.checkpoint;
    if (checkpoint !== null) this.load(lane.node, checkpoint);
    this.#lanes.delay(lane, lane.freeAt + seconds);
  }

  /** Whether `node` can run the tasks of `demand`. */
  serves(demand: DemandClass, node: number): boolean {
    return hasNode(this.#capableBits, demand.set * this.#words, node);
  }

  /** The first unplanned task of `demand`, in service order; undefined when none is left. */
  frontOf(demand: DemandClass): number | undefined {
    while (demand.from < demand.tasks.length && this.planned[demand.tasks[demand.from]!] === 1) demand.from++;
    return demand.tasks[demand.from];
  }

  servable(index: number, node: number): boolean {
    return this.planned[index] === 0 && hasNode(this.#capableBits, this.#setOf[index]! * this.#words, node);
  }

  needsSwitch(index: number, node: number): boolean {
    const checkpoint = this.tasks[index]!.checkpoint;
    return checkpoint !== null && checkpoint !== this.loaded[node];
  }

  /** Seconds task `index` runs on `node`, a checkpoint load not included. */
  runSeconds(index: number, node: number): number {
    return this.#run(this.tasks[index]!, node);
  }

  #run(task: PlanTask, node: number): number {
    return this.#fixedOf[node]! + task.units / this.#speedOf[node]!;
  }

  /** Seconds `task` (of this plan or not) takes on `node` after what the plan has it load before, a load included. */
  secondsOf(task: PlanTask, node: number): number {
    const load = task.checkpoint !== null && task.checkpoint !== this.loaded[node] ? this.loadSeconds(node, task.checkpoint) : 0;
    return load + this.#run(task, node);
  }

  /** Seconds loading `checkpoint` takes on `node`. */
  loadSeconds(node: number, checkpoint: string): number {
    return loadSecondsOf(this.nodes[node]!, checkpoint);
  }

  /** Seconds of checkpoint load task `index` costs on `node` after what the plan has it load before. */
  switchCost(index: number, node: number): number {
    return this.needsSwitch(index, node) ? this.loadSeconds(node, this.tasks[index]!.checkpoint!) : 0;
  }

  /** When `node`'s earliest lane could finish task `index`. */
  finishOn(index: number, node: number): number {
    return this.#lanes.freeAtOf(node) + this.switchCost(index, node) + this.runSeconds(index, node);
  }

  /**
   * Whether some other node would finish task `index` sooner than `lane`: with no more tasks queued than
   * there are lanes, one of them that would finish it sooner; with more, the other nodes that can run it
   * together, all the work left included (`#othersClearFirst`).
   */
  betterElsewhere(index: number, lane: Lane): boolean {
    const mine = this.#finishFrom(index, lane);
    if (this.queued > this.lanes.length) return this.#othersClearFirst(index, lane, mine);
    // No node finishes sooner than its first free lane plus a run at its speed: when even the best of
    // those bounds is not sooner, no scan is needed (over a thousand idle nodes, each free lane asked
    // this of a dozen tasks, and each scan went through hundreds of nodes).
    const task = this.tasks[index]!;
    const { leastFixed, mostSpeed } = this.#boundsOf(task.capable);
    const sooner = mine - 1e-9;
    if (this.#lanes.freesNoEarlierThan() + leastFixed + task.units / mostSpeed >= sooner) return false;
    for (const node of task.capable) {
      if (node === lane.node || this.#availableOf[node] === 0) continue;
      // `finishOn`, its load looked up only when the node would be sooner without one (most are not: over a
      // thousand busy nodes that lookup was a third of an ETA plan). A sum of non-negative terms only grows,
      // in floating point too: the answer is the same.
      const freeAt = this.#lanes.freeAtOf(node);
      const run = this.#run(task, node);
      if (freeAt + run >= sooner) continue;
      if (freeAt + this.switchCost(index, node) + run < sooner) return true;
    }
    return false;
  }

  /**
   * Whether the other lanes that can run task `index` would get through all the work left, this task
   * included, before `lane` finished it (at `mine`): then a lane this slow takes none of it, and leaves the
   * end of the queue to them. Near a queue's end a node many times slower than the rest that takes one of
   * the last tasks finishes last of all: in a live trial a 1.5 it/s node among 20 it/s ones took an 18 s
   * task while the others had 9 s of work left, and ended 8 s after them. Counted as a fluid (the work left
   * over their speed together, and their fixed costs), plus one run of the task on the best of them for the
   * last task's granularity: for lanes of one speed it never holds. A queue past the plan's horizon (its
   * units are not known here) is a long one: never then either.
   *
   * Asked for a due promise too (planner rule 0), there on a short queue only by a lane `FAR_SLOWER` times
   * slower than the fastest node able to run the task.
   */
  othersClearFirst(index: number, lane: Lane): boolean {
    if (this.queued <= this.lanes.length && !this.#farSlower(index, lane.node)) return false;
    return this.#othersClearFirst(index, lane, this.#finishFrom(index, lane));
  }

  /**
   * Whether `node` runs task `index` `FAR_SLOWER` times slower than the fastest node able to run it. A due
   * promise on a short queue is left by such a lane only (planner rule 0): leaving it on lanes two or three
   * times slower too, as the simulated fleet's are, lengthened its wait tail (30 seeds: 33 runs of 90 with a
   * wait over 80 s, against 28).
   */
  #farSlower(index: number, node: number): boolean {
    const task = this.tasks[index]!;
    const { leastFixed, mostSpeed } = this.#boundsOf(task.capable);
    return this.runSeconds(index, node) >= FAR_SLOWER * (leastFixed + task.units / mostSpeed);
  }

  /** `othersClearFirst`, with `lane`'s finish of task `index` at `mine`. */
  #othersClearFirst(index: number, lane: Lane, mine: number): boolean {
    if (this.#beyondTasks > 0) return false;
    const task = this.tasks[index]!;
    const capacity = this.#capacityOf(task.capable);
    const lanes = capacity.lanes - this.#lanes.laneCount(lane.node);
    const unitsPerSecond = capacity.unitsPerSecond - this.#laneSpeed[lane.node]!;
    if (lanes <= 0 || unitsPerSecond <= 0) return false;
    // A load this node has not measured yet counts as none: it switches rather than idle on a guess (0012).
    const finish = this.nodes[lane.node]!.switchMeasured === false ? lane.freeAt + this.runSeconds(index, lane.node) : mine;
    // Work that keeps arriving (as much as came over the time this lane's run takes) slows their draining:
    // under steady arrivals the queue refills, and a lane that held back would only idle.
    const run = finish - lane.freeAt;
    if (run <= 0) return false;
    const draining = unitsPerSecond - this.#arrivedUnits(run) / run;
    if (draining <= 0) return false;
    const { leastFixed, mostSpeed } = this.#boundsOf(task.capable);
    let clear = lane.freeAt + this.#unplannedUnits / draining + leastFixed + task.units / mostSpeed;
    if (clear >= finish - 1e-9) return false;
    // What their lanes run now comes first, spread over them (looked at only when it could decide: a long
    // queue's work left is far more than this lane's one task).
    const busy = this.#busyPast(task.capable, lane.freeAt) - this.#lanes.busyPast(lane.node, lane.freeAt);
    clear += busy / lanes;
    return clear < finish - 1e-9;
  }

  /**
   * Seconds of work the available nodes of `capable` hold past `at`, summed; kept until a lane's free time
   * changes. Lanes that leave the work to the others wait, and each asks again at every pass of another
   * lane, at the same time and over the same nodes: a walk of them each time was most of a plan over 100
   * nodes (bench:plan-scale, loads of 2-32 s).
   */
  #busyPast(capable: readonly number[], at: number): number {
    const kept = this.#busy.get(capable);
    if (kept && kept.version === this.#lanes.version && kept.at === at) return kept.sum;
    let sum = 0;
    for (const node of capable) if (this.nodes[node]!.available) sum += this.#lanes.busyPast(node, at);
    this.#busy.set(capable, { version: this.#lanes.version, at, sum });
    return sum;
  }

  #capacityOf(capable: readonly number[]): { lanes: number; unitsPerSecond: number } {
    let capacity = this.#capacity.get(capable);
    if (!capacity) {
      capacity = { lanes: 0, unitsPerSecond: 0 };
      for (const node of capable) {
        if (!this.nodes[node]!.available) continue;
        capacity.lanes += this.#lanes.laneCount(node);
        capacity.unitsPerSecond += this.#laneSpeed[node]!;
      }
      this.#capacity.set(capable, capacity);
    }
    return capacity;
  }

  /** The least fixed cost and the greatest speed among the available nodes of a `capable` list. */
  #boundsOf(capable: readonly number[]): { leastFixed: number; mostSpeed: number } {
    let bounds = this.#bounds.get(capable);
    if (!bounds) {
      bounds = { leastFixed: Infinity, mostSpeed: 0 };
      for (const node of capable) {
        const spec = this.nodes[node]!;
        if (!spec.available) continue;
        bounds.leastFixed = Math.min(bounds.leastFixed, spec.fixedSeconds ?? 0);
        bounds.mostSpeed = Math.max(bounds.mostSpeed, spec.unitsPerSecond);
      }
      this.#bounds.set(capable, bounds);
    }
    return bounds;
  }

  #finishFrom(index: number, lane: Lane): number {
    return lane.freeAt + this.switchCost(index, lane.node) + this.runSeconds(index, lane.node);
  }

  head(node: number): number | undefined {
    let i = this.headFrom[node]!;
    while (i < this.tasks.length && !this.servable(i, node)) i++;
    this.headFrom[node] = i;
    return i < this.tasks.length ? i : undefined;
  }

  /**
   * The first task among the `window` unplanned tasks from `from` on that the
   * node can serve with what it has loaded. The window counts unplanned tasks
   * only: when the plan's time comes, the planned ones will have left the
   * queue, and the lane will look that far past them.
   */
  affine(node: number, from: number, window: number): number | undefined {
    // Candidates come from the lists of the loaded checkpoint and of tasks with none, not from a scan
    // of the queue: past the head, much of the queue may be planned already or need other checkpoints.
    const loaded = this.loaded[node] ?? null;
    let first: number | undefined;
    for (const checkpoint of loaded === null ? [null] : [loaded, null]) {
      const list = this.#byCheckpoint.get(checkpoint);
      if (!list) continue;
      for (let k = unplannedFrom(list.next, firstAtLeast(list.tasks, from)); k < list.tasks.length; k = unplannedFrom(list.next, k + 1)) {
        const i = list.tasks[k]!;
        if (first !== undefined && i >= first) break;
        if (this.#unplannedIn(from, i + 1) > window) break;
        if (this.servable(i, node)) {
          first = i;
          break;
        }
      }
    }
    return first;
  }

  /** The first unplanned task at index `from` or later, or `tasks.length` when none is left. */
  nextUnplanned(from: number): number {
    return unplannedFrom(this.#skipPlanned, from);
  }

  /** Unplanned tasks among indices [from, to). */
  #unplannedIn(from: number, to: number): number {
    return to - from - (this.#plannedBefore(to) - this.#plannedBefore(from));
  }

  /** Planned tasks among indices [0, end): a Fenwick tree, so windows are counted in log time. */
  #plannedBefore(end: number): number {
    let sum = 0;
    for (let i = end; i > 0; i -= i & -i) sum += this.#plannedTree[i]!;
    return sum;
  }

  /** The next time another lane frees, after `lane`'s. */
  nextEvent(lane: Lane): number | undefined {
    return this.#lanes.nextAfter(lane);
  }
}

/** The first place ≥ `k` whose task is not planned: `next` points past planned places (with path halving). */
function unplannedFrom(next: Int32Array, k: number): number {
  while (next[k]! !== k) {
    next[k] = next[next[k]!]!;
    k = next[k]!;
  }
  return k;
}

/** Inserts `value` into the ascending `list` (usually at its end: promises mostly follow service order). */
function insertSorted(list: number[], value: number): void {
  let at = list.length;
  while (at > 0 && list[at - 1]! > value) at--;
  list.splice(at, 0, value);
}

/**
 * Task indices, longest waited first, ties in service order. A plain array's
 * sort is stable and finds runs (a typed array's is neither), and a queue
 * already in arrival order, as one key's backlog is, needs no sort at all.
 */
function longestWaitedFirst(tasks: readonly PlanTask[], arrays: PlanArrays): Int32Array {
  // Plain loops: `TypedArray.from` with a mapping function walks an iterator, slower than the sort itself.
  const waited = arrays.float64(tasks.length);
  let sorted = true;
  for (let i = 0; i < tasks.length; i++) {
    waited[i] = tasks[i]!.waitedSeconds;
    if (i > 0 && waited[i - 1]! < waited[i]!) sorted = false;
  }
  const order: number[] = [];
  for (let i = 0; i < tasks.length; i++) order.push(i);
  if (!sorted) order.sort((a, b) => waited[b]! - waited[a]!);
  const byAge = arrays.int32(tasks.length);
  byAge.set(order);
  return byAge;
}

/**
 * Per node, the units per second one lane gets through at `meanUnits` a task: `meanUnits` over a run of
 * that size (`fixedSeconds + meanUnits / unitsPerSecond`). Speeds summed alone count no fixed cost, and a
 * fit whose runs barely grow with the work has a very high speed: such a node looked able to clear any
 * queue at once (decision 0012).
 */
function throughputs(nodes: readonly PlanNode[], meanUnits: number, arrays: PlanArrays): Float64Array {
  const out = arrays.float64(nodes.length);
  nodes.forEach((node, i) => {
    const fixed = node.fixedSeconds ?? 0;
    // Tasks of no work (never sent by the scheduler) get through none: 0, as their fixed cost says.
    out[i] = fixed > 0 ? meanUnits / (fixed + meanUnits / node.unitsPerSecond) : node.unitsPerSecond;
  });
  return out;
}
