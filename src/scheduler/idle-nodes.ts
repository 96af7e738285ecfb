/**
 * @module scheduler/idle-nodes
 *
 * Nodes that take no work, or that plans leave idle beside work. The idle
 * fallback sends such a node the front-most task it can run when passes keep
 * it idle and no event would free the node they wait for (lanes deferring to
 * one another, docs/decisions/0013), unless the plan has a much better node
 * finish that task sooner; the dispatcher asks for it after the idleness has
 * lasted a while (gateway/idle-recheck.ts). And for a status message, the
 * nodes a queued task waits for when none of them takes work (WebUI down,
 * draining, set aside).
 */
import { runSeconds } from '../domain/speed-estimates.js';
import type { Assignment, KeptPlan, Queued, SchedulerInternals, SchedulerNode } from './scheduler-types.js';

/** How long whether a node list takes work is taken as known, for status messages (`idleReach`). */
const IDLE_LOOK_MS = 1_000;
/**
 * The most queued tasks `idleFallback` looks at: it runs only for nodes idle beside work for a while, and a
 * task far down a long queue is no reason to wake one (the plan's lanes have work long before it).
 */
const IDLE_FALLBACK_LOOKS = 256;

type Internals = Pick<
  SchedulerInternals,
  'estimates' | 'health' | 'queue' | 'queuedById' | 'nodeViews' | 'nodes' | 'nodeById' | 'availability' | 'reachOf' | 'takesWork' | 'hasFreeSlot' | 'assignmentOf' | 'planNodes' | 'freeWithWork' | 'etaPlan'
>;

export class IdleNodes {
  readonly #scheduler: Internals;
  /** `#idleNodesOf`'s answers by node list, with when they were looked at (a list left behind is let go). */
  readonly #idleLists = new WeakMap<readonly number[], { stamp: string; at: number; nodes: SchedulerNode[] | null }>();

  constructor(scheduler: Internals) {
    this.#scheduler = scheduler;
  }

  /**
   * The ids of the available nodes with a free slot that could run some queued task: after a pass, the
   * nodes idle beside work (`idleFallback`). Walks the queue until each free node is found, by reach list.
   */
  idleNodes(now: number): string[] {
    const scheduler = this.#scheduler;
    if (scheduler.queue.length === 0) return [];
    scheduler.planNodes(now);
    const nodes = scheduler.nodes();
    return scheduler.freeWithWork(scheduler.nodeViews.idle, false).map((index) => nodes[index]!.id);
  }

  /**
   * The front-most queued task a node with a free slot can run, sent to the free node that would finish it
   * soonest (a node it failed on only when no other is free). For when passes keep a node idle beside work
   * it could run and no event frees the node they wait for: lanes deferring to one another (a slow node to
   * a faster one, which keeps its own checkpoint because the slow one has the task's loaded) would wait
   * without end. The dispatcher asks for it after such idleness has lasted a while; `among`: only these
   * nodes (ids), those idle long enough. A task the plan has another node finish sooner is not sent
   * (`#soonerThanPlanned`); the first `IDLE_FALLBACK_LOOKS` tasks are looked at.
   */
  idleFallback(now: number, among?: ReadonlySet<string>): Assignment[] {
    const scheduler = this.#scheduler;
    // Asked for only when a task has an idle node to go to (it may be made whole then).
    let kept: KeptPlan | undefined;
    const nodes = scheduler.nodes();
    let looked = 0;
    for (const queued of scheduler.queue) {
      if (++looked > IDLE_FALLBACK_LOOKS) break;
      const { capable, fallback } = scheduler.reachOf(queued);
      for (const list of [capable, fallback]) {
        let best: { node: SchedulerNode; seconds: number } | undefined;
        for (const index of list) {
          const node = nodes[index]!;
          if ((among && !among.has(node.id)) || !scheduler.hasFreeSlot(node, now)) continue;
          const { expectedSeconds } = scheduler.assignmentOf(queued, node);
          if (!best || expectedSeconds < best.seconds) best = { node, seconds: expectedSeconds };
        }
        if (!best) continue;
        kept ??= scheduler.etaPlan(now);
        if (this.#soonerThanPlanned(queued, best, kept, now)) return [scheduler.assignmentOf(queued, best.node)];
        break;
      }
    }
    return [];
  }

  /**
   * Whether the fallback may send `queued` to `node`, idle (`seconds`: what it would take there): unless the node would take more than a typical
   * load longer over it than the node the plan has run it, and would still not finish it before the plan has
   * that node finish it. The fallback breaks holds that outlast a load (lanes left to one another, a node
   * that overruns its expected end, which the plan keeps expecting to free at once), where any node of the
   * fleet's usual cost is better than waiting; not a plan's choice of a much better node: a live trial sent
   * a node whose loads take 30 s a 1.6 s task the others would have done within 2 s (it set the makespan),
   * and a node 13 times slower an 18 s task. A load whose cost is still a guess counts as none: the switch
   * is how it gets measured (decision 0012).
   */
  #soonerThanPlanned(queued: Queued, { node, seconds }: { node: SchedulerNode; seconds: number }, kept: KeptPlan, now: number): boolean {
    const { plan, at } = kept;
    const taskId = queued.task.id;
    const start = plan.startAt.get(taskId);
    const plannedOn = plan.nodeOf.get(taskId);
    if (start === undefined || plannedOn === undefined || plannedOn === node.id || plan.leftover?.has(taskId)) return true;
    const scheduler = this.#scheduler;
    const planned = scheduler.nodeById(plannedOn);
    if (!planned) return true;
    const own = scheduler.estimates.get(node.identity);
    const mine = own.switchMeasured ? seconds : runSeconds(own, queued.units);
    const theirs = scheduler.assignmentOf(queued, planned).expectedSeconds;
    if (mine <= theirs + scheduler.estimates.typicalSwitchSeconds()) return true;
    return mine < Math.max(0, start - (now - at) / 1000) + theirs;
  }

  /**
   * The nodes that could run queued task `taskId` when none of them takes work at `now` (WebUI down,
   * draining, set aside), so that its status can say what it waits for; null when one of them does, when
   * no node can run it (`unservable` says so), or when it is not queued. Asked on status polls: stops at
   * the first node that takes work.
   */
  idleReach(taskId: string, now: number): SchedulerNode[] | null {
    const scheduler = this.#scheduler;
    const queued = scheduler.queuedById.get(taskId);
    if (!queued) return null;
    const { capable, fallback } = scheduler.reachOf(queued);
    if (capable.length + fallback.length === 0) return null;
    if (fallback.length === 0) return this.#idleNodesOf(capable, now);
    // Failed on some of them: a list of the task's own, looked at each time (few tasks, and not for long).
    const both = [...capable, ...fallback];
    const nodes = scheduler.nodes();
    return both.some((n) => scheduler.takesWork(nodes[n]!, now)) ? null : both.map((n) => nodes[n]!);
  }

  /**
   * The nodes of `list` when none takes work, else null; the same array until a node of the network comes,
   * goes, goes up or down, or a set-aside begins or is lifted, and for a second at most (a set-aside also ends
   * by itself). Tasks of equal needs share one list (Scheduler `#shared`): thousands of them polled, their nodes all
   * down, cost one walk of each list, and the gateway words its message once per array.
   */
  #idleNodesOf(list: readonly number[], now: number): SchedulerNode[] | null {
    const scheduler = this.#scheduler;
    const stamp = `${scheduler.availability()}/${scheduler.health.version}`;
    const known = this.#idleLists.get(list);
    if (known?.stamp === stamp && now - known.at < IDLE_LOOK_MS) return known.nodes;
    const listed = scheduler.nodes();
    const nodes = list.some((n) => scheduler.takesWork(listed[n]!, now)) ? null : list.map((n) => listed[n]!);
    this.#idleLists.set(list, { stamp, at: now, nodes });
    return nodes;
  }
}
