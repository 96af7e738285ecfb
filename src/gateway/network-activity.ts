/**
 * @module gateway/network-activity
 *
 * What the dashboard shows of the network's work, kept in memory as it
 * happens (no query, no queue walk): per node, tasks done and failed (by its
 * identity, so they outlive a reconnect); per minute of the last hour, images
 * made, tasks failed and the queue's length; the last tasks that ended. Small
 * and bounded: 60 minutes, 20 tasks, one tally per node identity seen.
 */
import { type GenerationSpec, isDiffusion, outputSizeOf, type TaskKind } from '../domain/spec.js';
import { MINUTE } from '../util/clock.js';
import { type DispatcherObserver, TAKEN_BACK } from './dispatcher-types.js';

/** One minute of the last hour. */
export interface MinuteActivity {
  /** The minute's start (epoch ms). */
  at: number;
  /** Results of image tasks (txt2img, img2img, upscale) that succeeded. */
  images: number;
  /** Tasks that failed for good. */
  failed: number;
  /** The queue's longest length seen in the minute. */
  queued: number;
}

/** A task that ended lately, as anyone may see it: no prompt, no owner, no image. */
export interface EndedTask {
  kind: TaskKind | null;
  /** Its checkpoint's name, for txt2img and img2img. */
  model: string | null;
  state: 'succeeded' | 'failed' | 'cancelled';
  width: number | null;
  height: number | null;
  /** From submit to end. */
  seconds: number | null;
  endedAt: number;
}

export interface NodeTally {
  done: number;
  failed: number;
}

const MINUTES_KEPT = 60;
const RECENT_KEPT = 20;

export class NetworkActivity {
  readonly #now: () => number;
  readonly #tallies = new Map<string, NodeTally>();
  /** Oldest first; the last is the current minute. */
  readonly #minutes: MinuteActivity[] = [];
  /** Newest first. */
  readonly #recent: EndedTask[] = [];

  constructor(now: () => number) {
    this.#now = now;
  }

  /** An attempt ended on the node `identity`: a result (`ok`) or a failure. */
  attemptEnded(identity: string, ok: boolean): void {
    let tally = this.#tallies.get(identity);
    if (!tally) this.#tallies.set(identity, (tally = { done: 0, failed: 0 }));
    if (ok) tally.done++;
    else tally.failed++;
  }

  tallyOf(identity: string): NodeTally {
    return this.#tallies.get(identity) ?? { done: 0, failed: 0 };
  }

  /** A task ended, for good. */
  taskEnded(task: Omit<EndedTask, 'endedAt'>): void {
    const minute = this.#currentMinute();
    if (task.state === 'succeeded' && task.kind !== 'interrogate') minute.images++;
    if (task.state === 'failed') minute.failed++;
    this.#recent.unshift({ ...task, endedAt: this.#now() });
    this.#recent.length = Math.min(this.#recent.length, RECENT_KEPT);
  }

  /** The queue's length now (sampled by the gateway every few seconds). */
  queueSeen(queued: number): void {
    const minute = this.#currentMinute();
    minute.queued = Math.max(minute.queued, queued);
  }

  /** The last hour, a minute at a time, oldest first; minutes without activity included (as zeros). */
  lastHour(): MinuteActivity[] {
    const now = this.#now();
    const current = Math.floor(now / MINUTE) * MINUTE;
    const byStart = new Map(this.#minutes.map((m) => [m.at, m]));
    return Array.from({ length: MINUTES_KEPT }, (_, i) => {
      const at = current - (MINUTES_KEPT - 1 - i) * MINUTE;
      return byStart.get(at) ?? { at, images: 0, failed: 0, queued: 0 };
    });
  }

  recent(): EndedTask[] {
    return [...this.#recent];
  }

  #currentMinute(): MinuteActivity {
    const at = Math.floor(this.#now() / MINUTE) * MINUTE;
    let last = this.#minutes.at(-1);
    if (!last || last.at !== at) {
      this.#minutes.push((last = { at, images: 0, failed: 0, queued: 0 }));
      while (this.#minutes.length > 0 && this.#minutes[0]!.at <= at - MINUTES_KEPT * MINUTE) this.#minutes.shift();
    }
    return last;
  }
}

/** A task's end as the dashboard lists it, from what the dispatcher held of it. */
function endedTaskOf(kind: TaskKind | null, state: EndedTask['state'], task: { spec: GenerationSpec; createdAt: number } | null, now: number): Omit<EndedTask, 'endedAt'> {
  const size = task ? outputSizeOf(task.spec) : null;
  return {
    kind,
    model: task && isDiffusion(task.spec) ? task.spec.model.name : null,
    state,
    width: size?.width ?? null,
    height: size?.height ?? null,
    seconds: task ? Math.max(0, Math.round((now - task.createdAt) / 100) / 10) : null,
  };
}

/** What the dispatcher tells, kept: nodes' tallies (a cancel is the client's doing, a task taken back the gateway's: neither is its node's failure) and tasks' ends. */
export function observeActivity(activity: NetworkActivity, now: () => number): Required<Pick<DispatcherObserver, 'attemptEnded' | 'finished'>> {
  return {
    attemptEnded: (outcome, nodeIdentity) => {
      // A task taken back from a node that held it ready never began there: no more its failure than a cancel.
      if (nodeIdentity !== null && outcome !== 'DAN_ERR_TASK_CANCELLED' && outcome !== TAKEN_BACK) activity.attemptEnded(nodeIdentity, outcome === 'succeeded');
    },
    finished: (_taskId, kind, state, task) => activity.taskEnded(endedTaskOf(kind, state, task, now())),
  };
}
