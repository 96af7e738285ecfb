/**
 * @module scheduler/plan-types
 *
 * The planner's inputs and output (planner.ts): plain data, in a module of
 * their own so that the planner's parts (plan-state.ts, long-poles.ts) can
 * share them without importing the planner.
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
  promisedAt?: number | undefined;
}

export interface PlanNode {
  id: string;
  /** A run takes `fixedSeconds + units / unitsPerSecond` (domain/speed-estimates.ts). */
  unitsPerSecond: number;
  /** @defaultValue 0 */
  fixedSeconds?: number;
  /** A checkpoint load, for checkpoints without a figure in `loadSeconds`. */
  switchSeconds: number;
  /** Per checkpoint identity: what loading it takes on this node. */
  loadSeconds?: ReadonlyMap<string, number> | undefined;
  /**
   * False while the node's load time is a guess: it then switches rather than stand idle on the
   * guess (planner.ts, `switchTarget`), and the switch measures it. @defaultValue true
   */
  switchMeasured?: boolean;
  /** When each slot frees, in seconds from now (0 = free now). */
  lanes: readonly number[];
  /**
   * How many tasks it may be sent beyond those its free lanes start now: a node that holds tasks ready
   * behind its running ones (`prefetch`) is sent the next its lanes pick, up to this many. @defaultValue 0
   */
  sendAhead?: number;
  /**
   * How much sooner than `lanes` say its first lane is expected to free, for the send-ahead window only:
   * `lanes` hold an attempt's last twentieth at the floor an overrunning one gets (node-views.ts), a hedge
   * the plan's rules are tuned with, while the window counts the time expected to remain. @defaultValue 0
   */
  windowLead?: number;
  /** Checkpoint identity loaded (after the task it runs now), or null if unknown. */
  loaded: string | null;
  /** False for nodes that must get no new work (backend down, draining, set aside). */
  available: boolean;
}

/**
 * When the first of `lanes` frees (Infinity for none). A loop, not `Math.min(...lanes)`: asked per node on
 * every pass, and the spread made an arguments array each time.
 */
export function firstFree(lanes: readonly number[]): number {
  let first = Infinity;
  for (let i = 0; i < lanes.length; i++) if (lanes[i]! < first) first = lanes[i]!;
  return first;
}

/** Seconds `node` takes to load `checkpoint`: its measured load of that checkpoint, else its typical switch. */
export function loadSecondsOf(node: Pick<PlanNode, 'loadSeconds' | 'switchSeconds'>, checkpoint: string): number {
  return node.loadSeconds?.get(checkpoint) ?? node.switchSeconds;
}

/** When the node's first lane frees as the send-ahead window counts it (`PlanNode.windowLead`), seconds from now. */
export function windowFreesIn(node: Pick<PlanNode, 'lanes' | 'windowLead'>): number {
  return firstFree(node.lanes) - (node.windowLead ?? 0);
}

export interface PlanOptions {
  /**
   * The fleet's loads per checkpoint (load-bounds.ts), when the caller keeps them from plan to plan; they
   * must be of these nodes as they are now. @defaultValue worked out for this plan
   */
  loadBounds?: LoadBoundsReader;
  /**
   * Units of work that arrived over the `seconds` before now (scheduler/arrival-log.ts): whether the queue
   * drains or refills as it is served, for lanes far slower than the rest (plan-state.ts). @defaultValue none
   */
  arrivedUnits?: (seconds: number) => number;
  /**
   * Multiplies every threshold below given in seconds (`maxSkipSeconds`, `urgentGapSeconds`,
   * `longPoleSeconds`): they were tuned where a checkpoint load takes 8 s, and a fleet that loads
   * in 0.5 s and runs a task in 0.2 s needs them in proportion. The scheduler sets it to the
   * fleet's typical load ÷ 8 s. @defaultValue 1
   */
  timeScale?: number;
  /**
   * How many tasks the rules below place before the rest is estimated (plan-tail.ts): the near
   * queue, where the rules decide what runs; the far queue only needs ETAs. @defaultValue Infinity
   */
  ruledTasks?: number;
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
  /**
   * A lane leaves a checkpoint the other nodes that have it loaded cover, for one whose loaded nodes fall
   * short of its work by at least this many of the lane's loads (rule 0c, checkpoint-supply.ts); 0: never.
   * @defaultValue 4
   */
  shortfallLoads?: number;
  /**
   * Units of queued work per checkpoint past the tasks handed to the planner (the scheduler plans the
   * first 10,000): the `coveredSwitches` rule counts them, or a fleet that works through a longer queue
   * would see each checkpoint's work as the horizon's slice of it, soon served, and leave lanes idle.
   * @defaultValue none
   */
  beyondUnits?: ReadonlyMap<string | null, number>;
  /**
   * How many queued tasks lie past the ones handed to the planner. A queue is short (the rules that let
   * a lane wait for a node that would finish a task sooner) only when all of it fits the lanes: a
   * horizon of 2,000 tasks over 5,000 nodes is the front of a long queue, not a short one, and asking
   * every node about each task cost most of a pass. @defaultValue 0
   */
  beyondTasks?: number;
  /**
   * A node that holds tasks ready (`PlanNode.sendAhead`) is sent the next its lane picks only when that
   * lane frees within this many seconds: a task held on one node cannot go to another that frees
   * meanwhile, so it is held no longer than it takes to hide the round trip. @defaultValue Infinity
   */
  sendAheadSeconds?: number;
  /** When a lane switches, each checkpoint weighs its waiting seconds of work plus this share of its front task's wait. @defaultValue 0.5 */
  switchAgeWeight?: number;
  /** A task is urgent (rule 0a) once it has waited this many times the median wait of the queued tasks... @defaultValue 2 */
  urgentWaitFactor?: number;
  /** ...and at least this many seconds longer than that median. @defaultValue 30 */
  urgentGapSeconds?: number;
  /**
   * Work only a group of two or more nodes can run is a long pole (rule 0b) only once it would take
   * them this long: a backlog, not the few seconds of queue of steady arrivals. @defaultValue 60
   */
  longPoleSeconds?: number;
}

/**
 * Queued tasks of one checkpoint that the same nodes can run (one `capable` list), grouped once per
 * plan (plan-state.ts): what a switch would serve (planner.ts), and what long-poles.ts classes.
 */
export interface DemandClass {
  checkpoint: string | null;
  capable: readonly number[];
  /** Index of the class's node set in the plan's sets. */
  set: number;
  /** Task indices in service order; `from` skips the planned ones at the front. */
  tasks: number[];
  from: number;
  /** Unplanned tasks of the class, and their units. */
  count: number;
  units: number;
}

export interface Plan {
  /** Tasks to send now: the first task planned on each free lane. */
  assignments: { taskId: string; nodeId: string }[];
  /** Estimated start of each planned task, seconds from now. */
  startAt: Map<string, number>;
  /** Estimated node of each planned task. */
  nodeOf: Map<string, string>;
  /**
   * Tasks whose lanes all retired leaving them to one another (each waits for a node that would finish it
   * sooner, and that node keeps its own checkpoint): placed after everything for an ETA, which is no
   * promise (eta-plans.ts), as what really happens is up to the next event.
   */
  leftover?: Set<string>;
  /**
   * A pass that sends work (`until` short of the whole plan) stopped at its cap of lanes planned ahead
   * (planner.ts `SEND_AHEAD_STEPS`) with nodes within their window not yet given a task to hold.
   */
  aheadLeft?: boolean;
  /**
   * A whole plan's (no `until`) way to place a task that arrived after it was made: after everything it
   * planned, on the first lane of its nodes to free (plan-tail.ts); recorded in `startAt` and `nodeOf`.
   * False when no lane of the plan can run it.
   */
  append?: (task: PlanTask) => boolean;
}

/** A node slot in a plan (lane-queue.ts): when it frees, and for which node. */
export interface Lane {
  node: number;
  freeAt: number;
  /** No more work this lane can take in this plan. */
  done: boolean;
  /** Its place in the list of lanes: the last tie-break. */
  readonly order: number;
}

export interface LoadRange {
  readonly longest: number;
  readonly shortest: number;
}

/** The fleet's checkpoint loads for rule 0c's gate (load-bounds.ts `LoadBounds`). */
export interface LoadBoundsReader {
  /** The longest and shortest of every load the available nodes may be asked. */
  all(): LoadRange;
  /** The longest and shortest load of `checkpoint` on an available node. */
  of(checkpoint: string): LoadRange;
}
