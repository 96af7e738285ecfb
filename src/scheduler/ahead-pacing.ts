/**
 * @module scheduler/ahead-pacing
 *
 * When a node that holds tasks ready (`SchedulerNode.prefetch`) is sent its
 * next, and when a pass that could only send such tasks plans at all
 * (docs/decisions/0018): the send-ahead window (`PlanOptions.sendAheadSeconds`),
 * the gap a pass that could only send ahead leaves after the last pass that
 * planned, and when the next such pass is due (`Scheduler.sendAheadDueAt`).
 * What the pass then sends is the planner's (planner.ts `SendAhead`).
 */
import { windowFreesIn } from './plan-types.js';
import type { SchedulerInternals } from './scheduler-types.js';

/**
 * A node that holds tasks ready is sent the next when its lane frees within this share of a typical load
 * (`PlanOptions.sendAheadSeconds`): enough to hide the round trip and the encoding, and a held task, which
 * no other node can take, waits at most that long past when a node could first have started it.
 */
const SEND_AHEAD_LOADS = 0.5;
/**
 * …and never later than this many seconds before: the round trip to a node across the internet, and the
 * pass that sends, take a good part of it. A fleet whose loads take nothing (one checkpoint everywhere,
 * or loads measured near 0) had a window of 0 and held nothing: each node idled a round trip per task
 * (bench:fleet, whose nodes report loads of 0 s, held no task at all).
 */
const SEND_AHEAD_MIN_SECONDS = 0.25;
/**
 * A pass that could send only tasks to hold ahead (no node has a free slot for queued work) plans no sooner
 * than this share of the window after the last pass that planned; `sendAheadDueAt` asks for one then. In a
 * large fleet a node comes within its window every few milliseconds: a timer pass for each doubled the
 * passes, and then nearly every result's pass (a few a millisecond over a thousand nodes) planned a 2,000-
 * task horizon to send one or two tasks ahead (bench:fleet: most of the gateway's time, and its event loop's
 * delays). Late by at most this share, a task is still sent most of the window ahead; a free slot is filled
 * at once.
 */
const SEND_AHEAD_PASS_GAP = 0.2;
/**
 * …but a node whose lane frees within this share of the window is sent its next at once: with tasks shorter
 * than the window (fast GPUs: 0.1–0.5 s), a lane is within it as soon as its held task begins, and a pass
 * left for later let the node run dry (bench:live, fast: 1.04 → 1.11× the bound).
 */
const SEND_AHEAD_AT_ONCE = 0.5;

type Internals = Pick<SchedulerInternals, 'estimates' | 'planOptions' | 'nodeViews' | 'freeWithWork'>;

export class AheadPacing {
  readonly #scheduler: Internals;
  /** When (epoch ms) a pass last planned, and whether one since left nodes within their window unsent (`SEND_AHEAD_PASS_GAP`). */
  #plannedAt = -Infinity;
  #aheadWaiting = false;

  constructor(scheduler: Internals) {
    this.#scheduler = scheduler;
  }

  /** How soon before its lane frees a node that holds tasks ready is sent the next (`SEND_AHEAD_LOADS`, `SEND_AHEAD_MIN_SECONDS`). */
  windowSeconds(): number {
    return this.#scheduler.planOptions.sendAheadSeconds ?? Math.max(SEND_AHEAD_LOADS * this.#scheduler.estimates.typicalSwitchSeconds(), SEND_AHEAD_MIN_SECONDS);
  }

  /**
   * When (epoch ms; Infinity for never) a pass may send a task to hold ahead that the passes so far did not:
   * to a node within its window that a pass left for later (`SEND_AHEAD_PASS_GAP`, `SEND_AHEAD_STEPS`), or
   * when the next node that may hold a task and has none comes within `windowSeconds` of its lane
   * freeing, as of the views' last refresh. Not sooner than the gap after the last pass that planned.
   */
  dueAt(now: number): number {
    const window = this.windowSeconds();
    const earliest = Math.min(this.#plannedAt, now) + this.#aheadGapMs();
    // Nodes within their window that a pass left for later (`SEND_AHEAD_PASS_GAP`) are due first.
    let due = this.#aheadWaiting ? earliest : Infinity;
    const views = this.#scheduler.nodeViews;
    for (const index of views.free) {
      const view = views.views[index];
      if (!view || (view.sendAhead ?? 0) === 0) continue;
      const freesIn = windowFreesIn(view);
      if (freesIn > window) due = Math.min(due, now + (freesIn - window) * 1000);
    }
    return due === Infinity ? due : Math.max(due, earliest);
  }

  /**
   * How long after a pass that planned a pass that could only send ahead waits (`SEND_AHEAD_PASS_GAP`), ms;
   * not at all when tasks are sent ahead however far a lane frees (`PlanOptions.sendAheadSeconds` Infinity).
   */
  #aheadGapMs(): number {
    const window = this.windowSeconds();
    return Number.isFinite(window) ? SEND_AHEAD_PASS_GAP * window * 1000 : 0;
  }

  /**
   * Whether a pass at `now`, its views just refreshed, plans: not when no node that may be sent a task now can
   * run a queued task, nor when only tasks to hold ahead could be sent and the last pass that planned was less
   * than the gap ago (`SEND_AHEAD_PASS_GAP`). A pass that plans tells `planned` after.
   */
  mayPlan(now: number): boolean {
    const sendable = this.#sendable(now);
    if (sendable === 'none') {
      this.#aheadWaiting = false;
      return false;
    }
    // Only tasks to hold ahead to send: not in every pass (`SEND_AHEAD_PASS_GAP`). (A clock that went back
    // past the last pass that planned counts as the gap passed: the gap must not last as long as the step.)
    const since = now - this.#plannedAt;
    if (sendable === 'ahead' && since >= 0 && since < this.#aheadGapMs()) {
      this.#aheadWaiting = true;
      return false;
    }
    this.#plannedAt = now;
    return true;
  }

  /** A pass planned: `aheadLeft`, nodes within their window that it had no lanes left for are due in the next that sends ahead. */
  planned(aheadLeft: boolean): void {
    this.#aheadWaiting = aheadLeft;
  }

  /**
   * What a pass could send, as of the views' last refresh: `now` when an available node with a free slot, or
   * with room to hold a task and a lane freeing within `SEND_AHEAD_AT_ONCE` of the window, can run some
   * queued task; `ahead` when only nodes whose lane frees later within the window can; `none` when no node
   * that may be sent a task now can.
   */
  #sendable(now: number): 'now' | 'ahead' | 'none' {
    const views = this.#scheduler.nodeViews;
    const window = this.windowSeconds();
    const may = (within: number) => (index: number) => views.maySend(index, within, now) === true;
    if (this.#scheduler.freeWithWork(views.free, true, may(SEND_AHEAD_AT_ONCE * window)).length > 0) return 'now';
    return this.#scheduler.freeWithWork(views.free, true, may(window)).length > 0 ? 'ahead' : 'none';
  }
}
