/**
 * @module scheduler/scheduler-types
 *
 * The scheduler's data (scheduler.ts): what it is given (tasks, nodes,
 * options), what it answers (assignments, settled attempts) and what it
 * holds of a queued task. In a module of their own so that the parts the
 * Scheduler is made of (eta-plans.ts, ahead-pacing.ts, idle-nodes.ts) can
 * share them without importing the Scheduler: import/no-cycle counts
 * type-only imports too. Other code imports the public ones from
 * scheduler.ts, which re-exports them.
 *
 * `SchedulerInternals` is what the Scheduler lends those parts of its state
 * and of its steps; each takes only the members it uses.
 */
import type { Binding } from '../domain/binding.js';
import type { NodeOffering } from '../domain/offering.js';
import type { ModelFamily } from '../domain/families.js';
import type { GenerationSpec, ResourceRef } from '../domain/spec.js';
import type { FamilyCosts } from '../domain/family-costs.js';
import type { NodeEstimates } from '../domain/speed-estimates.js';
import type { Clock } from '../util/clock.js';
import type { RunningAttempt } from './attempt-ledger.js';
import type { FairOrder, FairTag } from './fair-order.js';
import type { NodeHealth, SetAside } from './node-health.js';
import type { NodeViews } from './node-views.js';
import type { Plan, PlanNode, PlanOptions, PlanTask } from './plan-types.js';

export interface SchedulerTask {
  id: string;
  /** Whom the task is for (a key id, or an anonymous caller's address): the fair share is per owner. */
  owner: string;
  spec: GenerationSpec;
  priority: number;
  /** The owner's share of the GPUs relative to others while both wait (auth/api-key.ts). @defaultValue 1 */
  weight?: number;
}

/** A node as the scheduler sees it; the caller rebuilds these when nodes change. */
export interface SchedulerNode {
  id: string;
  /** Name, for messages. */
  name: string;
  /**
   * Who the node is, for learned speed and health (survives reconnects): the gateway derives it from
   * the node's credential and a key the node keeps, so another node cannot take it by its name.
   */
  identity: string;
  offering: NodeOffering;
  /** Changes whenever `offering` does (invalidates cached bindings). */
  offeringVersion: number;
  slots: number;
  /**
   * Tasks it takes beyond its slots, to hold ready behind the running ones: it starts the next the moment
   * a slot frees, where a task sent at the result would leave the GPU idle for the round trip (and, on a
   * backend that encodes its images after freeing the GPU, for that too). @defaultValue 0
   */
  prefetch?: number;
  /** Checkpoint title the node reports loaded. */
  loadedModel: string | null;
  /** Backend up and not draining. */
  available: boolean;
}

export interface Assignment {
  taskId: string;
  nodeId: string;
  binding: Binding;
  /** Expected seconds on this node, the checkpoint switch included. */
  expectedSeconds: number;
  switched: boolean;
  /** Seconds it should wait on the node before it begins: 0, or for a task sent ahead, until a slot there frees. */
  waitSeconds: number;
}

/** A queued task as the scheduler holds it. */
export interface Queued {
  task: SchedulerTask;
  /** When it was first queued (epoch ms). */
  arrivedAt: number;
  tag: FairTag;
  units: number;
  /** The step costs' version its units were priced at (`FamilyCosts.version`). */
  costVersion: number;
  checkpoint: string | null;
  /** Identities of the nodes an attempt failed on, with how it failed there (an error id) and the node's name. */
  failedOn: Map<string, { kind: string; name: string }>;
  /**
   * What binding it depends on (`needsKeyOf`, and the family the network knew its model by when it was queued):
   * tasks with equal keys bind alike.
   */
  needs: string;
  /** The family the network knew its model by when it was queued (`SchedulerOptions.familyOf`), for binding. */
  family: ModelFamily | null;
  /** Which of the current nodes can run it, while the node list and this task's failures stay as they were. */
  reach: Reach | null;
  /** The start promised by the first ETA told (epoch ms), once told. */
  promisedAt: number | undefined;
  /** Its entry in the planner's input, reused from pass to pass (Scheduler `#planTasks`), once planned. */
  planTask: PlanTask | undefined;
}

/** The plan ETAs are read from (`Scheduler.eta`). */
export interface KeptPlan {
  plan: Plan;
  /** When it was made (epoch ms), for the node list of `nodesGeneration`, from these nodes. */
  at: number;
  nodesGeneration: number;
  nodes: PlanNode[];
  /** How many tasks it planned when made, plus the lanes it planned them on: what it cost. */
  size: number;
  /** Whether the queue, the nodes or the time changed since. */
  changed: boolean;
}

/** The nodes (indices into the node list) that can run a queued task, for one node list. */
export interface Reach {
  /** The node list it was computed for (`Scheduler.#nodesGeneration`). */
  nodesGeneration: number;
  /** Nodes that bind the task and have not failed it (shared by tasks with equal lists). */
  capable: readonly number[];
  /** Nodes that bind it but failed it before: planned only when no other can run it. */
  fallback: readonly number[];
  /** What it lacks when no node binds it, computed when first asked. */
  lack?: string;
}

/** How an attempt ended, as the scheduler learns from it. */
export type AttemptOutcome =
  | {
      ok: true;
      /** The whole run on the backend, a checkpoint load included. */
      elapsedMs?: number;
      /** Of that, the checkpoint load the node timed apart (none: no load, or not timed). */
      loadMs?: number;
      /**
       * Since when the gateway has run without a stall (node-hub.ts `awakeSince`): an attempt that began before
       * it is timed by its node alone, since the gateway's own measure holds the stall.
       */
      awakeSince?: number;
      /**
       * When the gateway last heard the node again after a silence of two heartbeat intervals or more while
       * it was itself awake (NodeSession `silentUntil`): an attempt that ran across it teaches nothing of the
       * node's speed. The node's process may have stood still (a laptop asleep, SIGSTOP) while its WebUI
       * worked on, and its own measure holds that time as well as the gateway's does.
       */
      nodeSilentUntil?: number;
    }
  | {
      ok: false;
      /** How it failed; none for a cancel. */
      failure?: AttemptFailure;
      /** Put the task back at its old place in the queue (unless it failed the same way on another node before). */
      requeue?: boolean;
    };

export interface AttemptFailure {
  /** How it failed (an error id); failing the same way on two nodes puts the fault on the task. */
  kind: string;
  reason: string;
  /**
   * `node`: it says something about the node (its connection dropped); `node-or-task`: about the node
   * unless the task fails the same way elsewhere too (the backend failed, answered garbage, timed out);
   * `none`: about neither (the request was refused as invalid, the node was stopping).
   */
  blame: 'node' | 'node-or-task' | 'none';
}

/** The end of an attempt, as `settle` answers it (once). */
export interface Settled {
  attempt: RunningAttempt;
  /** The set-aside this failure caused, if any. */
  setAside: SetAside | null;
  /** The node this task already failed on the same way: then the task is at fault, not the nodes, and it is not requeued. */
  sameWayAs: string | null;
}

export interface SchedulerOptions {
  /** Arms attempt timeouts (the gateway's clock); without one, attempts have none. */
  clock?: Clock;
  estimates?: NodeEstimates;
  /** What a step of each model family costs (learned from results on nodes that run several). */
  familyCosts?: FamilyCosts;
  health?: NodeHealth;
  fairOrder?: FairOrder;
  /** Most queued tasks planned (the rest wait without an ETA). @defaultValue 10 000 */
  horizon?: number;
  /** Planner settings (affinity window, longest skip). */
  plan?: PlanOptions;
  /**
   * Runs `work` once the caller's pending work has run (the gateway: `setImmediate`). Given, a long
   * queue's ETA plan, once due again, is made in slices of a few milliseconds through it while ETAs
   * are read from the plan before; without it, a plan is made at once when asked (the simulation).
   */
  later?: (work: () => void) => void;
  /**
   * The family the network knows a model by (the gateway's catalog), for binding a task to a node that cannot
   * tell its own file's (domain/binding.ts). @defaultValue none: only the node's word
   */
  familyOf?: (model: ResourceRef) => ModelFamily | null;
}

/**
 * What the Scheduler lends the parts it is made of (eta-plans.ts, ahead-pacing.ts, idle-nodes.ts): its state,
 * and the steps they share, each written once, in the file that keeps it (its doc comment there says why it
 * does what it does). Built once, in the Scheduler's constructor; each part takes a `Pick` of it, only what it
 * uses. The Scheduler stays the one API its callers use. The loops over the whole queue stay in the Scheduler,
 * where they call its own methods: the parts call these once per pass or per answer, or, in the idle fallback
 * (idle-nodes.ts), per task and free node of the queue's front, and only after nodes idled a while.
 */
export interface SchedulerInternals {
  readonly estimates: NodeEstimates;
  readonly health: NodeHealth;
  /** `SchedulerOptions.plan`: the planner settings the caller fixed. */
  readonly planOptions: PlanOptions;
  /** `SchedulerOptions.later`: runs work once the caller's pending work has run. */
  readonly later: ((work: () => void) => void) | undefined;
  /** Queued tasks in service order (by fair tag). */
  readonly queue: readonly Queued[];
  readonly queuedById: ReadonlyMap<string, Queued>;
  /** The planner's views of the nodes, as the last refresh left them (node-views.ts). */
  readonly nodeViews: NodeViews<SchedulerNode>;
  /** The node list last set. */
  nodes(): readonly SchedulerNode[];
  /** The node of that list with this id. */
  nodeById(nodeId: string): SchedulerNode | undefined;
  /** Grows whenever the node list changes: its ids, their order or an offering version. */
  nodesGeneration(): number;
  /** Grows whenever a node of the list comes, goes, or starts or stops taking work (`available`). */
  availability(): number;
  /** The nodes that can run a queued task (cached per node list). */
  reachOf(queued: Queued): Reach;
  /** Backend up, not draining, not set aside. */
  takesWork(node: SchedulerNode, now: number): boolean;
  /** Takes work and runs fewer attempts than it has slots. */
  hasFreeSlot(node: SchedulerNode, now: number): boolean;
  /** The assignment of `queued` to `node`, with what it is expected to cost there. */
  assignmentOf(queued: Queued, node: SchedulerNode): Assignment;
  /** The planner's view of each node, refreshed at `now`. */
  planNodes(now: number): PlanNode[];
  /** `queued` as the planner sees it: a new plan entry (`Scheduler.#planTaskOf`). */
  planTaskOf(queued: Queued, now: number, nodes: readonly PlanNode[]): PlanTask;
  /** The ETA plan, made at `now`, in steps; `own`: on copies of the planner's input (a plan made in slices). */
  makePlan(now: number, own: boolean): Generator<void, KeptPlan, void>;
  /** The queued task that `queued` stands before in service order among tasks of its nodes (queue-positions.ts). */
  nextInGroup(queued: Queued): Queued | undefined;
  /** Those of `among` (node indices) that can run some queued task: all, or the first found. */
  freeWithWork(among: readonly number[], first: boolean, include?: (index: number) => boolean): number[];
  /** The plan to read ETAs from (eta-plans.ts). */
  etaPlan(now: number): KeptPlan;
  /** The attempts running on a node (or held there), oldest first. */
  attemptsOn(nodeId: string): readonly (RunningAttempt & { task: Queued })[];
}
