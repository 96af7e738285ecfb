/**
 * @module bench/schedule-positions
 *
 * Queue-position honesty: after every event, the position of every queued
 * task, compared with its previous one. A position may only grow when the
 * event was the arrival of a task the scheduler ordered ahead of it and that
 * competes with it for a node (then by one); any other increase is
 * "unexplained".
 *
 * `Scheduler.position` costs O(rank) capability comparisons, so asking it for
 * every queued task after every event is O(n²) per event: hours for 2,000
 * queued tasks. So every position is computed here by the scheduler's own
 * definition (rank in `queuedIds()` order among tasks whose capable-node sets
 * intersect, sets from the same `bindSpec`) in O(n) per event, and after each
 * event a few randomly drawn tasks are asked of `Scheduler.position` itself;
 * any disagreement is reported as a mismatch.
 */
import type { Scheduler } from '../src/scheduler/scheduler.js';
import type { SimEvent } from './schedule-sim-engine.js';
import type { Random } from './schedule-random.js';

export interface PositionAuditResult {
  /** Positions looked at (tasks × events). */
  observations: number;
  increases: number;
  /** Increases not explained by the arrival of a competing task ordered ahead. */
  unexplained: number;
  /** Positions also asked of `Scheduler.position`, and how many disagreed. */
  checked: number;
  mismatches: number;
  examples: string[];
}

const competes = (a: number, b: number) => a === 0 || (a & b) !== 0;

export class PositionAudit {
  #previous = new Map<string, number>();
  readonly #result: PositionAuditResult = { observations: 0, increases: 0, unexplained: 0, checked: 0, mismatches: 0, examples: [] };

  constructor(
    readonly scheduler: Scheduler,
    readonly masks: ReadonlyMap<string, number>,
    readonly checks: { random: Random; perEvent: number },
  ) {}

  observe(event: SimEvent): void {
    const ids = this.scheduler.queuedIds();
    const arrivalIndex = event.kind === 'arrival' ? ids.indexOf(event.taskId) : -1;
    const arrivalMask = arrivalIndex >= 0 ? this.masks.get(event.taskId)! : 0;
    const positions = this.#positionsOf(ids);
    ids.forEach((id, index) => {
      const now = positions[index]!;
      const before = this.#previous.get(id);
      this.#result.observations += 1;
      if (before === undefined || now <= before) return;
      this.#result.increases += 1;
      const explained = arrivalIndex >= 0 && arrivalIndex < index && competes(this.masks.get(id)!, arrivalMask) && now - before === 1;
      if (explained) return;
      this.#result.unexplained += 1;
      this.#note(`${id}: ${before} → ${now} after ${event.kind} of ${event.taskId}`);
    });
    this.#previous = new Map(ids.map((id, index) => [id, positions[index]!]));
    this.#spotCheck(ids, positions);
  }

  result(): PositionAuditResult {
    return { ...this.#result, examples: [...this.#result.examples] };
  }

  /** Rank among competing queued tasks, with per-mask counts of the tasks ahead (few distinct masks). */
  #positionsOf(ids: readonly string[]): number[] {
    const aheadByMask = new Map<number, number>();
    return ids.map((id) => {
      const mine = this.masks.get(id) ?? 0;
      let ahead = 0;
      for (const [mask, count] of aheadByMask) if (competes(mine, mask)) ahead += count;
      aheadByMask.set(mine, (aheadByMask.get(mine) ?? 0) + 1);
      return ahead + 1;
    });
  }

  #spotCheck(ids: readonly string[], positions: readonly number[]): void {
    for (let i = 0; i < Math.min(this.checks.perEvent, ids.length); i++) {
      const index = this.checks.random.int(0, ids.length - 1);
      const real = this.scheduler.position(ids[index]!);
      this.#result.checked += 1;
      if (real === positions[index]) continue;
      this.#result.mismatches += 1;
      this.#note(`${ids[index]}: scheduler.position ${String(real)}, audit ${positions[index]}`);
    }
  }

  #note(example: string): void {
    if (this.#result.examples.length < 5) this.#result.examples.push(example);
  }
}
