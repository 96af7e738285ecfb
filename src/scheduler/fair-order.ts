/**
 * @module scheduler/fair-order
 *
 * The order in which the scheduler serves queued tasks: start-time fair
 * queuing between API keys, with priority.
 *
 * Each task gets a tag when it arrives: start = max(V, F_key), where F_key is
 * the finish tag (start + cost) of the key's previous task and V the virtual
 * time: the smallest start tag still queued, or, with an empty queue, the
 * largest ever dispatched. (Classic SFQ takes the tag of the task in service;
 * with many nodes and affinity dispatching out of order, that tag can run far
 * ahead of the queue's head and would put a newcomer behind a whole backlog.) Tasks are served by ascending
 * `start − priority × priorityBoostSeconds`, then by arrival. So a key with a
 * thousand queued tasks has them spaced out by their cost, and a key with one
 * task gets a tag near V: it goes ahead of the big backlog, not behind it.
 * Priority works as aging does: a task of priority p counts as if it had
 * arrived p × boost seconds of work earlier, so no task waits forever behind
 * higher priorities (V grows past every tag).
 *
 * Tags never change after arrival, so the order of two queued tasks never
 * flips: a task's rank can only grow when a task that is ordered ahead of it
 * arrives. Pure: no I/O, no clock.
 */

export interface FairTag {
  /** Virtual start, in seconds of reference work. */
  start: number;
  /** Arrival sequence number: FIFO among equal tags. */
  seq: number;
  /** The sort key: start minus the priority boost. */
  key: number;
}

export class FairOrder {
  #virtualTime = 0;
  #seq = 0;
  readonly #lastFinish = new Map<string, number>();
  readonly #priorityBoostSeconds: number;

  constructor(options: { priorityBoostSeconds?: number } = {}) {
    this.#priorityBoostSeconds = options.priorityBoostSeconds ?? 600;
  }

  /**
   * Tags a newly arrived task of `owner` costing `costSeconds` of reference work.
   * `queueHead` is the smallest start tag still queued, if any. An owner of `weight` w
   * is charged cost ÷ w (weighted fair queuing): weight 2 is served twice the work of weight 1.
   */
  tag(owner: string, costSeconds: number, options: { priority?: number; queueHead?: number; weight?: number } = {}): FairTag {
    const virtualTime = options.queueHead ?? this.#virtualTime;
    if (this.#seq % 1024 === 1023) this.#forgetBefore(virtualTime);
    const start = Math.max(virtualTime, this.#lastFinish.get(owner) ?? 0);
    const priority = options.priority ?? 0;
    this.#lastFinish.set(owner, start + costSeconds / (options.weight ?? 1));
    return { start, seq: this.#seq++, key: start - priority * this.#priorityBoostSeconds };
  }

  /** Records a dispatch: the virtual time to use when the queue is empty. */
  started(tag: FairTag): void {
    this.#virtualTime = Math.max(this.#virtualTime, tag.start);
  }

  /** Keys whose last finish tag is behind virtual time weigh nothing: drop them (memory stays bounded). */
  #forgetBefore(virtualTime: number): void {
    for (const [key, finish] of this.#lastFinish) if (finish <= virtualTime) this.#lastFinish.delete(key);
  }
}

/** Sort comparator: served first = smaller. */
export function compareTags(a: FairTag, b: FairTag): number {
  return a.key - b.key || a.seq - b.seq;
}
