/**
 * @module gateway/unservable-watch
 *
 * Queued tasks that no connected node can serve: since when, and why. Their
 * status says so while they wait; past the grace time they fail, unless a node
 * that can serve them (re)connects first. The dispatcher hands it the
 * scheduler's list after every pass; a timer on the clock wakes the
 * dispatcher when the next grace time runs out, since no other event may come.
 */
import type { Clock, Timer } from '../util/clock.js';

interface Mark {
  since: number;
  reason: string;
}

export class UnservableWatch {
  /** The tasks the last pass found no node for. */
  #marks = new Map<string, Mark>();
  #wakeTimer: Timer | undefined;
  readonly #graceMs: number;
  readonly #clock: Clock;
  readonly #wake: () => void;

  constructor(options: { graceMs: number; clock: Clock; wake: () => void }) {
    this.#graceMs = options.graceMs;
    this.#clock = options.clock;
    this.#wake = options.wake;
  }

  /**
   * Notes the tasks that lack a node now (task id → what they lack) and returns
   * those past the grace time; the others are marked until a pass finds a node
   * for them.
   */
  watch(lacking: ReadonlyMap<string, string>, now: number): { taskId: string; reason: string }[] {
    const marks = new Map<string, Mark>();
    const expired: { taskId: string; reason: string }[] = [];
    let nextDeadline = Infinity;
    for (const [taskId, reason] of lacking) {
      const since = this.#marks.get(taskId)?.since ?? now;
      const deadline = since + this.#graceMs;
      if (deadline <= now) {
        expired.push({ taskId, reason });
      } else {
        marks.set(taskId, { since, reason });
        nextDeadline = Math.min(nextDeadline, deadline);
      }
    }
    this.#marks = marks;
    this.#wakeTimer?.cancel();
    this.#wakeTimer = nextDeadline < Infinity ? this.#clock.setTimeout(this.#wake, nextDeadline - now) : undefined;
    return expired;
  }

  /** Why no node can serve the task, while it is marked. */
  reasonOf(taskId: string): string | null {
    return this.#marks.get(taskId)?.reason ?? null;
  }

  /** The task left the queue (started, finished). */
  forget(taskId: string): void {
    this.#marks.delete(taskId);
  }

  close(): void {
    this.#wakeTimer?.cancel();
  }
}
