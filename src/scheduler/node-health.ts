/**
 * @module scheduler/node-health
 *
 * Nodes that keep failing are set aside for a while, by node name (so a
 * reconnect does not clear the record). Pure: the caller passes the time.
 *
 * - A node's streak is the distinct tasks that failed on it since its last
 *   success: one task failing there again and again counts once. After
 *   `threshold` of them the node gets no work for `baseMs`, doubling with each
 *   set-aside up to `maxMs`.
 * - A success clears the streak, and each success takes one doubling off the
 *   next set-aside: a node that recovered is not punished for old trouble.
 * - A failure taken back (`retract`: the task failed the same way on another
 *   node, so the task was at fault) leaves the streak, and a set-aside it
 *   helped cause is lifted, or once over, its doubling taken back.
 * Only failures that may say something about the node are recorded here; the
 * caller leaves out a request the WebUI refused as invalid.
 */

interface Failure {
  taskId: string;
  reason: string;
}

interface Record {
  /** Distinct tasks failed since the last success (or the last set-aside). */
  streak: Failure[];
  /** The failures that caused the current set-aside. */
  causes: Failure[];
  /** Doublings of the next set-aside. */
  setAsides: number;
  until: number;
  lastReason: string;
}

export interface SetAside {
  until: number;
  reason: string;
}

export interface NodeHealthOptions {
  /** Distinct failed tasks in a row that set a node aside. @defaultValue 3 */
  threshold?: number;
  /** First set-aside. @defaultValue 60 s */
  baseMs?: number;
  /** Longest set-aside. @defaultValue 15 min */
  maxMs?: number;
}

export class NodeHealth {
  readonly #byName = new Map<string, Record>();
  readonly #threshold: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  /** Grows whenever a set-aside begins or is lifted (`version`). */
  #version = 0;

  constructor(options: NodeHealthOptions = {}) {
    this.#threshold = options.threshold ?? 3;
    this.#baseMs = options.baseMs ?? 60_000;
    this.#maxMs = options.maxMs ?? 15 * 60_000;
  }

  #record(name: string): Record {
    let record = this.#byName.get(name);
    if (!record) {
      record = { streak: [], causes: [], setAsides: 0, until: 0, lastReason: '' };
      this.#byName.set(name, record);
    }
    return record;
  }

  /** Records a failed attempt; returns the set-aside it caused, if any. */
  failed(name: string, failure: Failure, now: number): SetAside | null {
    const record = this.#record(name);
    record.lastReason = failure.reason;
    if (record.streak.some((f) => f.taskId === failure.taskId)) return null;
    record.streak.push(failure);
    if (record.streak.length < this.#threshold) return null;
    record.causes = record.streak;
    record.streak = [];
    record.until = now + Math.min(this.#maxMs, this.#baseMs * 2 ** record.setAsides);
    this.#version += 1;
    record.setAsides += 1;
    return { until: record.until, reason: failure.reason };
  }

  /** Takes back a failure of `taskId` on the node (the task was at fault); lifts a set-aside it helped cause. */
  retract(name: string, taskId: string, now: number): void {
    const record = this.#byName.get(name);
    if (!record) return;
    record.streak = record.streak.filter((f) => f.taskId !== taskId);
    if (!record.causes.some((f) => f.taskId === taskId)) return;
    // The set-aside should not have happened: its doubling goes, and while it lasts, the set-aside
    // itself, the other failures going back to the streak. Once over, it was served: nothing to lift.
    record.setAsides = Math.max(0, record.setAsides - 1);
    if (record.until > now) {
      record.until = 0;
      this.#version += 1;
      record.streak = [...record.causes.filter((f) => f.taskId !== taskId), ...record.streak];
    }
    record.causes = [];
  }

  succeeded(name: string): void {
    const record = this.#byName.get(name);
    if (!record) return;
    record.streak = [];
    record.setAsides = Math.max(0, record.setAsides - 1);
  }

  /**
   * Grows whenever a set-aside begins or is lifted early. With `nextEnd`, what a reader of every node's
   * set-aside needs to know whether reading them again would tell it anything (node-views.ts, idle-nodes.ts).
   */
  get version(): number {
    return this.#version;
  }

  /** The earliest end of a set-aside still running at `now` (epoch ms), or Infinity: walks every record. */
  nextEnd(now: number): number {
    let end = Infinity;
    for (const record of this.#byName.values()) if (record.until > now && record.until < end) end = record.until;
    return end;
  }

  /** The current set-aside of a node, or null when it may take work. */
  setAside(name: string, now: number): SetAside | null {
    const record = this.#byName.get(name);
    return record && record.until > now ? { until: record.until, reason: record.lastReason } : null;
  }
}
