/**
 * @module scheduler/held-reclaims
 *
 * Tasks held ready on a busy node that an idle node would finish sooner. A node
 * is sent a task ahead (`prefetch`) while it runs another, so that its GPU goes
 * on without waiting for the gateway; the plan sent it there expecting that node
 * to free soon. When another node that can run the task stands idle and would
 * finish it well before the holder even begins it (the holder's task overran,
 * the idle node ended early, or came back), the task is taken back and sent to
 * the idle node: otherwise it waits a whole task behind a busy GPU beside an idle
 * one (bench:live, desktop GPUs at 80 % load: half the work waiting beside an
 * idle node was held on a slower one). Only tasks not begun are taken back (the
 * holder is told to drop it, which costs it nothing), and only for a clear gain.
 */
import type { RunningAttempt } from './attempt-ledger.js';
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

type Internals = Pick<SchedulerInternals, 'nodeViews' | 'nodes' | 'nodeById' | 'reachOf' | 'assignmentOf' | 'planNodes' | 'attemptsOn'>;

interface Held {
  attempt: RunningAttempt & { task: Queued };
  /** Seconds from now until the holder would have it done. */
  doneIn: number;
}

export class HeldReclaims {
  readonly #scheduler: Internals;
  /** Per node index, whether it is idle now (reused between calls). */
  #idle = new Uint8Array(0);

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
    const idleIndices = scheduler.nodeViews.idle;
    if (idleIndices.length === 0) return [];
    const nodes = scheduler.nodes();
    if (this.#idle.length < nodes.length) this.#idle = new Uint8Array(nodes.length);
    const idle = this.#idle;
    idle.fill(0);
    let idleLeft = 0;
    for (const index of idleIndices) {
      // Wholly idle: a node with a slot free that runs something (several slots) is left to the passes.
      if (scheduler.attemptsOn(nodes[index]!.id).length > 0) continue;
      idle[index] = 1;
      idleLeft += 1;
    }
    if (idleLeft === 0) return [];
    // A walk over the nodes, only while some node stands idle: in a busy fleet passes find none.
    const held = this.#heldTasks(now);
    const reclaims: HeldReclaim[] = [];
    let pairs = 0;
    for (const { attempt, doneIn } of held) {
      if (idleLeft === 0 || pairs >= MOST_PAIRS) break;
      let best: Assignment | undefined;
      let bestIndex = -1;
      for (const index of scheduler.reachOf(attempt.task).capable) {
        if (idle[index] !== 1) continue;
        if (++pairs > MOST_PAIRS) break;
        const assignment = scheduler.assignmentOf(attempt.task, nodes[index]!);
        if (!best || assignment.expectedSeconds < best.expectedSeconds) {
          best = assignment;
          bestIndex = index;
        }
      }
      if (!best || best.expectedSeconds > RECLAIM_SHARE * doneIn) continue;
      idle[bestIndex] = 0;
      idleLeft -= 1;
      reclaims.push({ taskId: attempt.taskId, attempt: attempt.attempt, fromNodeId: attempt.nodeId, assignment: best });
    }
    return reclaims;
  }

  /** The tasks held on busy nodes, each with when its holder would have it done; the latest first, at most `MOST_HELD`. */
  #heldTasks(now: number): Held[] {
    const scheduler = this.#scheduler;
    const held: Held[] = [];
    for (const node of scheduler.nodes()) {
      const attempts = scheduler.attemptsOn(node.id);
      // A node holds one only beyond what it runs: most nodes of a busy fleet run one task and hold none.
      if (attempts.length <= 1 && (attempts[0] === undefined || attempts[0].begunAt !== null)) continue;
      // Each slot frees when its task ends (a slot without one: now); a held task begins on the first to free.
      const slots: number[] = [];
      for (const attempt of attempts) if (attempt.begunAt !== null || attempt.progress > 0) slots.push(secondsLeft(attempt, now));
      while (slots.length < node.slots) slots.push(0);
      for (const attempt of attempts) {
        if (attempt.begunAt !== null || attempt.progress > 0) continue;
        let first = 0;
        for (let i = 1; i < slots.length; i++) if (slots[i]! < slots[first]!) first = i;
        slots[first]! += attempt.expectedSeconds;
        held.push({ attempt, doneIn: slots[first]! });
      }
    }
    held.sort((a, b) => b.doneIn - a.doneIn);
    return held.length > MOST_HELD ? held.slice(0, MOST_HELD) : held;
  }
}

/** Seconds until a begun attempt ends, by its node's latest report, else by its expected time (none once overdue). */
function secondsLeft(attempt: RunningAttempt, now: number): number {
  if (attempt.etaSeconds !== null) return attempt.etaSeconds;
  const begunAt = attempt.begunAt ?? now;
  return Math.max(0, attempt.expectedSeconds - (now - begunAt) / 1000);
}
