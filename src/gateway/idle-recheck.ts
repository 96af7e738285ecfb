/**
 * @module gateway/idle-recheck
 *
 * Sends work to a node the plans leave idle beside work it could run, when
 * no event would start a pass again (`recheckWhileIdle` says when that
 * happens): each such node's idleness is timed from when a pass first found
 * it so, and past most of a typical checkpoint load it is sent a task
 * (docs/decisions/0013). Also wakes the pass due when a node that holds tasks
 * ready should be sent its next.
 */
import { SECOND, type Timer } from '../util/clock.js';
import type { DispatcherInternals } from './dispatcher-types.js';

/**
 * How long a node may stay idle beside work it could run before it is sent some (`recheckWhileIdle`): this
 * share of a typical checkpoint load, so that with the timer's and the dispatch's delays the node is sent
 * work within one load (holding a task longer than a load for a better node would not have paid), but
 * never less than the floor (a plan's holds are shorter than that, and a timer per pass is no use).
 */
const IDLE_SHARE_OF_LOAD = 0.8;
const IDLE_RECHECK_MIN_MS = 200;

type Internals = Pick<DispatcherInternals, 'scheduler' | 'hub' | 'clock' | 'log' | 'entries' | 'startRetry' | 'closing' | 'about' | 'start' | 'passSoon' | 'later' | 'cancelLater' | 'guard'>;

export class IdleRecheck {
  readonly #dispatcher: Internals;
  /** The pending look again of `recheckWhileIdle`, if any, and when it is due (epoch ms). */
  #recheck: { timer: Timer; at: number } | null = null;
  /** Per node id: since when passes have found it idle beside work it could run (`recheckWhileIdle`). */
  readonly #idleSince = new Map<string, number>();

  constructor(dispatcher: Internals) {
    this.#dispatcher = dispatcher;
  }

  /**
   * Passes run on events (a submit, a result, a node's change). A plan may keep a task for a busy node while
   * another that could run it idles, expecting a result that frees the better one: worth it for less than a
   * checkpoint load. But lanes can defer to one another (a slow node to a faster one, which keeps its own
   * checkpoint because the slow one has the task's loaded), and then no event comes: seen under heavy CPU
   * load, two tasks queued 20 s beside three idle nodes. So each node's idleness beside work it could run is
   * timed from when a pass first found it so; once it outlasts most of a typical load (`#idleLimitMs`),
   * each such node is sent work: the front-most task one of them can run, to the one of them that would
   * finish it soonest, and so on (Scheduler.idleFallback).
   */
  recheckWhileIdle(now: number): void {
    const idle = new Set(this.#dispatcher.scheduler.idleNodes(now));
    for (const id of this.#idleSince.keys()) if (!idle.has(id)) this.#idleSince.delete(id);
    for (const id of idle) if (!this.#idleSince.has(id)) this.#idleSince.set(id, now);
    // A node that holds tasks ready is sent its next shortly before its lane frees: a pass then (events'
    // passes that could only send ahead wait for it, scheduler/ahead-pacing.ts `SEND_AHEAD_PASS_GAP`).
    const aheadDue = this.#dispatcher.scheduler.sendAheadDueAt(now);
    if (this.#idleSince.size === 0 && aheadDue === Infinity) {
      this.#cancelRecheck();
      return;
    }
    const due = Math.min(Math.min(...this.#idleSince.values()) + this.#idleLimitMs(), aheadDue);
    if (this.#recheck !== null && this.#recheck.at <= due) return;
    this.#cancelRecheck();
    const timer = this.#dispatcher.later(Math.max(0, due - now), () => {
      this.#recheck = null;
      if (this.#dispatcher.closing()) return;
      if (!this.#dispatcher.startRetry.waiting) this.#sendToIdle(this.#dispatcher.clock.now());
      // The pass joins the one the turn's events ask for (results, submits): over a thousand nodes this timer
      // came due in most turns, and ran a pass of its own before theirs (bench:fleet: a quarter fewer passes).
      void this.#dispatcher.passSoon();
    });
    this.#recheck = { timer, at: due };
  }

  /** How long a node may idle beside work it can run (`IDLE_SHARE_OF_LOAD`), from the loads measured by now. */
  #idleLimitMs(): number {
    return Math.max(IDLE_RECHECK_MIN_MS, Math.round(IDLE_SHARE_OF_LOAD * this.#dispatcher.scheduler.typicalSwitchSeconds() * SECOND));
  }

  #cancelRecheck(): void {
    if (this.#recheck === null) return;
    this.#dispatcher.cancelLater(this.#recheck.timer);
    this.#recheck = null;
  }

  /** Sends each node idle beside work it can run for the limit or more a task (`recheckWhileIdle`). */
  #sendToIdle(at: number): void {
    const ms = this.#idleLimitMs();
    const stillIdle = new Set(this.#dispatcher.scheduler.idleNodes(at));
    const due = new Set([...this.#idleSince].filter(([id, since]) => stillIdle.has(id) && at - since >= ms).map(([id]) => id));
    while (due.size > 0) {
      const [assignment] = this.#dispatcher.scheduler.idleFallback(at, due);
      if (!assignment) return;
      due.delete(assignment.nodeId);
      this.#idleSince.delete(assignment.nodeId);
      const session = this.#dispatcher.hub.sessions.get(assignment.nodeId);
      const entry = this.#dispatcher.entries.get(assignment.taskId);
      if (!session || !entry) continue;
      this.#dispatcher.log.info({ ...this.#dispatcher.about(entry.id), node: session.id, idleMs: ms }, 'a node stayed idle beside work it can run; sending it the front-most such task');
      this.#dispatcher.guard(this.#dispatcher.start(entry, session, assignment));
    }
  }
}
