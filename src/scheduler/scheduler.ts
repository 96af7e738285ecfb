/**
 * @module scheduler/scheduler
 *
 * The scheduling core: the queue in fair order, what each node can serve,
 * runs in progress, learned node speeds and health, and the plan built from
 * them. No I/O and no clock: callers pass `now` (epoch ms) and carry out the
 * assignments. The gateway's dispatcher drives it with real events; the
 * schedule benchmark drives it with simulated ones, so both measure the same
 * policy.
 *
 * - Matching: a task is planned only on nodes whose offering binds it
 *   (domain/binding.ts) and that are available (backend up, not draining,
 *   not set aside); nodes that already failed the task come last.
 * - Order: fair-order.ts (fair between API keys, priority, FIFO among equals).
 * - Placement: planner.ts (earliest finish, checkpoint affinity, speed).
 * - Numbers: a queued task's position is its rank in service order among the
 *   queued tasks that compete with it for a node, kept as the queue changes
 *   (queue-positions.ts); its ETA is its planned start. A long queue's plan
 *   (ETAs) is kept a while after a change, newcomers placed after it
 *   (plan-tail.ts), so an ETA costs a lookup and not a plan (eta-plans.ts).
 *   The first ETA told for a task (from measured node speeds) is a promise:
 *   the planner lets later arrivals overtake it only until the promised
 *   start (planner.ts, rule 0).
 *
 * This file holds the queue, the node list and which nodes can run each
 * task, the attempts, and the planner's input made from them; it makes the
 * plans and is the one API its callers use. Its other parts are files of
 * their own, each lent only what it uses of its state and steps
 * (scheduler-types.ts `SchedulerInternals`): the ETA plan, kept and made
 * again in slices (eta-plans.ts); when nodes that hold tasks ready are sent
 * their next (ahead-pacing.ts); idle nodes and the idle fallback
 * (idle-nodes.ts). Its data types are in scheduler-types.ts, re-exported here.
 */
import { ArrivalLog } from './arrival-log.js';
import { type Binding, bindSpec, needsKeyOf, networkFamilyOf } from '../domain/binding.js';
import type { NodeOffering } from '../domain/offering.js';
import { FamilyCosts } from '../domain/family-costs.js';
import type { ModelFamily } from '../domain/families.js';
import type { GenerationSpec } from '../domain/spec.js';
import { checkpointOf, PRIOR_STEP_COSTS, REFERENCE_UNITS_PER_SECOND, workUnitsOf } from '../domain/work-units.js';
import { NodeEstimates, runSeconds } from '../domain/speed-estimates.js';
import { AheadPacing } from './ahead-pacing.js';
import { AttemptLedger, type AttemptReader, type AttemptTimeout, isHeld, type RunningAttempt } from './attempt-ledger.js';
import { EtaPlans } from './eta-plans.js';
import { compareTags, FairOrder, type FairTag } from './fair-order.js';
import { IdleNodes } from './idle-nodes.js';
import { KeptLoadBounds } from './load-bounds.js';
import { NodeHealth, type SetAside } from './node-health.js';
import { copyViews, NodeViews } from './node-views.js';
import { PlanBuffers } from './plan-buffers.js';
import { planInSlices, planTasks } from './planner.js';
import { type HeldReclaim, HeldReclaims } from './held-reclaims.js';
import type { PlanNode, PlanOptions, PlanTask } from './plan-types.js';
import { QueuePositions } from './queue-positions.js';
import { DOUBLE } from '../util/double-fields.js';
import type { Assignment, AttemptOutcome, KeptPlan, Queued, Reach, SchedulerInternals, SchedulerNode, SchedulerOptions, SchedulerTask, Settled } from './scheduler-types.js';

export type { Assignment, AttemptFailure, AttemptOutcome, SchedulerNode, SchedulerOptions, SchedulerTask, Settled } from './scheduler-types.js';

/**
 * ETAs come from a plan whose first this many tasks are placed by the planner's rules, the rest (the far
 * queue) estimated (plan-tail.ts): over a thousand nodes the rules cost 15–25 µs a task, the estimate a
 * few.
 */
const RULED_ETA_TASKS = 2000;
/**
 * A pass that only sends work (`assignments`) plans the first this many queued tasks, or this many per
 * free lane when more lanes are free, not the whole horizon: its free lanes pick among the front of
 * the queue, and the rest counts in sums (`PlanOptions.beyondUnits`). Over a thousand nodes a pass over
 * 10,000 tasks cost 3–8 ms, and there is one after every few results. The simulated fleets never queue
 * more.
 */
const SENDING_HORIZON = 2000;
const SENDING_TASKS_PER_LANE = 4;

/** A plan entry's nodes before they are read (`#refresh` sets them). */
const NO_NODES: readonly number[] = [];

/** The checkpoint load time the planner's thresholds in seconds were tuned at (bench:schedule). */
const REFERENCE_SWITCH_SECONDS = 8;

/** Each offering's checkpoint identities by the title a node reports loaded, made once per offering. */
const titleIndexes = new WeakMap<NodeOffering, Map<string, string>>();

function identitiesByTitle(offering: NodeOffering): Map<string, string> {
  let byTitle = titleIndexes.get(offering);
  if (!byTitle) {
    byTitle = new Map();
    // The first offer of a title wins, as a walk of the offers did.
    for (const offer of offering.models.values()) if (!byTitle.has(offer.title)) byTitle.set(offer.title, offer.ref.id);
    titleIndexes.set(offering, byTitle);
  }
  return byTitle;
}

export class Scheduler {
  readonly estimates: NodeEstimates;
  /** What a step of each model family costs: a task's units are priced with it (domain/family-costs.ts). */
  readonly familyCosts: FamilyCosts;
  /** The work queued lately (`PlanOptions.arrivedUnits`). */
  readonly #arrivals = new ArrivalLog();
  readonly health: NodeHealth;
  readonly #fair: FairOrder;
  readonly #horizon: number;
  readonly #planOptions: PlanOptions;
  readonly #familyOf: SchedulerOptions['familyOf'];
  /** Queued tasks in service order (by fair tag: unique, so a binary search finds any). */
  readonly #queue: Queued[] = [];
  /** The nodes' slots together: no pass has more lanes free (`pastSendingPlan`). */
  #slotCount = 0;
  readonly #queuedById = new Map<string, Queued>();
  /** Grows whenever a node of the list comes, goes, or starts or stops taking work (`available`). */
  #availability = 0;
  readonly #attempts: AttemptLedger<Queued>;
  readonly #heldReclaims: HeldReclaims;
  #nodes: SchedulerNode[] = [];
  /** Each node's index in `#nodes`, by id. */
  #nodeIndex = new Map<string, number>();
  /**
   * Grows whenever the node list changes: its ids, their order or an offering version (`#sameList`).
   * While it holds, each task's reach does too, and caches compare it rather than the list.
   */
  #nodesGeneration = 0;
  /** The ids and offering versions of the node list last set, copied (a caller may change its array and its nodes). */
  #listed: { id: string; offeringVersion: number }[] = [];
  /** Per node id: its bindings by needs key, for the offering of `version`. */
  readonly #bindings = new Map<string, { version: number; byNeeds: Map<string, Binding | null> }>();
  /** Reaches of tasks that failed nowhere, by needs key, for the current node list. */
  readonly #reachByNeeds = new Map<string, Reach>();
  /** Node index lists handed out for the current node list, by their joined indices (`#shared`). */
  readonly #nodeLists = new Map<string, readonly number[]>();
  /** Positions kept as the queue changes (queue-positions.ts), built when first asked for a node list. */
  readonly #positions = new QueuePositions<Queued>((queued) => this.#competesOn(queued));
  /** The node list `#positions` holds its tasks for; -1: not built. */
  #positionsGeneration = -1;
  /** The queued tasks no node of the list of `nodesGeneration` can run (`unservable`), kept as the queue changes. */
  #unservable: { nodesGeneration: number; tasks: Set<Queued> } = { nodesGeneration: -1, tasks: new Set() };
  /** The arrays of the plans that send work, reused by each (plan-buffers.ts): such a plan is dropped at once. */
  readonly #passArrays = new PlanBuffers();
  /** The fleet's loads per checkpoint for the passes that send work, kept while no load is learned and no node comes, goes or changes availability. */
  readonly #loadBounds = new KeptLoadBounds();
  /** `#freeWithWork`'s marks, per node index: all 0 between calls. */
  #freeMarks = new Uint8Array(0);
  /** The planner's views of the nodes, reused by each pass (`#planNodes`). */
  readonly #nodeViews: NodeViews<SchedulerNode>;
  /** Units of the queued tasks per checkpoint, the whole queue (`#beyondHorizon`). */
  readonly #queuedUnits = new Map<string | null, number>();
  /** The plan ETAs are read from, and when it is made again (eta-plans.ts). */
  readonly #etaPlans: EtaPlans;
  /** When nodes that hold tasks ready are sent their next (ahead-pacing.ts). */
  readonly #ahead: AheadPacing;
  /** Nodes that take no work, or that plans leave idle beside work (idle-nodes.ts). */
  readonly #idle: IdleNodes;

  constructor(options: SchedulerOptions = {}) {
    this.estimates = options.estimates ?? new NodeEstimates();
    this.familyCosts = options.familyCosts ?? new FamilyCosts();
    this.health = options.health ?? new NodeHealth();
    this.#fair = options.fairOrder ?? new FairOrder();
    this.#horizon = options.horizon ?? 10_000;
    this.#planOptions = options.plan ?? {};
    this.#familyOf = options.familyOf;
    this.#attempts = new AttemptLedger(options.clock);
    this.#nodeViews = new NodeViews({ estimates: this.estimates, health: this.health, attempts: this.#attempts, reportedIdentity: (node) => this.#reportedIdentity(node), takesWork: (node, now) => this.#takesWork(node, now) });
    const internals = this.#internals(options.later);
    this.#etaPlans = new EtaPlans(internals);
    this.#ahead = new AheadPacing(internals);
    this.#idle = new IdleNodes(internals);
    this.#heldReclaims = new HeldReclaims(internals);
  }

  /** What the Scheduler's parts are lent of its state and its steps (scheduler-types.ts `SchedulerInternals`). */
  #internals(later: SchedulerOptions['later']): SchedulerInternals {
    return {
      estimates: this.estimates,
      health: this.health,
      planOptions: this.#planOptions,
      later,
      queue: this.#queue,
      queuedById: this.#queuedById,
      nodeViews: this.#nodeViews,
      nodes: () => this.#nodes,
      nodeById: (nodeId) => {
        const index = this.#nodeIndex.get(nodeId);
        return index === undefined ? undefined : this.#nodes[index];
      },
      nodesGeneration: () => this.#nodesGeneration,
      availability: () => this.#availability,
      reachOf: (queued) => this.#reachOf(queued),
      takesWork: (node, now) => this.#takesWork(node, now),
      hasFreeSlot: (node, now) => this.#hasFreeSlot(node, now),
      assignmentOf: (queued, node) => this.#assignmentOf(queued, node),
      planNodes: (now) => this.#planNodes(now),
      planTaskOf: (queued, now, nodes) => this.#planTaskOf(queued, now, nodes),
      makePlan: (now, own) => this.#makePlan(now, own),
      nextInGroup: (queued) => {
        this.#groupPositions();
        return this.#positions.nextInGroup(queued);
      },
      freeWithWork: (among, first, include) => this.#freeWithWork(among, first, include),
      etaPlan: (now) => this.#etaPlans.current(now),
      attemptsOn: (nodeId) => this.#attempts.onNode(nodeId),
    };
  }

  /** The running attempts (read only: they start and end through `start` and `settle`). */
  get attempts(): AttemptReader {
    return this.#attempts;
  }

  get queuedCount(): number {
    return this.#queue.length;
  }

  /** Queued task ids in service order. */
  queuedIds(): string[] {
    return this.#queue.map((q) => q.task.id);
  }

  /**
   * Queued tasks by checkpoint name ('' for tasks without one: interrogations, upscales), and when the
   * longest-waiting one arrived (epoch ms; null for an empty queue). For metrics and the dashboard: walks the queue.
   */
  queueSummary(): { byCheckpoint: Map<string, number>; oldestArrivedAt: number | null } {
    const byCheckpoint = new Map<string, number>();
    let oldestArrivedAt: number | null = null;
    for (const { task, arrivedAt } of this.#queue) {
      const name = task.spec.kind === 'txt2img' || task.spec.kind === 'img2img' ? task.spec.model.name : '';
      byCheckpoint.set(name, (byCheckpoint.get(name) ?? 0) + 1);
      if (oldestArrivedAt === null || arrivedAt < oldestArrivedAt) oldestArrivedAt = arrivedAt;
    }
    return { byCheckpoint, oldestArrivedAt };
  }

  /** Adds a new task, queued since `arrivedAt` (epoch ms), at its fair place. */
  enqueue(task: SchedulerTask, arrivedAt: number): void {
    // The family is the one the request was read with: a node that learns it later changes no task's binding.
    const family = networkFamilyOf(task.spec, this.#familyOf);
    const units = this.#unitsOf(task.spec, family);
    const queueHead = this.#queue.length > 0 ? Math.min(...this.#queue.slice(0, 64).map((q) => q.tag.start)) : undefined;
    const tag = this.#fair.tag(task.owner, units / REFERENCE_UNITS_PER_SECOND, {
      priority: task.priority,
      weight: task.weight ?? 1,
      ...(queueHead === undefined ? {} : { queueHead }),
    });
    // Every field at once, the work as a double: one hidden class for all (util/double-fields.ts).
    const needs = family === null ? needsKeyOf(task.spec) : `${needsKeyOf(task.spec)}\u0000${family}`;
    const queued: Queued = { task, arrivedAt, tag, units: DOUBLE, costVersion: this.familyCosts.version, checkpoint: checkpointOf(task.spec), failedOn: new Map(), needs, family, reach: null, promisedAt: undefined, planTask: undefined };
    queued.units = units;
    this.#insert(queued);
    this.#arrivals.add(arrivedAt, units);
  }

  #insert(queued: Queued): void {
    // Back in the queue after an attempt that ran while the step costs changed: priced again.
    if (queued.costVersion !== this.familyCosts.version) {
      queued.units = this.#priced(queued);
      queued.planTask = undefined;
    }
    this.#queue.splice(this.#placeOf(queued.tag), 0, queued);
    this.#queuedById.set(queued.task.id, queued);
    this.#queuedUnits.set(queued.checkpoint, (this.#queuedUnits.get(queued.checkpoint) ?? 0) + queued.units);
    if (this.#unservable.nodesGeneration === this.#nodesGeneration && this.#cannotRun(queued)) this.#unservable.tasks.add(queued);
    if (this.#positionsGeneration === this.#nodesGeneration) this.#positions.add(queued);
    this.#etaPlans.changed();
  }

  /** Where a task tagged `tag` stands (or would) in the queue: the number of queued tasks served before it. */
  #placeOf(tag: FairTag): number {
    let low = 0;
    let high = this.#queue.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (compareTags(this.#queue[mid]!.tag, tag) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Takes a queued task out of the queue, if there: answers it. */
  #takeOut(taskId: string): Queued | undefined {
    const queued = this.#queuedById.get(taskId);
    if (!queued) return undefined;
    this.#queue.splice(this.#placeOf(queued.tag), 1);
    this.#queuedById.delete(taskId);
    this.#queuedUnits.set(queued.checkpoint, this.#queuedUnits.get(queued.checkpoint)! - queued.units);
    this.#unservable.tasks.delete(queued);
    this.#positions.delete(queued);
    this.#etaPlans.changed();
    return queued;
  }

  /** Whether `nodes` holds the same ids in the same order, at the same offering versions, as the list last set. */
  #sameList(nodes: readonly SchedulerNode[]): boolean {
    if (nodes.length !== this.#listed.length) return false;
    for (let i = 0; i < nodes.length; i++) {
      const listed = this.#listed[i]!;
      if (nodes[i]!.id !== listed.id || nodes[i]!.offeringVersion !== listed.offeringVersion) return false;
    }
    return true;
  }

  /** Takes a task out of the queue (cancelled, or failed while queued). */
  remove(taskId: string): boolean {
    return this.#takeOut(taskId) !== undefined;
  }

  setNodes(nodes: SchedulerNode[]): void {
    const same = this.#sameList(nodes);
    if (!same || nodes.some((node, i) => node.available !== this.#nodes[i]?.available)) this.#availability += 1;
    this.#nodes = nodes;
    let slots = 0;
    for (const node of nodes) slots += node.slots;
    this.#slotCount = slots;
    this.#nodeViews.nodesSet();
    if (!same) {
      this.#listed = nodes.map((n) => ({ id: n.id, offeringVersion: n.offeringVersion }));
      this.#nodeIndex = new Map(nodes.map((n, index) => [n.id, index]));
      this.#nodesGeneration += 1;
      this.#nodeLists.clear();
      this.#reachByNeeds.clear();
      // Bindings of nodes that left are of no more use (a node that returns comes back under a new id).
      const ids = new Set(nodes.map((n) => n.id));
      for (const id of this.#bindings.keys()) if (!ids.has(id)) this.#bindings.delete(id);
    }
    this.#etaPlans.changed();
  }

  /**
   * One array for equal lists of node indices: tasks of one checkpoint mostly have the same capable
   * nodes, and the plan works per list rather than per task (plan-state.ts, long-poles.ts).
   */
  #shared(list: number[]): readonly number[] {
    const key = list.join(',');
    const known = this.#nodeLists.get(key);
    if (known) return known;
    this.#nodeLists.set(key, list);
    return list;
  }

  /**
   * The node's binding for a queued task, or null if it cannot serve it: bound once per node offering
   * and needs key, not per task (a queue of 20,000 tasks on 1,000 nodes was 20 million bindings).
   */
  #bindingFor(queued: Queued, node: SchedulerNode): Binding | null {
    let cache = this.#bindings.get(node.id);
    if (cache?.version !== node.offeringVersion) this.#bindings.set(node.id, (cache = { version: node.offeringVersion, byNeeds: new Map() }));
    const cached = cache.byNeeds.get(queued.needs);
    if (cached !== undefined) return cached;
    const outcome = bindSpec(queued.task.spec, node.offering, queued.family);
    const binding = outcome.ok ? outcome.binding : null;
    cache.byNeeds.set(queued.needs, binding);
    return binding;
  }

  /**
   * The nodes that can run a queued task. Cached: the dispatcher hands over a
   * fresh node list on every pass, and over a long queue asking every node's
   * binding for every task, every pass, was a third of the pass. A task that
   * has failed nowhere shares the reach of its needs key.
   */
  #reachOf(queued: Queued): Reach {
    if (queued.reach?.nodesGeneration === this.#nodesGeneration) return queued.reach;
    const shareable = queued.failedOn.size === 0;
    const shared = shareable ? this.#reachByNeeds.get(queued.needs) : undefined;
    if (shared) return (queued.reach = shared);
    const capable: number[] = [];
    const fallback: number[] = [];
    this.#nodes.forEach((node, index) => {
      if (this.#bindingFor(queued, node) === null) return;
      (queued.failedOn.has(node.identity) ? fallback : capable).push(index);
    });
    queued.reach = { nodesGeneration: this.#nodesGeneration, capable: this.#shared(capable), fallback: this.#shared(fallback) };
    if (shareable) this.#reachByNeeds.set(queued.needs, queued.reach);
    return queued.reach;
  }

  /** What `node` has loaded (or will have, after the tasks it holds): the checkpoint identity, or null. */
  #loadedIdentity(node: SchedulerNode): string | null {
    const held = this.#attempts.onNode(node.id);
    for (let i = held.length - 1; i >= 0; i--) if (held[i]!.checkpoint !== null) return held[i]!.checkpoint;
    return this.#reportedIdentity(node);
  }

  /** The identity of the checkpoint `node` reports loaded, or null. */
  #reportedIdentity(node: SchedulerNode): string | null {
    if (node.loadedModel === null) return null;
    return identitiesByTitle(node.offering).get(node.loadedModel) ?? null;
  }

  /**
   * The planner's view of each node, kept from pass to pass and read again only where something changed
   * (node-views.ts); `own`: copies, for a plan kept or made in slices, which a later pass must not change.
   */
  #planNodes(now: number, own = false): PlanNode[] {
    const views = this.#nodeViews.refresh(this.#nodes, this.#nodesGeneration, now);
    return own ? copyViews(views) : views;
  }

  /** Takes work and runs fewer attempts than it has slots. */
  #hasFreeSlot(node: SchedulerNode, now: number): boolean {
    return this.#takesWork(node, now) && this.#attempts.busySlots(node.id) < node.slots;
  }

  /** Takes work and may be sent another task: a free slot, or room to hold one ahead (`prefetch`). */
  #hasRoom(node: SchedulerNode, now: number): boolean {
    return this.#takesWork(node, now) && this.#attempts.busySlots(node.id) < node.slots + (node.prefetch ?? 0);
  }

  /** Backend up, not draining, not set aside. */
  #takesWork(node: SchedulerNode, now: number): boolean {
    return node.available && this.health.setAside(node.identity, now) === null;
  }

  /**
   * The planner's input for the queue's first `horizon` tasks; `own`: new objects, for a plan made in
   * slices.
   */
  #planTasks(now: number, nodes: readonly PlanNode[], own: boolean, horizon = this.#horizon): PlanTask[] {
    const count = Math.min(this.#queue.length, horizon);
    const tasks: PlanTask[] = [];
    for (let i = 0; i < count; i++) {
      const queued = this.#queue[i]!;
      // Each queued task keeps its plan entry and refreshes what changes with time: a pass over a queue of
      // 10,000 made 10,000 new objects, the largest allocation of a pass. A plan made in slices must not
      // see a pass in between change them.
      const task = own ? this.#planTaskOf(queued, now, nodes) : queued.planTask ? this.#refresh(queued, queued.planTask, now, nodes) : (queued.planTask = this.#planTaskOf(queued, now, nodes));
      tasks.push(task);
    }
    return tasks;
  }

  /** `queued` as the planner sees it. */
  #planTaskOf(queued: Queued, now: number, nodes: readonly PlanNode[]): PlanTask {
    // Every field at once, the numbers as doubles: one hidden class for all (util/double-fields.ts).
    const task: PlanTask = { id: queued.task.id, units: DOUBLE, checkpoint: queued.checkpoint, capable: NO_NODES, waitedSeconds: DOUBLE, promisedAt: undefined };
    task.units = queued.units;
    return this.#refresh(queued, task, now, nodes);
  }

  /** `queued`'s plan entry of a pass before, brought up to date: what changes with time and with the nodes. */
  #refresh(queued: Queued, task: PlanTask, now: number, nodes: readonly PlanNode[]): PlanTask {
    const { capable, fallback } = this.#reachOf(queued);
    task.capable = this.#preferred(capable, fallback, nodes);
    task.waitedSeconds = Math.max(0, (now - queued.arrivedAt) / 1000);
    task.promisedAt = queued.promisedAt === undefined ? undefined : (queued.promisedAt - now) / 1000;
    return task;
  }

  /**
   * The nodes a task is planned on: those that can run it and have not failed it,
   * unless none of them takes work now (WebUI down, draining, set aside); then the
   * ones it failed on, rather than waiting for a node that may never come back.
   */
  #preferred(capable: readonly number[], fallback: readonly number[], nodes: readonly PlanNode[]): readonly number[] {
    if (fallback.length === 0) return capable;
    return capable.some((n) => nodes[n]!.available) ? capable : fallback;
  }

  /**
   * The planner's settings, its thresholds in seconds scaled to this fleet's typical checkpoint
   * load (they were tuned where a load takes 8 s), unless the caller fixed the scale.
   */
  #planSettings(tasks: readonly PlanTask[], now: number): PlanOptions {
    const beyond = this.#beyondHorizon(tasks);
    const given = beyond === undefined ? this.#planOptions : { ...this.#planOptions, beyondUnits: beyond, beyondTasks: this.#queue.length - tasks.length };
    const sendAhead = { sendAheadSeconds: this.#ahead.windowSeconds(), arrivedUnits: (seconds: number) => this.#arrivals.unitsWithin(now, seconds) };
    if (this.#planOptions.timeScale !== undefined) return { ...sendAhead, ...given };
    const scale = Math.min(Math.max(this.estimates.typicalSwitchSeconds() / REFERENCE_SWITCH_SECONDS, 1 / 64), 4);
    return { ...sendAhead, ...given, timeScale: scale };
  }

  /**
   * When (epoch ms; Infinity for never) a pass may send a task to hold ahead that the passes so far did not
   * (ahead-pacing.ts `dueAt`).
   */
  sendAheadDueAt(now: number): number {
    return this.#ahead.dueAt(now);
  }

  /** Units per checkpoint of the queued tasks past the planned ones (`tasks`, the horizon); none when the horizon holds the queue. */
  #beyondHorizon(tasks: readonly PlanTask[]): Map<string | null, number> | undefined {
    if (tasks.length === this.#queue.length) return undefined;
    const beyond = new Map(this.#queuedUnits);
    for (const task of tasks) beyond.set(task.checkpoint, beyond.get(task.checkpoint)! - task.units);
    return beyond;
  }

  /**
   * The ETA plan, made at `now`, in steps: the rules' plan of the horizon, then every task past it
   * appended. `own`: on copies of the planner's input (a plan made in slices).
   */
  #makePlan(now: number, own: boolean): Generator<void, KeptPlan, void> {
    // A kept plan keeps its nodes (newcomers are placed with them): its own, never a pass's. Read now, not
    // at the generator's first step: made in slices, that comes a turn later, and the views must not be
    // read at a time older than a pass's in between (node-views.ts: a node read at the older time would
    // be taken for set aside after its set-aside had ended).
    const nodes = this.#planNodes(now, true);
    const tasks = this.#planTasks(now, nodes, own);
    // The queue past the horizon as it is now, with the horizon's tasks: read after the slices, a queue that
    // changed meanwhile would have a task at the boundary placed twice (its tail estimate over its planned
    // start) or not at all. Tasks queued since are placed as newcomers when asked (eta-plans.ts).
    const far = this.#queue.slice(this.#horizon);
    return this.#planSteps(now, nodes, tasks, far);
  }

  *#planSteps(now: number, nodes: PlanNode[], tasks: PlanTask[], far: readonly Queued[]): Generator<void, KeptPlan, void> {
    const plan = yield* planInSlices(tasks, nodes, { ...this.#planSettings(tasks, now), ruledTasks: RULED_ETA_TASKS });
    // Past the horizon the rules never look (they pick among its tasks), but each task there has its ETA too.
    for (let i = 0; i < far.length; i++) {
      if (i % 256 === 255) yield;
      plan.append?.(this.#planTaskOf(far[i]!, now, nodes));
    }
    const lanes = nodes.reduce((sum, n) => sum + (n.available ? Math.max(1, n.lanes.length) : 0), 0);
    return { plan, at: now, nodes, nodesGeneration: this.#nodesGeneration, size: plan.startAt.size + lanes, changed: false };
  }

  /** What to send now: for each free node slot, the task planned first on it. */
  assignments(now: number): Assignment[] {
    // Time has passed since the plan was made: its ETAs are due again (a long queue's plan is kept a while).
    this.#etaPlans.changed();
    // Nothing to plan when no free slot can run a queued task: a node freed by a result while the queue
    // holds only work for other nodes (a long queue for one checkpoint, or for big images) would otherwise
    // cost a plan of the whole queue after every result.
    // Nor in every pass when it could only send tasks to hold ahead (ahead-pacing.ts `SEND_AHEAD_PASS_GAP`).
    const nodes = this.#planNodes(now);
    if (!this.#ahead.mayPlan(now)) return [];
    // Only what the lanes free now pick: the rest of the plan (ETAs) is made when asked. Over a long queue
    // this halves the pass that stands between a request and its task being sent.
    // (Tasks sent ahead are a few lanes' picks past now, planner.ts `SEND_AHEAD_STEPS`: no wider horizon.)
    let free = 0;
    for (const index of this.#nodeViews.free) for (const freeAt of nodes[index]!.lanes) if (freeAt <= 0) free += 1;
    const tasks = this.#planTasks(now, nodes, false, this.#sendingHorizon(free));
    // The views were just refreshed: their loads and availability are those the key names.
    const loadBounds = this.#loadBounds.for(`${this.#nodeViews.generation} ${this.#nodeViews.availabilityVersion} ${this.estimates.loadsVersion}`, nodes);
    const plan = planTasks(tasks, nodes, { ...this.#planSettings(tasks, now), loadBounds }, 0, this.#passArrays);
    // Nodes within their window that the pass had no lanes left for are due in the next that sends ahead.
    this.#ahead.planned(plan.aheadLeft === true);
    // A node sent two tasks in one pass (one to hold ready) has the first's checkpoint loaded for the second.
    const loadedAfter = new Map<string, string | null>();
    return plan.assignments.map(({ taskId, nodeId }) => {
      const queued = this.#queuedById.get(taskId)!;
      const node = this.#nodes[this.#nodeIndex.get(nodeId)!]!;
      const loaded = loadedAfter.has(nodeId) ? loadedAfter.get(nodeId)! : this.#loadedIdentity(node);
      if (queued.checkpoint !== null) loadedAfter.set(nodeId, queued.checkpoint);
      return { ...this.#assignmentOf(queued, node, loaded), waitSeconds: Math.max(0, plan.startAt.get(taskId) ?? 0) };
    });
  }

  /** `loaded`: what the node will have loaded when it begins the task. @defaultValue what it has, after the tasks it holds */
  #assignmentOf(queued: Queued, node: SchedulerNode, loaded = this.#loadedIdentity(node)): Assignment {
    const switched = queued.checkpoint !== null && queued.checkpoint !== loaded;
    const load = switched ? this.estimates.loadSeconds(node.identity, queued.checkpoint) : 0;
    const expectedSeconds = load + runSeconds(this.estimates.get(node.identity), queued.units);
    return { taskId: queued.task.id, nodeId: node.id, binding: this.#bindingFor(queued, node)!, expectedSeconds, switched, waitSeconds: 0 };
  }
  /**
   * The front-most queued task a node with a free slot can run, sent to the free node that would finish it
   * soonest, for nodes that passes keep idle beside work (idle-nodes.ts `idleFallback`); `among`: only these
   * nodes (ids), those idle long enough.
   */
  idleFallback(now: number, among?: ReadonlySet<string>): Assignment[] {
    return this.#idle.idleFallback(now, among);
  }

  /** Seconds a checkpoint load typically takes on this fleet (what the planner's thresholds scale with). */
  typicalSwitchSeconds(): number {
    return this.estimates.typicalSwitchSeconds();
  }

  /**
   * For a queued task: `free` when a node that can run it may be sent it now (a free slot, or room to hold
   * it ahead and its lane freeing within the send-ahead window, as of the last pass), `busy` when
   * every such node is full, away or busy for longer, `none` when no connected node can run it. (Room to
   * hold a task alone is no reason for a pass: in a busy fleet every node that began its held task has
   * room, and a pass per submit found nothing to send.)
   */
  slotsFor(taskId: string, now: number): 'free' | 'busy' | 'none' {
    const queued = this.#queuedById.get(taskId);
    if (!queued) return 'none';
    const { capable, fallback } = this.#reachOf(queued);
    if (capable.length === 0 && fallback.length === 0) return 'none';
    // From the views of the last pass, but for nodes where an attempt started or ended since, and for a newer
    // node list: those are looked at themselves (room to hold a task counts there, whenever its lane frees).
    const views = this.#nodeViews;
    const window = this.#ahead.windowSeconds();
    const current = views.generation === this.#nodesGeneration;
    const free = (n: number) => (current ? views.maySend(n, window, now) : undefined) ?? this.#hasRoom(this.#nodes[n]!, now);
    return capable.some(free) || fallback.some(free) ? 'free' : 'busy';
  }

  /** How many queued tasks, from the front, a pass that sends work plans with `freeLanes` free (`SENDING_HORIZON`). */
  #sendingHorizon(freeLanes: number): number {
    return Math.min(this.#horizon, Math.max(SENDING_HORIZON, SENDING_TASKS_PER_LANE * freeLanes));
  }

  /**
   * Whether the next pass cannot send task `taskId`: it stands in the queue past the front that a pass plans
   * (`assignments`: its sending horizon, however many lanes are free). A submit of such a task has no reason
   * to hurry the pass (gateway/dispatcher.ts): under a flood of submits, a queue thousands long, each turn
   * of submits ran a pass of its own.
   */
  pastSendingPlan(taskId: string): boolean {
    const queued = this.#queuedById.get(taskId);
    if (!queued) return false;
    return this.#placeOf(queued.tag) >= this.#sendingHorizon(this.#slotCount);
  }

  /**
   * The ids of the available nodes with a free slot that could run some queued task: after a pass, the
   * nodes idle beside work (`idleFallback`; idle-nodes.ts).
   */
  idleNodes(now: number): string[] {
    return this.#idle.idleNodes(now);
  }

  /**
   * Tasks held ready on busy nodes (sent ahead, not begun) that an idle node would finish well before their
   * holders: to take back and send there (held-reclaims.ts).
   */
  heldReclaims(now: number): HeldReclaim[] {
    return this.#heldReclaims.reclaims(now);
  }

  /**
   * Whether a progress report from `nodeId` at `now` may let an idle node take back a task held there (its
   * running task said to end later than thought): the node holds one, the last pass found some node with a
   * free slot, and the last look that took nothing back is not recent (held-reclaims.ts `resting`).
   */
  mayReclaimFrom(nodeId: string, now: number): boolean {
    return this.#nodeViews.idle.length > 0 && this.#attempts.onNode(nodeId).some(isHeld) && !this.#heldReclaims.resting(now);
  }

  /**
   * Those of `among` (node indices, the views' `free` or `idle`) that can run some queued task: all of them,
   * or the first found (`first`: a pass only asks whether any). Walks the queue until each is found, per
   * reach list, not per task: equal lists are one array (`#shared`).
   */
  #freeWithWork(among: readonly number[], first: boolean, include: (index: number) => boolean = () => true): number[] {
    // Marks in an array kept between calls, not a Set per call: this runs on every pass, over every free node.
    const marks = (this.#freeMarks = this.#freeMarks.length >= this.#nodes.length ? this.#freeMarks : new Uint8Array(this.#nodes.length));
    let left = 0;
    for (const index of among) {
      if (marks[index] === 1 || !include(index)) continue;
      marks[index] = 1;
      left += 1;
    }
    const found: number[] = [];
    const seen = new Set<readonly number[]>();
    const look = (list: readonly number[]): boolean => {
      if (seen.has(list)) return false;
      seen.add(list);
      for (const index of list) {
        if (marks[index] !== 1) continue;
        marks[index] = 0;
        left -= 1;
        found.push(index);
        if (first) return true;
      }
      return false;
    };
    try {
      for (let i = 0; i < this.#queue.length && left > 0; i++) {
        const { capable, fallback } = this.#reachOf(this.#queue[i]!);
        if (look(capable) || look(fallback)) break;
      }
    } finally {
      // All 0 again for the next call, whatever happened.
      if (left > 0) for (const index of among) marks[index] = 0;
    }
    return found;
  }

  /**
   * Moves a task from the queue onto a node: its attempt is recorded in the ledger
   * (with its timeout, when given) until `settle` ends it.
   */
  start(assignment: Assignment, now: number, options: { attempt?: number; timeout?: AttemptTimeout } = {}): RunningAttempt | undefined {
    const queued = this.#takeOut(assignment.taskId);
    if (!queued) return undefined;
    const index = this.#nodeIndex.get(assignment.nodeId);
    const node = index === undefined ? undefined : this.#nodes[index];
    this.#fair.started(queued.tag);
    const attempt = {
      taskId: assignment.taskId,
      attempt: options.attempt ?? 1,
      nodeId: assignment.nodeId,
      nodeName: node?.name ?? assignment.nodeId,
      nodeIdentity: node?.identity ?? assignment.nodeId,
      startedAt: now,
      // Sent ahead to a node whose slots are all busy (its `prefetch`): it waits there until one frees.
      begunAt: node && this.#attempts.busySlots(node.id) >= node.slots ? null : now,
      expectedSeconds: assignment.expectedSeconds,
      switched: assignment.switched,
      checkpoint: queued.checkpoint,
      task: queued,
    };
    if (index !== undefined) this.#nodeViews.touch(index);
    return this.#attempts.start(attempt, options.timeout);
  }

  /**
   * Ends a running attempt, once: a later or repeated call for it (a result racing
   * its timeout, a failure after its node was lost) answers undefined. `where`
   * narrows it to the node it must run on and to the attempt number.
   *
   * A success teaches the node's speed and clears its failure streak. A failure
   * may count against the node (node-health.ts), unless the task already failed
   * the same way on another node: then the task is at fault, that node's count
   * is taken back, and the task is not requeued. With `requeue`, the task goes
   * back to its old place, preferring nodes it has not failed on.
   */
  settle(where: { taskId: string; nodeId?: string; attempt?: number }, outcome: AttemptOutcome, now: number): Settled | undefined {
    const attempt = this.#attempts.settle(where.taskId, where, now);
    if (!attempt) return undefined;
    const index = this.#nodeIndex.get(attempt.nodeId);
    if (index !== undefined) this.#nodeViews.touch(index);
    this.#etaPlans.changed();
    const queued = attempt.task;
    if (outcome.ok) {
      this.health.succeeded(attempt.nodeIdentity);
      if (outcome.elapsedMs !== undefined && !((outcome.nodeSilentUntil ?? -Infinity) > attempt.startedAt)) {
        // What a lane costs is the gateway's view, from sending the task to its result: the backend's own
        // time plus the round trip and the node's handling, which a fast GPU repeats with every task
        // (bench:live, fast GPUs: a quarter of the node time). The fit puts it in the node's fixed part.
        // One sent ahead began when the attempt before it on the node ended, not when it was sent; one that
        // ended before that one (its answer came first) has only the node's own measure.
        // One its node took along through a dropped connection: the time since it began holds the outage too;
        // one that ran while the gateway stalled (paused, its event loop blocked), that stall.
        const stalled = attempt.begunAt !== null && (outcome.awakeSince ?? -Infinity) > attempt.begunAt;
        const cycleMs = attempt.begunAt === null || attempt.resumed === true || stalled ? outcome.elapsedMs : Math.max(outcome.elapsedMs, now - attempt.begunAt);
        const switched = attempt.switched || outcome.loadMs !== undefined;
        // The family costs learn from runs timed the usual way and with no load in them: a load's own time is the
        // node's word, and Forge's may be part of the generation (speed-estimates.ts `splitSwitchedRun`).
        const plain = attempt.begunAt !== null && attempt.resumed !== true && !stalled;
        if (plain && !switched) this.#learnFamilyCost(queued, attempt.nodeIdentity, cycleMs / 1000);
        this.estimates.record(attempt.nodeIdentity, {
          units: queued.units,
          elapsedSeconds: cycleMs / 1000,
          switched,
          checkpoint: queued.checkpoint,
          ...(outcome.loadMs === undefined ? {} : { loadSeconds: outcome.loadMs / 1000 }),
        });
      }
      return { attempt, setAside: null, sameWayAs: null };
    }
    const { failure } = outcome;
    let setAside: SetAside | null = null;
    let sameWayAs: string | null = null;
    if (failure) {
      const other = failure.blame === 'node-or-task' ? this.#failedSameWay(queued, attempt.nodeIdentity, failure.kind) : null;
      sameWayAs = other?.name ?? null;
      if (other !== null) this.health.retract(other.identity, queued.task.id, now);
      else if (failure.blame !== 'none') setAside = this.health.failed(attempt.nodeIdentity, { taskId: queued.task.id, reason: failure.reason }, now);
    }
    if (outcome.requeue && sameWayAs === null) {
      // Only a failure puts a node behind the others for this task: a start the store could not record is nobody's.
      if (failure) queued.failedOn.set(attempt.nodeIdentity, { kind: failure.kind, name: attempt.nodeName });
      queued.reach = null;
      // Not `delete`: a field gone from the middle of an object sends it to V8's slow dictionary mode.
      queued.promisedAt = undefined;
      this.#insert(queued);
    }
    return { attempt, setAside, sameWayAs };
  }

  /**
   * Teaches the family costs a run of `queued` (of a known family) that took `seconds` on its node, with no load. When a
   * cost changes, the nodes that ran only that family count their work in the new units (their speeds were
   * learned in the old ones: else they would predict it off by the change until their fits caught up), and the
   * queued tasks of the family are priced again.
   */
  #learnFamilyCost(queued: Queued, node: string, seconds: number): void {
    const family = queued.family;
    if (family === null) return;
    const changed = this.familyCosts.record({ node, family, priorUnits: workUnitsOf(queued.task.spec, PRIOR_STEP_COSTS[family]), seconds });
    if (changed.length === 0) return;
    for (const { family: repriced, from, to } of changed) for (const only of this.familyCosts.nodesOnly(repriced)) this.estimates.rescaleUnits(only, to / from);
    this.#reprice(changed.map((c) => c.family));
  }

  /**
   * Prices again the queued tasks of `families`, whose step cost changed: a walk over the queue, which the
   * published costs' hysteresis keeps to the few times the network learns something (domain/family-costs.ts).
   */
  #reprice(families: readonly ModelFamily[]): void {
    for (const queued of this.#queue) {
      if (queued.family === null || !families.includes(queued.family)) continue;
      const units = this.#priced(queued);
      this.#queuedUnits.set(queued.checkpoint, this.#queuedUnits.get(queued.checkpoint)! - queued.units + units);
      queued.units = units;
      // Made again at the next pass, with the new units.
      queued.planTask = undefined;
    }
    this.#etaPlans.changed();
  }

  /**
   * A queued task's units at the step costs published now, and the version it is priced at. Its fair tag and
   * the arrivals log keep the units it arrived with: a share of the GPUs already counted is not counted again.
   */
  #priced(queued: Queued): number {
    queued.costVersion = this.familyCosts.version;
    return this.#unitsOf(queued.task.spec, queued.family);
  }

  /** A task's units at the step cost of its family published now. */
  #unitsOf(spec: GenerationSpec, family: ModelFamily | null): number {
    return workUnitsOf(spec, this.familyCosts.stepCost(family));
  }

  /**
   * Starts queued task `taskId` as attempt `attempt` on a node that already runs it: a node that came
   * back, after the gateway restarted, with a task the gateway it left had given it (gateway/node-returns.ts `resume`).
   * Its expected time is the node's for the work, the checkpoint loaded already.
   */
  adopt(taskId: string, node: { id: string; name: string; identity: string; slots: number }, attempt: number, now: number, timeoutFor?: (expectedSeconds: number) => AttemptTimeout): RunningAttempt | undefined {
    const queued = this.#takeOut(taskId);
    if (!queued) return undefined;
    this.#fair.started(queued.tag);
    const expectedSeconds = runSeconds(this.estimates.get(node.identity), queued.units);
    // Taken in the order the node names them, the ones it runs first: one beyond its slots is one it holds ready
    // (counted as begun, it hid the node's held task from the planner, which sent it one more for good).
    const begunAt = this.#attempts.busySlots(node.id) >= node.slots ? null : now;
    const started = { taskId, attempt, nodeId: node.id, nodeName: node.name, nodeIdentity: node.identity, startedAt: now, begunAt, expectedSeconds, switched: false, checkpoint: queued.checkpoint, task: queued };
    const index = this.#nodeIndex.get(node.id);
    if (index !== undefined) this.#nodeViews.touch(index);
    return this.#attempts.start(started, timeoutFor?.(expectedSeconds));
  }

  /**
   * A node came back on a new connection (`toNodeId`) still holding an attempt it ran on the one that
   * dropped: the attempt runs on there, as it was. False unless that attempt runs on `fromNodeId`.
   */
  moveAttempt(where: { taskId: string; attempt: number; fromNodeId: string }, toNodeId: string): boolean {
    if (!this.#attempts.move(where, toNodeId)) return false;
    for (const nodeId of [where.fromNodeId, toNodeId]) {
      const index = this.#nodeIndex.get(nodeId);
      if (index !== undefined) this.#nodeViews.touch(index);
    }
    this.#etaPlans.changed();
    return true;
  }

  /** Notes the progress a node reported for the attempt it runs; false for a stale report. */
  noteProgress(where: { taskId: string; nodeId: string; attempt: number }, progress: number, etaSeconds: number | null): boolean {
    return this.#attempts.noteProgress(where, progress, etaSeconds);
  }

  /** Another node this task failed on in the same way, if any. */
  #failedSameWay(queued: Queued, nodeIdentity: string, kind: string): { identity: string; name: string } | null {
    for (const [other, how] of queued.failedOn) if (other !== nodeIdentity && how.kind === kind) return { identity: other, name: how.name };
    return null;
  }

  /**
   * The nodes that could run queued task `taskId` when none of them takes work at `now` (WebUI down,
   * draining, set aside), so that its status can say what it waits for; null when one of them does, when
   * no node can run it (`unservable` says so), or when it is not queued (idle-nodes.ts `idleReach`).
   */
  idleReach(taskId: string, now: number): SchedulerNode[] | null {
    return this.#idle.idleReach(taskId, now);
  }

  /** Rank (1-based) in service order among queued tasks that compete for a node with this one. */
  position(taskId: string): number | undefined {
    const queued = this.#queuedById.get(taskId);
    if (!queued) return undefined;
    this.#groupPositions();
    // A task no node can run competes with every task.
    return this.#positions.position(queued) ?? this.#placeOf(queued.tag) + 1;
  }

  /** Groups the queue for positions again, once, if the node lists changed (or it was never grouped). */
  #groupPositions(): void {
    if (this.#positionsGeneration === this.#nodesGeneration) return;
    this.#positions.clear();
    this.#positionsGeneration = this.#nodesGeneration;
    for (const q of this.#queue) this.#positions.add(q);
  }

  /** The nodes a queued task competes for: those that can run it, failed on it before or not. */
  #competesOn(queued: Queued): readonly number[] {
    const reach = this.#reachOf(queued);
    return reach.fallback.length === 0 ? reach.capable : [...reach.capable, ...reach.fallback];
  }

  /** Seconds until a running attempt ends; one waiting on its node (sent ahead) first waits for the earliest of those begun there. */
  #endsIn(running: RunningAttempt, now: number): number {
    const left = (attempt: RunningAttempt, begunAt: number) => Math.max(0, attempt.expectedSeconds - (now - begunAt) / 1000);
    if (running.begunAt !== null) return left(running, running.begunAt);
    let before = Infinity;
    for (const other of this.#attempts.onNode(running.nodeId)) if (other.begunAt !== null) before = Math.min(before, left(other, other.begunAt));
    return (before === Infinity ? 0 : before) + running.expectedSeconds;
  }

  /**
   * Seconds until the task starts (queued) or ends (running), from the current plan; null if unplanned.
   * The first ETA told for a queued task is recorded as its promised start (see planner.ts),
   * once the node it is planned on has a measured speed.
   */
  eta(taskId: string, now: number): number | null {
    const running = this.#attempts.get(taskId);
    if (running) return this.#endsIn(running, now);
    return this.#etaPlans.eta(taskId, now);
  }

  /** Cancels the running attempts' timers (shutdown); the attempts stay recorded. */
  close(): void {
    this.#etaPlans.close();
    this.#attempts.close();
  }

  /** Queued tasks no connected node can serve, with what they lack. */
  unservable(): Map<string, string> {
    // Asked on every pass: the whole queue is looked at only when the node list changed.
    if (this.#unservable.nodesGeneration !== this.#nodesGeneration) {
      this.#unservable = { nodesGeneration: this.#nodesGeneration, tasks: new Set(this.#queue.filter((queued) => this.#cannotRun(queued))) };
    }
    const out = new Map<string, string>();
    for (const queued of this.#unservable.tasks) {
      // Asked on every pass while the task waits out its grace time: worked out once per node list.
      const reach = this.#reachOf(queued);
      reach.lack ??= this.#lackOf(queued);
      out.set(queued.task.id, reach.lack);
    }
    return out;
  }

  /** No node of the current list can run it, not even one it failed on. */
  #cannotRun(queued: Queued): boolean {
    const reach = this.#reachOf(queued);
    return reach.capable.length === 0 && reach.fallback.length === 0;
  }

  #lackOf(queued: Queued): string {
    if (this.#nodes.length === 0) return 'no node is connected';
    const missing = new Set<string>();
    for (const node of this.#nodes) {
      const outcome = bindSpec(queued.task.spec, node.offering, queued.family);
      if (!outcome.ok) outcome.missing.forEach((m) => missing.add(m));
    }
    return `no connected node has ${[...missing].join(', ')}`;
  }
}
