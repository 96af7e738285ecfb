/**
 * @module scheduler/planner
 *
 * The plan: which node runs each queued task, and when. A list schedule built
 * lane by lane: the node slot ("lane") that frees first picks its next task,
 * then the next lane, and so on until the queue is placed. Times are seconds
 * from now; a checkpoint switch is part of a task's run.
 *
 * A lane picks, from the queue in service order:
 * 0. a task whose promised start has come (its first ETA, told to the client,
 *    is a promise) and that needs no switch on this lane: the first such in
 *    service order. Later arrivals that fair order puts ahead of it may
 *    overtake it only until then;
 * 0b. a task only this lane's node can run, once such work would take the
 *    node at least as long as the other nodes need for everything else (it
 *    is the long pole: left to fair order it would trail behind work any node
 *    can do, and the node would finish long after the fleet ran dry);
 * 1. the head (the first task it can serve) when that needs no switch;
 * 2. else the first task among the `affinityWindow` tasks from the head on
 *    (counting only tasks not planned yet) that uses the checkpoint it has
 *    loaded: a switch costs seconds to tens of seconds,
 *    so a node keeps serving its checkpoint while there is demand for it near
 *    the front of the queue. Not past a head that arrived `maxSkipSeconds`
 *    before that task: overtaking is bounded, so nothing starves;
 * 3. else a switch (`switchTarget`): to a task that has waited
 *    `maxSkipSeconds`, or to the checkpoint with the most waiting work (its
 *    front task's wait counting too). A lane that has a checkpoint loaded
 *    does not switch to one whose queued work the nodes that have it loaded
 *    would finish within `coveredSwitches` switch times: it keeps what it has
 *    loaded for the next task that needs it, instead of switching back later.
 * And when the queue is short (no more tasks than there are lanes), a lane
 * does not take a task that another node would finish sooner (it has the
 * checkpoint loaded, is faster, or frees earlier): that node's lane will pick
 * it; this lane looks a little further, or waits. With a longer queue every
 * lane has work, and a lane that waited would only waste its GPU.
 *
 * Each free lane is sent its first pick now; the rest of the plan gives every
 * queued task its estimated start. Pure: no clock, no I/O.
 */

export interface PlanTask {
  id: string;
  units: number;
  /** Checkpoint identity the task needs, or null. */
  checkpoint: string | null;
  /** Indices (into the node list) of the nodes that can run it. */
  capable: readonly number[];
  /** How long it has been queued already. */
  waitedSeconds: number;
  /** When it was promised to start (its first ETA told), seconds from now (negative once passed); undefined if no ETA was told. */
  promisedAt?: number;
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

export interface PlanOptions {
  /** How many unplanned tasks from the head on a lane looks through for work on its loaded checkpoint. @defaultValue 256 */
  affinityWindow?: number;
  /** Affinity never takes a task that arrived this much later than the head. @defaultValue 60 */
  maxSkipSeconds?: number;
  /** How far past the head a lane looks for a task no other node would finish sooner. @defaultValue 16 */
  fallbackWindow?: number;
  /**
   * A lane with a checkpoint loaded does not switch to a checkpoint whose queued work the other
   * nodes that have it loaded would finish within this many switch times. @defaultValue 4
   */
  coveredSwitches?: number;
  /** When a lane switches, each checkpoint weighs its waiting seconds of work plus this share of its front task's wait. @defaultValue 0.5 */
  switchAgeWeight?: number;
}

export interface Plan {
  /** Tasks to send now: the first task planned on each free lane. */
  assignments: { taskId: string; nodeId: string }[];
  /** Estimated start of each planned task, seconds from now. */
  startAt: Map<string, number>;
  /** Estimated node of each planned task. */
  nodeOf: Map<string, string>;
}

interface Lane {
  node: number;
  freeAt: number;
  /** No more work this lane can take in this plan. */
  done: boolean;
}

class PlanState {
  readonly planned: Uint8Array;
  unplanned: number;
  readonly capable: Set<number>[];
  readonly loaded: (string | null)[];
  readonly lanes: Lane[];
  /** Per node: index before which every task is planned or beyond its reach. */
  readonly headFrom: number[];
  /** Indices of the tasks with a promised start, earliest promise first. */
  readonly byPromise: number[];
  /** How far `due` has moved through `byPromise`. */
  #promiseCursor = 0;
  /** Tasks whose promised start has come, by checkpoint, in service order. */
  readonly #dueByCheckpoint = new Map<string | null, number[]>();
  /** Per node: the unplanned tasks no other available node can run, in service order (planned ones dropped from the front). */
  readonly #exclusive: number[][];
  /** Per node: the units of those tasks. */
  readonly #exclusiveUnits: Float64Array;
  #unplannedUnits = 0;
  /** Units per second of all lanes together. */
  readonly #fleetSpeed: number;

  constructor(
    readonly tasks: readonly PlanTask[],
    readonly nodes: readonly PlanNode[],
  ) {
    this.planned = new Uint8Array(tasks.length);
    this.unplanned = tasks.length;
    this.capable = tasks.map((t) => new Set(t.capable));
    this.loaded = nodes.map((n) => n.loaded);
    this.lanes = nodes.flatMap((n, node) =>
      n.available ? (n.lanes.length > 0 ? n.lanes : [0]).map((freeAt) => ({ node, freeAt, done: false })) : [],
    );
    this.headFrom = nodes.map(() => 0);
    this.byPromise = tasks.flatMap((t, i) => (t.promisedAt === undefined ? [] : [i])).sort((a, b) => tasks[a]!.promisedAt! - tasks[b]!.promisedAt!);
    this.#exclusive = nodes.map(() => []);
    this.#exclusiveUnits = new Float64Array(nodes.length);
    tasks.forEach((task, i) => {
      this.#unplannedUnits += task.units;
      const able = task.capable.filter((n) => nodes[n]?.available);
      if (able.length !== 1) return;
      this.#exclusive[able[0]!]!.push(i);
      this.#exclusiveUnits[able[0]!]! += task.units;
    });
    this.#fleetSpeed = this.lanes.reduce((sum, lane) => sum + nodes[lane.node]!.unitsPerSecond, 0);
  }

  markPlanned(index: number): void {
    this.planned[index] = 1;
    this.unplanned -= 1;
    const task = this.tasks[index]!;
    this.#unplannedUnits -= task.units;
    const able = task.capable.filter((n) => this.nodes[n]?.available);
    if (able.length === 1) this.#exclusiveUnits[able[0]!]! -= task.units;
  }

  /**
   * The first task only this lane's node can run, when that work has become
   * the long pole: it would take the node at least as long as the other nodes
   * need for everything else. Left to fair order, such tasks trail behind
   * work any node could do, and the one node able to run them finishes long
   * after the rest of the fleet has run dry.
   */
  exclusiveDue(lane: Lane): number | undefined {
    const node = this.nodes[lane.node]!;
    const mine = this.#exclusiveUnits[lane.node]! / node.unitsPerSecond;
    if (mine <= 1e-9) return undefined;
    const ownSpeed = this.lanes.reduce((sum, l) => sum + (l.node === lane.node ? node.unitsPerSecond : 0), 0);
    const othersSpeed = this.#fleetSpeed - ownSpeed;
    if (othersSpeed <= 0) return undefined;
    const rest = (this.#unplannedUnits - this.#exclusiveUnits[lane.node]!) / othersSpeed;
    if (mine < rest) return undefined;
    const list = this.#exclusive[lane.node]!;
    let planned = 0;
    while (planned < list.length && this.planned[list[planned]!] === 1) planned++;
    if (planned > 0) list.splice(0, planned);
    return list[0];
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
      let planned = 0;
      while (planned < list.length && this.planned[list[planned]!] === 1) planned++;
      if (planned > 0) list.splice(0, planned);
      const found = list.find((i) => this.servable(i, lane.node));
      if (found !== undefined && (first === undefined || found < first)) first = found;
    }
    return first;
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
    let speed = 0;
    let firstFree = Infinity;
    this.nodes.forEach((spec, i) => {
      if (i !== lane.node && spec.available && this.loaded[i] === checkpoint) speed += spec.unitsPerSecond;
    });
    for (const other of this.lanes) if (other.node !== lane.node && this.loaded[other.node] === checkpoint) firstFree = Math.min(firstFree, other.freeAt);
    return speed > 0 && firstFree - lane.freeAt + units / speed < seconds;
  }

  servable(index: number, node: number): boolean {
    return this.planned[index] === 0 && this.capable[index]!.has(node);
  }

  needsSwitch(index: number, node: number): boolean {
    const checkpoint = this.tasks[index]!.checkpoint;
    return checkpoint !== null && checkpoint !== this.loaded[node];
  }

  /** When `node`'s earliest lane could finish task `index`. */
  finishOn(index: number, node: number): number {
    const spec = this.nodes[node]!;
    let freeAt = Infinity;
    for (const lane of this.lanes) if (lane.node === node && lane.freeAt < freeAt) freeAt = lane.freeAt;
    return freeAt + (this.needsSwitch(index, node) ? spec.switchSeconds : 0) + this.tasks[index]!.units / spec.unitsPerSecond;
  }

  /** Whether some other node would finish task `index` sooner than `lane`. */
  betterElsewhere(index: number, lane: Lane): boolean {
    if (this.unplanned > this.lanes.length) return false;
    const mine = this.#finishFrom(index, lane);
    for (const node of this.capable[index]!) {
      if (node === lane.node || !this.nodes[node]!.available) continue;
      if (this.finishOn(index, node) < mine - 1e-9) return true;
    }
    return false;
  }

  #finishFrom(index: number, lane: Lane): number {
    const spec = this.nodes[lane.node]!;
    return lane.freeAt + (this.needsSwitch(index, lane.node) ? spec.switchSeconds : 0) + this.tasks[index]!.units / spec.unitsPerSecond;
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
    let seen = 0;
    for (let i = from; i < this.tasks.length && seen < window; i++) {
      if (this.planned[i] === 1) continue;
      seen += 1;
      if (this.capable[i]!.has(node) && !this.needsSwitch(i, node)) return i;
    }
    return undefined;
  }

  earliestLane(): Lane | undefined {
    let best: Lane | undefined;
    for (const lane of this.lanes) {
      if (lane.done) continue;
      if (!best || lane.freeAt < best.freeAt || (lane.freeAt === best.freeAt && this.nodes[lane.node]!.unitsPerSecond > this.nodes[best.node]!.unitsPerSecond)) {
        best = lane;
      }
    }
    return best;
  }

  /** The next time another lane frees, after `lane`'s. */
  nextEvent(lane: Lane): number | undefined {
    let next: number | undefined;
    for (const other of this.lanes) {
      if (other === lane || other.done || other.freeAt <= lane.freeAt) continue;
      if (next === undefined || other.freeAt < next) next = other.freeAt;
    }
    return next;
  }
}

/** Inserts `value` into the ascending `list` (usually at its end: promises mostly follow service order). */
function insertSorted(list: number[], value: number): void {
  let at = list.length;
  while (at > 0 && list[at - 1]! > value) at--;
  list.splice(at, 0, value);
}

type Choice = number | { waitUntil: number | undefined } | 'done';

function pick(state: PlanState, lane: Lane, options: Required<PlanOptions>): Choice {
  const head = state.head(lane.node);
  if (head === undefined) return 'done';
  const due = state.due(lane);
  if (due !== undefined) return due;
  const exclusive = state.exclusiveDue(lane);
  if (exclusive !== undefined) return exclusive;
  if (!state.needsSwitch(head, lane.node) && !state.betterElsewhere(head, lane)) return head;
  const affine = state.affine(lane.node, head, options.affinityWindow);
  // Overtaking by affinity is bounded: never past a head that arrived maxSkipSeconds before the candidate.
  const overdue = affine !== undefined && state.tasks[head]!.waitedSeconds - state.tasks[affine]!.waitedSeconds >= options.maxSkipSeconds;
  if (affine !== undefined && !overdue && !state.betterElsewhere(affine, lane)) return affine;
  if (overdue && !state.betterElsewhere(head, lane)) return head;
  return switchTarget(state, lane, head, options);
}

/**
 * Nothing near the front uses what the lane has loaded, so it switches (a GPU
 * that waited would help nobody): to a task near the front that has waited
 * `maxSkipSeconds`, else to the checkpoint with the most waiting work (plus
 * `switchAgeWeight` × its front task's wait, so a rare checkpoint's lone task
 * is not passed over until `maxSkipSeconds`), so the lane serves a batch of it
 * before it must switch again. Not to a checkpoint the nodes that have it
 * loaded will soon have served (`coveredSwitches`), unless this lane has
 * nothing loaded to keep. It waits only while another node would finish that
 * work sooner.
 */
function switchTarget(state: PlanState, lane: Lane, head: number, options: Required<PlanOptions>): Choice {
  const node = state.nodes[lane.node]!;
  const demand = new Map<string | null, { first: number; seconds: number; waited: number }>();
  let seen = 0;
  for (let i = head; i < state.tasks.length; i++) {
    if (state.planned[i] === 1) continue;
    seen += 1;
    if (!state.servable(i, lane.node)) continue;
    const task = state.tasks[i]!;
    if (seen <= options.fallbackWindow) {
      if (state.betterElsewhere(i, lane)) continue;
      if (!state.needsSwitch(i, lane.node) || task.waitedSeconds + lane.freeAt >= options.maxSkipSeconds) return i;
    }
    const entry = demand.get(task.checkpoint) ?? { first: i, seconds: 0, waited: task.waitedSeconds + lane.freeAt };
    entry.seconds += task.units / node.unitsPerSecond;
    demand.set(task.checkpoint, entry);
  }
  const keepsLoaded = state.loaded[lane.node] !== null;
  let best: { first: number; score: number } | undefined;
  for (const [checkpoint, entry] of demand) {
    if (keepsLoaded && checkpoint !== null) {
      if (state.covered(checkpoint, entry.seconds * node.unitsPerSecond, lane, options.coveredSwitches * node.switchSeconds)) continue;
    }
    const score = entry.seconds + options.switchAgeWeight * entry.waited;
    if (!best || score > best.score) best = { first: entry.first, score };
  }
  if (best && !state.betterElsewhere(best.first, lane)) return best.first;
  return { waitUntil: state.nextEvent(lane) };
}

/** Plans `tasks` (in service order) onto `nodes`. */
export function planTasks(tasks: readonly PlanTask[], nodes: readonly PlanNode[], options: PlanOptions = {}): Plan {
  const settings = { affinityWindow: 256, maxSkipSeconds: 60, fallbackWindow: 16, coveredSwitches: 4, switchAgeWeight: 0.5, ...options };
  const state = new PlanState(tasks, nodes);
  const plan: Plan = { assignments: [], startAt: new Map(), nodeOf: new Map() };
  // Every step plans a task, retires a lane or moves it to a later event; the guard is belt and braces.
  let steps = (tasks.length + 1) * (state.lanes.length + 1) * 4;
  for (let lane = state.earliestLane(); lane && steps-- > 0; lane = state.earliestLane()) {
    const choice = pick(state, lane, settings);
    if (choice === 'done') {
      lane.done = true;
      continue;
    }
    if (typeof choice === 'object') {
      if (choice.waitUntil === undefined || choice.waitUntil <= lane.freeAt) lane.done = true;
      else lane.freeAt = choice.waitUntil;
      continue;
    }
    const task = tasks[choice]!;
    const node = nodes[lane.node]!;
    const switched = state.needsSwitch(choice, lane.node);
    plan.startAt.set(task.id, lane.freeAt);
    plan.nodeOf.set(task.id, node.id);
    if (lane.freeAt <= 0) plan.assignments.push({ taskId: task.id, nodeId: node.id });
    state.markPlanned(choice);
    lane.freeAt += (switched ? node.switchSeconds : 0) + task.units / node.unitsPerSecond;
    if (task.checkpoint !== null) state.loaded[lane.node] = task.checkpoint;
  }
  return plan;
}
