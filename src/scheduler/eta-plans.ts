/**
 * @module scheduler/eta-plans
 *
 * The plan ETAs are read from (`Scheduler.eta`), and when it is made again.
 * A long queue's plan is kept a while after the queue or the nodes change,
 * rather than made again for every ETA asked; newcomers are placed after it
 * (plan-tail.ts) or at the start of the task they stand before, so an ETA
 * costs a lookup and not a plan. Given a `later`, a large plan due again is
 * made in slices between the caller's other work while ETAs are read from
 * the plan before. The first ETA told for a task, planned on a node of
 * measured speed, is recorded as its promised start (planner.ts, rule 0).
 *
 * Making the plan from the queue is the Scheduler's (`makePlan`): it turns
 * each queued task into the planner's input, a loop over the whole queue.
 */
import type { Plan, PlanNode } from './plan-types.js';
import type { KeptPlan, Queued, SchedulerInternals } from './scheduler-types.js';

/**
 * A plan of more than this many tasks and lanes is kept for a while after the queue changes, rather
 * than made again for every ETA asked: every async submit asks one, and 64 clients submitting at once
 * each paid for a plan of the whole queue over the whole fleet. Smaller plans cost next to nothing and
 * are made again whenever asked after a change.
 */
const KEPT_PLAN_MIN_SIZE = 64;
/** How long a plan is kept: this many ms (of the callers' `now`) per task and lane it planned. */
const KEEP_MS_PER_TASK_AND_LANE = 0.5;

/**
 * A plan made again in slices (`SchedulerOptions.later`) works this long at a time before it lets the
 * caller's other work run: a whole plan over a thousand nodes and 20,000 queued tasks takes 50–100 ms.
 */
const PLAN_SLICE_MS = 5;
/**
 * Only a plan this large (tasks and lanes) is made in slices: a smaller one takes a few milliseconds at
 * once. Answering from the plan before costs accuracy: a burst of submits is answered, all of it, from
 * that plan before a slice can run (at 300 tasks, live ETAs within target fell from 58–72 % to 1–8 %). At
 * 2,000, a flood of submits to ten nodes had plans of up to 2,000 tasks made at once inside a submit's
 * answer, 20–35 ms each, the longest turns of the event loop (bench:fleet).
 */
const SLICED_PLAN_MIN_SIZE = 512;

type Internals = Pick<SchedulerInternals, 'queuedById' | 'estimates' | 'nodeById' | 'nodesGeneration' | 'later' | 'makePlan' | 'planTaskOf' | 'nextInGroup'>;

export class EtaPlans {
  readonly #scheduler: Internals;
  /** The plan ETAs are read from, made at `at` for the node list of `nodesGeneration`; `changed` since. */
  #plan: KeptPlan | null = null;
  /** Counts the queue's and the nodes' changes (`changed`): a plan made in slices compares it at its end. */
  #changes = 0;
  /**
   * When the kept plan began to answer (epoch ms of the callers' clock; undefined for one made in slices until
   * the first ETA asked after it was done): its keep time counts from then, not from `at`, when its timeline
   * begins. A plan made in slices under a burst of submits took longer than its keep time, and was past it
   * the moment it was done.
   */
  #readyAt: number | undefined;
  /** The plan being made in slices (`#remakeLater`), for the node list it started with. */
  #remaking: { steps: Generator<void, KeptPlan, void>; changes: number; nodesGeneration: number } | null = null;

  constructor(scheduler: Internals) {
    this.#scheduler = scheduler;
  }

  /** The queue or the nodes changed: the plan is due again. */
  changed(): void {
    this.#changes += 1;
    if (this.#plan) this.#plan.changed = true;
  }

  /** Drops a plan being made in slices (shutdown). */
  close(): void {
    this.#remaking = null;
  }

  /**
   * Seconds until task `taskId` starts, from the current plan; null if unplanned. The first ETA told for a
   * queued task is recorded as its promised start (see planner.ts), once the node it is planned on has a
   * measured speed.
   */
  eta(taskId: string, now: number): number | null {
    const queued = this.#scheduler.queuedById.get(taskId);
    // No longer queued (cancelled, or sent): a plan kept from before it left would still give it a start.
    if (!queued) return null;
    const { kept, stale } = this.#choose(now);
    const { plan, at, nodes, changed } = kept;
    if (changed && !plan.startAt.has(taskId)) this.#placeNewcomer(queued, plan, now, nodes);
    const start = plan.startAt.get(taskId);
    if (start === undefined) return null;
    const eta = Math.max(0, start - (now - at) / 1000);
    // The plan holds as is: the promise is its own start for this task (not for a task its lanes left to
    // one another: an estimate; promising it lengthened the simulated wait tail).
    // Nor from a plan that answers only while its successor is made, past the age a plan otherwise answers at.
    if (queued.promisedAt === undefined && !stale && !plan.leftover?.has(taskId) && this.#measured(plan.nodeOf.get(taskId))) queued.promisedAt = now + eta * 1000;
    return eta;
  }

  /**
   * Whether the node a task is planned on has a measured speed. An ETA from a
   * guessed speed is no promise worth keeping: keeping it would bend the order
   * for a number that was never right.
   */
  #measured(nodeId: string | undefined): boolean {
    const node = nodeId === undefined ? undefined : this.#scheduler.nodeById(nodeId);
    return node !== undefined && this.#scheduler.estimates.get(node.identity).samples > 0;
  }

  /**
   * The plan to read ETAs from: the kept one while nothing changed, or while it is a long queue's plan
   * younger than its keep time (for the same node list); else a new one.
   */
  current(now: number): KeptPlan {
    return this.#choose(now).kept;
  }

  /**
   * `current`'s plan, and whether it answers only because a new one is under way, older than a plan answers
   * otherwise (`stale`: it promises nothing).
   */
  #choose(now: number): { kept: KeptPlan; stale: boolean } {
    const kept = this.#plan;
    const age = kept ? now - (this.#readyAt ??= now) : Infinity;
    if (kept && (!kept.changed || this.#mayKeep(kept, age))) return { kept, stale: false };
    // Made again in slices, the plan before answering meanwhile: for the same nodes, a plan large enough
    // to be worth it, and one that held until recently (after a quiet spell its timeline is long past).
    if (kept && this.#scheduler.later && kept.nodesGeneration === this.#scheduler.nodesGeneration() && kept.size >= SLICED_PLAN_MIN_SIZE && age < 2 * this.#keepMs(kept)) {
      this.#remakeLater(now);
      return { kept, stale: false };
    }
    // A plan under way for the same nodes began while the one before still held: that one answers until it
    // is done, however long that takes. Under a burst of submits a plan of the whole queue, made in slices
    // between them, outlasted the plan before's keep time, and an ETA asked then made the whole plan at once,
    // 170 ms in which nothing else ran (bench:fleet, 1,000 nodes and 20,000 tasks).
    if (kept && this.#remaking !== null && this.#remaking.nodesGeneration === this.#scheduler.nodesGeneration()) return { kept, stale: true };
    this.#remaking = null;
    const steps = this.#scheduler.makePlan(now, false);
    for (;;) {
      const step = steps.next();
      if (step.done) {
        this.#readyAt = now;
        this.#plan = step.value;
        return { kept: step.value, stale: false };
      }
    }
  }

  /**
   * Starts making the ETA plan again in slices of `PLAN_SLICE_MS` (`later` between them), unless that is
   * under way. Dropped when the node list changes meanwhile (a plan for it is made at once when asked).
   */
  #remakeLater(now: number): void {
    if (this.#remaking || !this.#scheduler.later) return;
    const later = this.#scheduler.later;
    const job = { steps: this.#scheduler.makePlan(now, true), changes: this.#changes, nodesGeneration: this.#scheduler.nodesGeneration() };
    this.#remaking = job;
    const slice = () => {
      if (this.#remaking !== job) return;
      if (job.nodesGeneration !== this.#scheduler.nodesGeneration()) {
        this.#remaking = null;
        return;
      }
      const end = performance.now() + PLAN_SLICE_MS;
      for (;;) {
        const step = job.steps.next();
        if (step.done) {
          this.#remaking = null;
          // What changed while it was made (tasks that came meanwhile are placed as newcomers).
          this.#plan = { ...step.value, changed: this.#changes !== job.changes };
          this.#readyAt = undefined;
          return;
        }
        if (performance.now() >= end) break;
      }
      later(slice);
    };
    later(slice);
  }

  /**
   * A task that arrived after the kept plan was made: it takes the planned start of the task it now
   * stands before in service order among tasks of its nodes (fair order puts a new key's first task near
   * the front; the tasks behind it would each start one run later, which the next plan shows), or, when
   * it stands last, goes after everything the plan placed.
   */
  #placeNewcomer(queued: Queued, plan: Plan, now: number, nodes: readonly PlanNode[]): void {
    const next = this.#scheduler.nextInGroup(queued);
    const start = next === undefined ? undefined : plan.startAt.get(next.task.id);
    if (next !== undefined && start !== undefined) {
      plan.startAt.set(queued.task.id, start);
      plan.nodeOf.set(queued.task.id, plan.nodeOf.get(next.task.id)!);
      return;
    }
    plan.append?.(this.#scheduler.planTaskOf(queued, now, nodes));
  }

  /** `age`: ms since the plan began to answer (`#readyAt`). */
  #mayKeep(kept: KeptPlan, age: number): boolean {
    return kept.nodesGeneration === this.#scheduler.nodesGeneration() && kept.size > KEPT_PLAN_MIN_SIZE && age < this.#keepMs(kept);
  }

  /** How long (ms of the callers' clock) a plan is kept after a change: by its size. */
  #keepMs(kept: KeptPlan): number {
    return kept.size * KEEP_MS_PER_TASK_AND_LANE;
  }
}
