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
 *    overtake it only until then. Not on a lane so slow that, with more tasks
 *    queued than lanes, the other nodes would get through all the work left
 *    before it finished this one (a live trial: a node 13 times slower kept a
 *    promise at the end of a burst, and its task ended 9 s after all others);
 * 0a. a task left behind: by the lane's time it will have waited at least
 *    `urgentWaitFactor` times the median wait of the tasks still queued then,
 *    and `urgentGapSeconds` more; the longest-waiting such task the lane can
 *    run, even with a switch, unless another node would finish it sooner. Fair
 *    order and affinity can leave a task of a rarely used checkpoint behind
 *    while its few nodes serve popular work, and promises never force a
 *    switch; this bounds that. All waits grow alike, so under a burst nothing
 *    is ever urgent. It comes before a due promise (0) when it has waited
 *    `urgentGapSeconds` longer than the promised task: through a long
 *    overload every queued task's promise is due, and keeping them, switch-
 *    free, held a lane on its checkpoint for minutes while work only it (and
 *    one other node) could run waited (simulated seed 9: told 38 s, waited
 *    264 s; decision 0013);
 * 0'. a task whose promise is overdue by one of this lane's loads, which no
 *    lane kept without a switch, when the nodes that have this lane's
 *    checkpoint loaded cover its work without it: a promise made while a
 *    burst was still arriving, for a checkpoint no node had loaded, was
 *    overtaken by the rest of the burst (a live trial: told 3.6 s, began at
 *    34.6 s). While the queue drains (little work arrived over the last two
 *    loads: a burst being served), covering needs only another node with it
 *    loaded that can run that work, and such a task comes before a due
 *    promise (0) made a load after it: every node had the burst's main
 *    checkpoint loaded, whose work was never covered, and its due promises
 *    held the lanes; a checkpoint's tasks told 3–5 s began at 68–80 s;
 * 0b. a task only some nodes can run, this lane's among them, once that work
 *    would take those nodes at least as long as the other nodes need for
 *    everything else (it is the long pole: left to fair order it would trail
 *    behind work any node can do, and those nodes would finish long after the
 *    fleet ran dry). Work of a single node counts at once; work of a group of
 *    nodes once it is `longPoleSeconds` of theirs (long-poles.ts). A lane
 *    does not load a checkpoint for it that its group's other nodes would get
 *    through before the load was done;
 * 0c. in a fleet where some node loads a checkpoint many times slower than
 *    this lane, a task of the checkpoint whose loaded nodes fall furthest
 *    short of its work, when the nodes that have this lane's checkpoint
 *    loaded cover its work without it: the cheap loads are made early, so
 *    that the late switches affinity leaves do not fall to a costly node
 *    (checkpoint-supply.ts);
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
 *    would finish within `coveredSwitches` loads of it: it keeps what it has
 *    loaded for the next task that needs it, instead of switching back later
 *    (but for a task of a short queue those nodes, free now, left to it as
 *    the one to finish it first).
 *    That work counts the queue past the tasks planned (`beyondUnits`): a
 *    checkpoint's slice of a long queue's horizon is soon served, its queue is not.
 *    Only once its load time is measured: on a guess it switches, rather than
 *    idle, and the switch measures it (decision 0012).
 * Thresholds in seconds (`maxSkipSeconds`, `urgentGapSeconds`,
 * `longPoleSeconds`) are multiplied by `timeScale`: the scheduler scales them
 * to the fleet's measured loads. A run takes `fixedSeconds + units ÷ speed` on
 * a node, a switch that checkpoint's own load time there.
 * And when the queue is short (no more tasks than there are lanes), a lane
 * does not take a task that another node would finish sooner (it has the
 * checkpoint loaded, is faster, or frees earlier): that node's lane will pick
 * it; this lane looks a little further, or waits. With a longer queue every
 * lane has work, and a lane that waited would only waste its GPU, unless it is
 * so slow that the others would get through all the work left (and what keeps
 * arriving) before it finished one task: then it leaves the queue's end to
 * them (plan-state.ts `betterElsewhere`).
 *
 * Each free lane is sent its first pick now; the rest of the plan gives every
 * queued task its estimated start. Past `ruledTasks` placed, or past the
 * plan's work budget (lanes of a fleet larger than the queue left waiting for
 * each other), the far queue is estimated instead (plan-tail.ts). Lanes are
 * taken from a heap (lane-queue.ts). Pure: no clock, no I/O.
 */
import { type Lane, PlanState } from './plan-state.js';
import type { PlanArrays } from './plan-buffers.js';
import { TailPlacer } from './plan-tail.js';
import { firstFree, loadSecondsOf, type Plan, type PlanNode, type PlanOptions, type PlanTask, windowFreesIn } from './plan-types.js';

/**
 * A plan's budget, per task and lane to plan, in steps and tasks looked at (`PlanState.work`); past it the
 * rest is estimated (plan-tail.ts). The simulated fleets of bench:schedule take up to 45; waits over a
 * thousand nodes took over a hundred times that.
 */
const WORK_PER_TASK_AND_LANE = 64;

/** The longest queue `switchTarget` walks whole when it is short; a longer one is summed per class. */
const SHORT_WALK = 64;

/** The rules' settings, every one given (`planInSlices` fills in the defaults). */
type RuleSettings = Required<Omit<PlanOptions, 'loadBounds'>>;

/**
 * The most free lanes a pass gives tasks to lane by lane when there are more of them than tasks; past
 * that, task by task (`assignByEarliestFinish`). The simulated fleets have 8.
 */
const MANY_FREE_LANES = 64;

type Choice = number | { waitUntil: number | undefined } | 'done';

function pick(state: PlanState, lane: Lane, options: RuleSettings): Choice {
  const head = state.head(lane.node);
  if (head === undefined) return 'done';
  const due = state.due(lane);
  const urgent = state.urgent(lane, (median) => Math.max(options.urgentWaitFactor * median, median + options.urgentGapSeconds));
  // A promise yields only to a task left behind well before it (rule 0a).
  const yields = due !== undefined && urgent !== undefined && state.tasks[urgent]!.waitedSeconds > state.tasks[due]!.waitedSeconds + options.urgentGapSeconds;
  // ...and, once the queue drains, to a promise made a load before it that needs a switch (rule 0').
  const owedFirst = due !== undefined && !yields ? state.owedBefore(due, lane) : undefined;
  if (owedFirst !== undefined) return owedFirst;
  if (due !== undefined && !yields && !state.othersClearFirst(due, lane)) return due;
  if (urgent !== undefined) return urgent;
  const owed = state.overduePromise(lane);
  if (owed !== undefined) return owed;
  const exclusive = state.exclusiveDue(lane);
  if (exclusive !== undefined) return exclusive;
  const moved = options.shortfallLoads > 0 ? state.undersupplied(lane, options.shortfallLoads, options.longPoleSeconds) : undefined;
  if (moved !== undefined) return moved;
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
function switchTarget(state: PlanState, lane: Lane, head: number, options: RuleSettings): Choice {
  // A long queue (more tasks than lanes: nothing is better elsewhere) sums the demand per class of tasks
  // rather than walking the queue: an idle lane asks this on every pass, and a walk of 10,000 tasks per
  // idle lane was most of a pass over a thousand nodes.
  // (Only up to SHORT_WALK tasks: past that, a walk per idle lane over a fleet with few tasks each cost
  // more than the plan's every other step.)
  const short = state.queued <= state.lanes.length && state.queued <= SHORT_WALK;
  const demand: Demand = new Map();
  let seen = 0;
  // Unplanned tasks only: lanes that took tasks past the head by affinity left planned ones between.
  for (let i = state.nextUnplanned(head); i < state.tasks.length && (short || seen < options.fallbackWindow); i = state.nextUnplanned(i + 1)) {
    seen += 1;
    state.work += 1;
    if (!state.servable(i, lane.node)) continue;
    const task = state.tasks[i]!;
    if (seen <= options.fallbackWindow) {
      if (state.betterElsewhere(i, lane)) continue;
      if (!state.needsSwitch(i, lane.node) || task.waitedSeconds + lane.freeAt >= options.maxSkipSeconds) return i;
    }
    if (!short) continue;
    const entry = demand.get(task.checkpoint) ?? { first: i, seconds: 0, units: 0, waited: task.waitedSeconds + lane.freeAt };
    entry.seconds += state.runSeconds(i, lane.node);
    entry.units += task.units;
    demand.set(task.checkpoint, entry);
  }
  const byFirst = short ? demand : demandByClass(state, lane);
  // While the node's load time is a guess, it switches rather than idle on the guess: the switch measures it.
  const keepsLoaded = state.loaded[lane.node] !== null && state.nodes[lane.node]!.switchMeasured !== false;
  let best: { first: number; score: number } | undefined;
  for (const [checkpoint, entry] of byFirst) {
    // In a short queue a node takes a task only where none finishes it sooner: when the nodes that cover the
    // work had their pick before this lane and left the task to it, it is this lane's, covered or not.
    // Skipped, it waited on both sides: they left it to this one (`betterElsewhere`), this one to them
    // (simulated: a Flux.1 task, twice an SD one's time, stood queued beside eight idle nodes).
    if (keepsLoaded && checkpoint !== null) {
      const units = entry.units + (options.beyondUnits.get(checkpoint) ?? 0);
      const covered = state.covered(checkpoint, units, lane, options.coveredSwitches * state.loadSeconds(lane.node, checkpoint));
      if (covered && !(short && lane.freeAt <= 0 && state.loadedFreeBy(checkpoint, lane) && !state.betterElsewhere(entry.first, lane))) continue;
    }
    const score = entry.seconds + options.switchAgeWeight * entry.waited;
    if (!best || score > best.score) best = { first: entry.first, score };
  }
  if (best && !state.betterElsewhere(best.first, lane)) return best.first;
  // Nothing worth a switch, but work of the checkpoint it has loaded waits past the affinity window
  // (many lanes of one checkpoint freed at once took the tasks within it): run that rather than idle,
  // as affinity would, overtaking the head by less than maxSkipSeconds.
  const loaded = state.loaded[lane.node] ?? null;
  const own = loaded === null ? undefined : byFirst.get(loaded);
  if (own && !state.needsSwitch(own.first, lane.node) && !state.betterElsewhere(own.first, lane)) {
    const overtakes = state.tasks[head]!.waitedSeconds - state.tasks[own.first]!.waitedSeconds;
    if (overtakes < options.maxSkipSeconds) return own.first;
  }
  return { waitUntil: state.nextEvent(lane) };
}

type Demand = Map<string | null, { first: number; seconds: number; units: number; waited: number }>;

/**
 * `switchTarget`'s demand per checkpoint from the plan's task classes: the same sums as a walk of the
 * queue, in the same order (by each checkpoint's first task), so ties go the same way.
 */
function demandByClass(state: PlanState, lane: Lane): Demand {
  const demand: Demand = new Map();
  const node = state.nodes[lane.node]!;
  for (const taskClass of state.demandClasses) {
    if (taskClass.count === 0 || !state.serves(taskClass, lane.node)) continue;
    const front = state.frontOf(taskClass);
    if (front === undefined) continue;
    const waited = state.tasks[front]!.waitedSeconds + lane.freeAt;
    const entry = demand.get(taskClass.checkpoint) ?? { first: front, seconds: 0, units: 0, waited };
    if (front < entry.first) Object.assign(entry, { first: front, waited });
    entry.seconds += (node.fixedSeconds ?? 0) * taskClass.count + taskClass.units / node.unitsPerSecond;
    entry.units += taskClass.units;
    demand.set(taskClass.checkpoint, entry);
  }
  return new Map([...demand].sort((a, b) => a[1].first - b[1].first));
}

/**
 * What to send now when a large fleet has more free lanes than queued tasks: each task, in service
 * order, to the node that would finish it first (its load and run counted, after what it was given
 * before here), sent if that node has a lane free now. That is where the rules for a short queue lead
 * ("a lane does not take a task another node would finish sooner"), reached task by task: lane by lane,
 * every idle lane looked at every task and asked every other node, which over a thousand idle nodes
 * made a pass take longer than the tasks it sent. Worked out from the nodes themselves, without the
 * plan's state: building that over a thousand lanes was most of each pass while a burst of submits
 * met an idle fleet, a pass a turn with a few tasks each (bench:fleet), and only the nodes able to run
 * the tasks are looked at here.
 */
function assignByEarliestFinish(tasks: readonly PlanTask[], nodes: readonly PlanNode[]): Plan {
  const plan: Plan = { assignments: [], startAt: new Map(), nodeOf: new Map() };
  // Per node looked at, when each of its lanes frees (an unavailable node has none; a node that lists no
  // lane has one, free now), and what the tasks given here leave it loaded with.
  const laneTimes = new Map<number, number[]>();
  const loadedAfter = new Map<number, string>();
  const timesOf = (node: number): number[] => {
    let times = laneTimes.get(node);
    if (times === undefined) {
      const { available, lanes } = nodes[node]!;
      times = !available ? [] : lanes.length === 0 ? [0] : [...lanes];
      laneTimes.set(node, times);
    }
    return times;
  };
  for (const task of tasks) {
    let best = -1;
    let bestFinish = Infinity;
    let bestLane = 0;
    for (const node of task.capable) {
      const times = timesOf(node);
      if (times.length === 0) continue;
      const lane = times.indexOf(Math.min(...times));
      const finish = times[lane]! + switchSeconds(nodes[node]!, loadedAfter.get(node), task.checkpoint) + runSeconds(nodes[node]!, task.units);
      if (finish < bestFinish - 1e-9) [best, bestFinish, bestLane] = [node, finish, lane];
    }
    if (best < 0) continue;
    const times = laneTimes.get(best)!;
    const startAt = times[bestLane]!;
    plan.startAt.set(task.id, startAt);
    plan.nodeOf.set(task.id, nodes[best]!.id);
    if (startAt <= 0) plan.assignments.push({ taskId: task.id, nodeId: nodes[best]!.id });
    times[bestLane] = bestFinish;
    if (task.checkpoint !== null) loadedAfter.set(best, task.checkpoint);
  }
  return plan;
}

/** Seconds of checkpoint load a task of `checkpoint` costs `node`, which has `loaded` loaded (or what it reports). */
function switchSeconds(node: PlanNode, loaded: string | undefined, checkpoint: string | null): number {
  if (checkpoint === null || checkpoint === (loaded ?? node.loaded)) return 0;
  return loadSecondsOf(node, checkpoint);
}

/** Seconds a task of `units` runs on `node`, a load not included (as PlanState's `runSeconds`). */
function runSeconds(node: PlanNode, units: number): number {
  return (node.fixedSeconds ?? 0) + units / node.unitsPerSecond;
}

/** Lanes free now over the available nodes (one for a node that lists none), as the plan's lanes count them. */
function freeLanesNow(nodes: readonly PlanNode[]): number {
  let free = 0;
  for (const node of nodes) {
    if (!node.available) continue;
    if (node.lanes.length === 0) free += 1;
    for (const freeAt of node.lanes) if (freeAt <= 0) free += 1;
  }
  return free;
}

/**
 * The tasks a pass that sends work (`until` short of the whole plan) sends ahead: a node that holds tasks
 * ready behind its running ones (`PlanNode.sendAhead`) is sent the next task its lanes pick, when they
 * free within `window` seconds, up to that many. The pass goes on planning (every lane picking in time
 * order, as a whole plan would) until each such node's lanes have picked, or passed.
 */
class SendAhead {
  /** Per node, how many more it may be sent ahead. */
  readonly #left: Int32Array;
  readonly #until: number;
  readonly #window: number;
  /** Nodes with some left. */
  waiting = 0;
  /** Lanes planned past `until` for it in this pass (`SEND_AHEAD_STEPS`). */
  #steps = 0;
  /** 1 for a node with a lane free now that is sent nothing now in this pass (made only when some node waits). */
  readonly #idle: Uint8Array;
  /** For each lane's node, its `windowLead` (`take`). */
  readonly #nodes: readonly PlanNode[];

  constructor(nodes: readonly PlanNode[], until: number, window: number) {
    this.#nodes = nodes;
    this.#until = until;
    this.#window = window;
    // Plain loops: this runs on every pass, over every node.
    this.#left = new Int32Array(nodes.length);
    if (until < Infinity) {
      for (let node = 0; node < nodes.length; node++) {
        const { available, sendAhead = 0 } = nodes[node]!;
        if (available && sendAhead > 0 && windowFreesIn(nodes[node]!) <= until + window) {
          this.#left[node] = sendAhead;
          this.waiting += 1;
        }
      }
    }
    this.#idle = new Uint8Array(this.waiting === 0 ? 0 : nodes.length);
    for (let node = 0; node < this.#idle.length; node++) if (nodes[node]!.available && firstFree(nodes[node]!.lanes) <= until) this.#idle[node] = 1;
  }

  /**
   * Whether to plan on past `until` for tasks to send ahead: some node waits for its pick, and the pass
   * has not planned `SEND_AHEAD_STEPS` lanes for it yet. Lanes pick in time order, so the nodes whose lanes
   * free first are served first; the others in the next pass that sends ahead (`capped`).
   */
  more(): boolean {
    return this.waiting > 0 && this.#steps < SEND_AHEAD_STEPS;
  }

  /** Some node still waits for its pick, and the pass stopped at `SEND_AHEAD_STEPS`. */
  get capped(): boolean {
    return this.waiting > 0 && this.#steps >= SEND_AHEAD_STEPS;
  }

  /** A lane past `until` is planned. */
  step(): void {
    this.#steps += 1;
  }

  /** `node` is sent a task now: no longer idle. */
  sentNow(node: number): void {
    if (this.waiting > 0) this.#idle[node] = 0;
  }

  /**
   * Whether `task`, which `lane` picks now, is sent ahead (counted). Only within the window; not while
   * another node that can run it stays idle in this pass (it left the task to this one, which frees soon,
   * but the task stays in the queue, where the dispatcher's idle rule can still give it to that node); nor
   * when the node must load its checkpoint (`switches`: the load takes far longer than the round trip
   * holding it would hide, and what to switch to stays open until the lane frees). A lane whose pick is
   * not sent has its node sent nothing ahead in this pass: its next pick comes after this one.
   */
  take(lane: Lane, task: PlanTask, switches: boolean): boolean {
    if (lane.freeAt <= this.#until || this.#left[lane.node]! <= 0) return false;
    const freesAt = lane.freeAt - (this.#nodes[lane.node]!.windowLead ?? 0);
    const sent = freesAt <= this.#until + this.#window && !switches && !task.capable.some((node) => node !== lane.node && this.#idle[node] === 1);
    if (!sent) {
      this.passed(lane);
      return false;
    }
    if (--this.#left[lane.node]! === 0) this.waiting -= 1;
    return true;
  }

  /** `lane` picked nothing now: its node is sent nothing ahead in this pass. */
  passed(lane: Lane): void {
    if (lane.freeAt <= this.#until || this.#left[lane.node]! <= 0) return;
    this.#left[lane.node] = 0;
    this.waiting -= 1;
  }
}

/**
 * At most this many lanes a pass that sends work plans past now for tasks to send ahead: over a fleet of
 * thousands, planning every lane that frees before the last node waiting for a task to hold took a
 * second per result (bench:plan-scale, `BENCH_PREFETCH=1`). Enough for every node that comes within its
 * window between two passes that send ahead (ahead-pacing.ts `SEND_AHEAD_PASS_GAP`): over a thousand nodes
 * finishing 2 s tasks, about 25; at 16, a quarter of the tasks reached a node that had run dry (bench:fleet).
 */
const SEND_AHEAD_STEPS = 64;

/**
 * Steps (tasks placed, lanes moved) between two pauses of a plan made in slices (`planInSlices`): its caller
 * checks the time at each pause (eta-plans.ts, slices of 5 ms), so a slice overruns by up to this many steps.
 * Over 1,000 lanes a step takes 0.02–0.05 ms; at 256 steps a slice ran 10–17 ms, at 32 it runs 5–7.
 */
const STEPS_PER_SLICE = 32;

/**
 * Plans `tasks` (in service order) onto `nodes`. With `until`, stops once every
 * lane is busy past that time (seconds from now): lanes pick in time order and
 * a pick depends only on what was picked before it, so `until: 0` yields the
 * full plan's assignments without planning the rest of the queue. `arrays`:
 * pooled ones (plan-buffers.ts) for a plan dropped before the next is made.
 */
export function planTasks(tasks: readonly PlanTask[], nodes: readonly PlanNode[], options: PlanOptions = {}, until = Infinity, arrays?: PlanArrays): Plan {
  const steps = planInSlices(tasks, nodes, options, until, arrays);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * `planTasks`, pausing every few dozen steps (`STEPS_PER_SLICE`): the caller may run other work between two `next()` calls
 * (a whole plan over a thousand nodes takes tens of milliseconds, and a gateway's event loop must not
 * stand still that long). The tasks and nodes must not change until it is done.
 */
export function* planInSlices(tasks: readonly PlanTask[], nodes: readonly PlanNode[], options: PlanOptions = {}, until = Infinity, arrays?: PlanArrays): Generator<void, Plan, void> {
  const given = { affinityWindow: 256, maxSkipSeconds: 60, fallbackWindow: 16, coveredSwitches: 4, shortfallLoads: 4, switchAgeWeight: 0.5, urgentWaitFactor: 2, urgentGapSeconds: 30, longPoleSeconds: 60, timeScale: 1, ruledTasks: Infinity, beyondUnits: new Map(), beyondTasks: 0, sendAheadSeconds: Infinity, arrivedUnits: () => 0, ...options };
  const scale = given.timeScale;
  const settings = { ...given, maxSkipSeconds: given.maxSkipSeconds * scale, urgentGapSeconds: given.urgentGapSeconds * scale, longPoleSeconds: given.longPoleSeconds * scale };
  if (until <= 0) {
    const freeNow = freeLanesNow(nodes);
    if (freeNow > MANY_FREE_LANES && tasks.length + settings.beyondTasks < freeNow) return assignByEarliestFinish(tasks, nodes);
  }
  const state = new PlanState(tasks, nodes, { longPoleSeconds: settings.longPoleSeconds, beyondTasks: settings.beyondTasks, beyondUnits: settings.beyondUnits, arrivedUnits: settings.arrivedUnits, loadBounds: settings.loadBounds }, arrays);
  const plan: Plan = { assignments: [], startAt: new Map(), nodeOf: new Map() };
  let tail: TailPlacer | undefined;
  const placed = (task: PlanTask, startAt: number, node: number) => {
    plan.startAt.set(task.id, startAt);
    plan.nodeOf.set(task.id, nodes[node]!.id);
  };
  let steps = 0;
  /** Places every task still unplanned after everything planned (plan-tail.ts); `leftover`: marks them so. */
  function* placeTheRest(leftover?: Set<string>): Generator<void, TailPlacer, void> {
    const placer = new TailPlacer(state);
    for (let index = state.nextUnplanned(0); index < tasks.length; index = state.nextUnplanned(index + 1)) {
      if (++steps % STEPS_PER_SLICE === 0) yield;
      const at = placer.placeTask(index);
      if (!at) continue;
      placed(tasks[index]!, at.startAt, at.node);
      leftover?.add(tasks[index]!.id);
    }
    return placer;
  }
  // Every step plans a task, retires a lane or moves it to a later event.
  const budget = WORK_PER_TASK_AND_LANE * (tasks.length + state.lanes.length) + 64;
  const ahead = new SendAhead(nodes, until, settings.sendAheadSeconds);
  for (let lane = state.earliestLane(); lane && (lane.freeAt <= until || ahead.more()); lane = state.earliestLane()) {
    if (++steps % STEPS_PER_SLICE === 0) yield;
    if (lane.freeAt > until) ahead.step();
    if ((state.work += 1) > budget || tasks.length - state.unplanned >= settings.ruledTasks) {
      tail = yield* placeTheRest();
      break;
    }
    const choice = pick(state, lane, settings);
    if (choice === 'done') {
      ahead.passed(lane);
      state.retire(lane);
      continue;
    }
    if (typeof choice === 'object') {
      if (choice.waitUntil === undefined || choice.waitUntil <= lane.freeAt) {
        ahead.passed(lane);
        state.retire(lane);
      } else state.delay(lane, choice.waitUntil);
      continue;
    }
    const task = tasks[choice]!;
    placed(task, lane.freeAt, lane.node);
    if (lane.freeAt <= 0) ahead.sentNow(lane.node);
    if (lane.freeAt <= 0 || ahead.take(lane, task, state.needsSwitch(choice, lane.node))) plan.assignments.push({ taskId: task.id, nodeId: nodes[lane.node]!.id });
    state.occupy(lane, choice);
  }
  if (ahead.capped) plan.aheadLeft = true;
  // Lanes may all have retired leaving tasks to one another (planner rules 1–3: each waits for a node that
  // would finish it sooner, which keeps its own checkpoint as the first covers it): an ETA all the same.
  if (until === Infinity && tail === undefined && state.unplanned > 0) tail = yield* placeTheRest((plan.leftover = new Set()));
  if (until === Infinity) {
    plan.append = (task) => {
      tail ??= new TailPlacer(state);
      const at = tail.place(task);
      if (at) placed(task, at.startAt, at.node);
      return at !== undefined;
    };
  }
  return plan;
}
