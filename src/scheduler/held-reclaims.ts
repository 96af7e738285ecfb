/**
 * @module scheduler/held-reclaims
 *
 * Tasks held ready on a busy node that an idle node would finish sooner. A node
 * is sent a task ahead (`prefetch`) while it runs another, so that its GPU goes
 * on without waiting for the gateway; the plan sent it there expecting that node
 * to free soon. When another node that can run the task stands idle and would
 * finish it well before the holder even begins it (the holder's task runs late,
 * the idle node ended early, came back or joined), the task is taken back and
 * sent to the idle node: otherwise it waits a whole task behind a busy GPU beside
 * an idle one. Only tasks not begun are taken back (the holder is told to drop
 * it: at most an A1111 job already waiting on the WebUI's lock is interrupted as
 * it begins), and only for a clear gain, the idle node's checkpoint load counted:
 * in a steady fleet the plan seldom leaves such a gain (decision 0018).
 */
import { type HeldOnNode, heldLine, isHeld, type RunningAttempt } from './attempt-ledger.js';
import { addNode, hasNode, wordsFor } from './node-bits.js';
import type { Assignment, Queued, SchedulerInternals } from './scheduler-types.js';

/** A held task to take back from `fromNodeId` and send as `assignment` (to an idle node). */
export interface HeldReclaim {
  taskId: string;
  attempt: number;
  fromNodeId: string;
  assignment: Assignment;
}

/**
 * The idle node must finish the task within this share of the time the holder would take to finish it
 * (its running task's rest and the task itself): estimates err, and a task taken back for a little gain
 * could as well have stayed. Relative, so that it holds at any time scale.
 */
const RECLAIM_SHARE = 0.75;
/** The most held tasks and (held task, idle node) pairs looked at per call: a pass must stay cheap at 1,000 nodes. */
const MOST_HELD = 64;
const MOST_PAIRS = 4096;
/**
 * After a look that took nothing back, how long the same idle nodes are not looked at again for it (ms): the
 * walk over a fleet's nodes costs most of a millisecond at 1,000 busy nodes, and a node of a mixed fleet that
 * no queued work wants can stand idle for hours. A node that comes idle is looked at in the next pass.
 */
const QUIET_MS = 100;

type Internals = Pick<SchedulerInternals, 'nodeViews' | 'nodes' | 'reachOf' | 'assignmentOf' | 'planNodes' | 'attemptsOn' | 'nodesGeneration'>;

export class HeldReclaims {
  readonly #scheduler: Internals;
  /**
   * Per reach list (node indices; shared by the tasks of alike needs, new with each node list), which nodes it
   * holds (node-bits.ts): whether an idle node can run a held task is then one lookup, not a walk of a thousand
   * indices.
   */
  readonly #members = new WeakMap<readonly number[], Uint32Array>();
  /** The idle nodes (and node list) of the last look that took nothing back, and until when they rest (`QUIET_MS`). */
  #quiet: { idle: string; until: number } | null = null;

  constructor(scheduler: Internals) {
    this.#scheduler = scheduler;
  }

  /**
   * The held tasks to send to idle nodes instead, at `now`: for each (those the holders would finish last
   * first), the idle node able to run it that would finish it soonest, when that is within `RECLAIM_SHARE`
   * of the holder's time; each idle node takes one.
   */
  reclaims(now: number): HeldReclaim[] {
    const scheduler = this.#scheduler;
    scheduler.planNodes(now);
    if (scheduler.nodeViews.idle.length === 0) return [];
    const nodes = scheduler.nodes();
    // Wholly idle: a node with a slot free that runs something (several slots) is left to the passes.
    const idle = scheduler.nodeViews.idle.filter((index) => scheduler.attemptsOn(nodes[index]!.id).length === 0);
    if (idle.length === 0) return [];
    const idleKey = `${scheduler.nodesGeneration()}:${idle.join(',')}`;
    if (this.#quiet !== null && this.#quiet.idle === idleKey && now < this.#quiet.until) return [];
    // A walk over the nodes, only while some node stands idle (in a busy fleet passes find none), and only
    // the held tasks some idle node can run are weighed.
    const held = this.#heldTasks(now, idle);
    const reclaims: HeldReclaim[] = [];
    let pairs = 0;
    for (const { attempt, doneIn } of held) {
      if (idle.length === 0 || pairs >= MOST_PAIRS) break;
      const members = this.#membersOf(scheduler.reachOf(attempt.task).capable, nodes.length);
      let best: Assignment | undefined;
      let bestAt = -1;
      for (let i = 0; i < idle.length; i++) {
        if (!hasNode(members, 0, idle[i]!)) continue;
        pairs += 1;
        const assignment = scheduler.assignmentOf(attempt.task, nodes[idle[i]!]!);
        if (!best || assignment.expectedSeconds < best.expectedSeconds) {
          best = assignment;
          bestAt = i;
        }
      }
      if (!best || best.expectedSeconds > RECLAIM_SHARE * doneIn) continue;
      idle.splice(bestAt, 1);
      reclaims.push({ taskId: attempt.taskId, attempt: attempt.attempt, fromNodeId: attempt.nodeId, assignment: best });
    }
    this.#quiet = reclaims.length === 0 ? { idle: idleKey, until: now + QUIET_MS } : null;
    return reclaims;
  }

  /**
   * Whether the last look took nothing back less than `QUIET_MS` ago: a caller outside a pass (a progress
   * report) then skips the look, its node views included (a pass looks at a node newly idle itself).
   */
  resting(now: number): boolean {
    return this.#quiet !== null && now < this.#quiet.until;
  }

  /**
   * The tasks held on busy nodes that one of `idle` (node indices) can run, each with when its holder would
   * have it done; the latest first, at most `MOST_HELD`.
   */
  #heldTasks(now: number, idle: readonly number[]): HeldOnNode<RunningAttempt & { task: Queued }>[] {
    const scheduler = this.#scheduler;
    const nodes = scheduler.nodes();
    const held: HeldOnNode<RunningAttempt & { task: Queued }>[] = [];
    for (const node of nodes) {
      const attempts = scheduler.attemptsOn(node.id);
      if (!attempts.some(isHeld)) continue;
      for (const line of heldLine(attempts, node.slots, now)) if (this.#anyCanRun(idle, line.attempt.task, nodes.length)) held.push(line);
    }
    held.sort((a, b) => b.doneIn - a.doneIn);
    return held.length > MOST_HELD ? held.slice(0, MOST_HELD) : held;
  }

  #anyCanRun(idle: readonly number[], task: Queued, nodeCount: number): boolean {
    const members = this.#membersOf(this.#scheduler.reachOf(task).capable, nodeCount);
    return idle.some((index) => hasNode(members, 0, index));
  }

  #membersOf(list: readonly number[], nodeCount: number): Uint32Array {
    let members = this.#members.get(list);
    if (!members) {
      members = new Uint32Array(wordsFor(nodeCount));
      for (const index of list) addNode(members, 0, index);
      this.#members.set(list, members);
    }
    return members;
  }
}
