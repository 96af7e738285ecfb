/**
 * @module scheduler/checkpoint-supply
 *
 * Per class of queued tasks (one checkpoint, one set of nodes able to run them: plan-state.ts), the speed
 * of the nodes of that set that have its checkpoint loaded, as a plan goes; and per checkpoint, the
 * longest and shortest load of it across the fleet. Two planner rules ask whether a checkpoint's work is
 * covered by the nodes that have it loaded and can run it (rule 0': may a lane leave it to keep an overdue
 * promise; rule 0c: may it leave it for a checkpoint whose loaded nodes fall short of its work). Counted
 * per class: a node with the checkpoint loaded covers none of the work it cannot run.
 *
 * Rule 0c. Affinity keeps each lane on what it has loaded while work for it lasts, and leaves a checkpoint
 * nobody has loaded to the end. Where every node loads a checkpoint at about the same price, that is as
 * good as any order (the simulation, loads of 8 s everywhere: makespans moved by ±1.5 % by seed with early
 * moves, no better on the whole). Where one node loads it many times slower than another, the late switch
 * may fall to the slow one: in a live trial half of a burst was a checkpoint no fast node had loaded; the
 * fast nodes served theirs by affinity for 20 s, then the one whose loads take 30 s had to load it too
 * (1.4-1.6 x the bound). So, for a checkpoint some node loads `COSTLIER_LOAD` times slower than this lane,
 * the lane moves early: it leaves its own checkpoint when the other nodes that have it loaded cover its
 * work within the time the whole fleet needs for the queue (the horizon), for the checkpoint whose loaded
 * nodes fall furthest short of its work in that time, when that shortfall is more of the lane's time than
 * both the horizon (someone must start on it now) and `minLoads` of its loads. Fluid estimates: each
 * node's speed over the horizon, no granularity. Pure.
 */
import { LoadBounds } from './load-bounds.js';
import type { DemandClass, LoadBoundsReader, PlanNode } from './plan-types.js';

/** How many times this lane's load of a checkpoint another node's must take before early moves pay (rule 0c). */
const COSTLIER_LOAD = 4;

/** Loaded speed above rounding: a class's loaded speed less the asking node's own is never exactly 0. */
const SOME_SPEED = 1e-9;

export interface SupplyView {
  readonly nodes: readonly PlanNode[];
  /** Units per second of each node's lanes together (0 for an unavailable node). */
  readonly laneSpeed: Float64Array;
  readonly classes: readonly DemandClass[];
  /** Whether `node` can run the tasks of `taskClass`. */
  serves(taskClass: DemandClass, node: number): boolean;
  /** The first unplanned task of `taskClass`, in service order. */
  frontOf(taskClass: DemandClass): number | undefined;
  /** Seconds loading `checkpoint` takes on `node`. */
  loadSeconds(node: number, checkpoint: string): number;
  /** Units per second of the available nodes able to run `taskClass` that have `checkpoint` loaded at the plan's current step. */
  loadedSpeed(checkpoint: string, taskClass: DemandClass): number;
}

export class CheckpointSupply {
  readonly #view: SupplyView;
  /** Per class: units per second of the available nodes able to run it that have its checkpoint loaded (kept only when `costsDiffer`). */
  readonly #loadedSpeed: Float64Array;
  /** Class indices by checkpoint. */
  readonly #classesOf = new Map<string, number[]>();
  /** Per checkpoint, the longest and shortest load of it on an available node (rule 0c's gate). */
  readonly #bounds: LoadBoundsReader;
  /** Whether some checkpoint's longest load is `COSTLIER_LOAD` times its shortest: else rule 0c never acts. */
  readonly costsDiffer: boolean;
  readonly #fleetSpeed: number;
  /** Task classes looked at so far (the plan counts them in its work budget: planner.ts). */
  looks = 0;
  /** Per checkpoint the asking lane serves, its first unplanned task (`moveFor`); reused from call to call. */
  readonly #wanted = new Map<string, { front: number; short: number }>();

  /** `bounds`: the fleet's loads per checkpoint, if the caller keeps them from plan to plan (load-bounds.ts). */
  constructor(view: SupplyView, loaded: readonly (string | null)[], bounds: LoadBoundsReader = new LoadBounds(view.nodes)) {
    this.#view = view;
    this.#bounds = bounds;
    const { laneSpeed, classes } = view;
    let fleetSpeed = 0;
    for (let node = 0; node < laneSpeed.length; node++) fleetSpeed += laneSpeed[node]!;
    this.#fleetSpeed = fleetSpeed;
    classes.forEach((taskClass, index) => {
      if (taskClass.checkpoint === null) return;
      const list = this.#classesOf.get(taskClass.checkpoint);
      if (list) list.push(index);
      else this.#classesOf.set(taskClass.checkpoint, [index]);
    });
    let differ = false;
    const all = bounds.all();
    if (all.longest > 0 && all.longest >= COSTLIER_LOAD * all.shortest) {
      for (const checkpoint of this.#classesOf.keys()) {
        const range = bounds.of(checkpoint);
        if (range.longest > 0 && range.longest >= COSTLIER_LOAD * range.shortest) {
          differ = true;
          break;
        }
      }
    }
    this.costsDiffer = differ;
    // Kept only where rule 0c may act: over 5,000 nodes and a thousand task classes, building it cost a plan
    // more than all its other steps. Rule 0' asks seldom, and counts without it.
    this.#loadedSpeed = new Float64Array(differ ? classes.length : 0);
    if (differ) loaded.forEach((checkpoint, node) => checkpoint !== null && this.loaded(node, null, checkpoint));
  }

  /** Node `node` loads `to` in place of `from`. */
  loaded(node: number, from: string | null, to: string): void {
    const speed = this.#view.laneSpeed[node]!;
    if (!this.costsDiffer || speed <= 0) return;
    if (from !== null) this.#addSpeed(from, node, -speed);
    this.#addSpeed(to, node, speed);
  }

  /** Adds `speed` to each class of `checkpoint` that `node` can run. */
  #addSpeed(checkpoint: string, node: number, speed: number): void {
    for (const index of this.#classesOf.get(checkpoint) ?? []) if (this.#view.serves(this.#view.classes[index]!, node)) this.#loadedSpeed[index]! += speed;
  }

  /** The time the whole fleet needs for `units` of work (seconds; Infinity without speed). */
  horizon(units: number): number {
    return this.#fleetSpeed > 0 ? units / this.#fleetSpeed : Infinity;
  }

  /**
   * Whether the nodes other than `node` that have `checkpoint` loaded get through the unplanned work of
   * each class of it that `node` can run within `seconds`: work they cannot run counts as not covered
   * (also when `seconds` is Infinity: then any of them able to run it covers it).
   */
  coveredWithout(node: number, checkpoint: string, seconds: number): boolean {
    const { classes, laneSpeed } = this.#view;
    for (const index of this.#classesOf.get(checkpoint) ?? []) {
      this.looks += 1;
      const taskClass = classes[index]!;
      if (taskClass.count === 0 || !this.#view.serves(taskClass, node)) continue;
      // `node` has it loaded too when it asks about its own checkpoint.
      const others = (this.costsDiffer ? this.#loadedSpeed[index]! : this.#view.loadedSpeed(checkpoint, taskClass)) - laneSpeed[node]!;
      // Not `units > others × seconds`: with no other node (others ≈ 0, up to rounding) and no limit, that is NaN.
      if (taskClass.units > 0 && !(others > SOME_SPEED && taskClass.units <= others * seconds)) return false;
    }
    return true;
  }

  /**
   * Rule 0c: the first unplanned task, in service order, of the checkpoint `node` should move to from
   * `loaded`, or undefined to stay. `unplannedUnits`: the work left in the plan (with the queue past it), for
   * the horizon; nothing below `minHorizon` seconds of it (the end of a queue, where granularity rules).
   */
  moveFor(node: number, loaded: string, unplannedUnits: number, minLoads: number, minHorizon: number): number | undefined {
    if (!this.costsDiffer) return undefined;
    const { classes, laneSpeed } = this.#view;
    const speed = laneSpeed[node]!;
    const horizon = this.horizon(unplannedUnits);
    if (speed <= 0 || !(horizon >= minHorizon) || horizon === Infinity) return undefined;
    if (!this.coveredWithout(node, loaded, horizon)) return undefined;
    const wanted = this.#wanted;
    wanted.clear();
    for (const [checkpoint, indices] of this.#classesOf) {
      if (checkpoint === loaded) continue;
      const load = this.#view.loadSeconds(node, checkpoint);
      if (this.#bounds.of(checkpoint).longest < COSTLIER_LOAD * load) continue;
      this.looks += indices.length;
      for (const index of indices) {
        const taskClass = classes[index]!;
        if (taskClass.count === 0 || !this.#view.serves(taskClass, node)) continue;
        const first = this.#view.frontOf(taskClass);
        if (first === undefined) continue;
        // What the nodes able to run this class that have its checkpoint loaded leave of it over the horizon.
        const short = Math.max(0, taskClass.units - this.#loadedSpeed[index]! * horizon);
        const entry = wanted.get(checkpoint);
        if (entry) Object.assign(entry, { front: Math.min(entry.front, first), short: entry.short + short });
        else wanted.set(checkpoint, { front: first, short });
      }
    }
    let best: { front: number; margin: number } | undefined;
    for (const [checkpoint, { front, short }] of wanted) {
      const margin = short / speed - Math.max(minLoads * this.#view.loadSeconds(node, checkpoint), horizon);
      if (margin > 0 && (best === undefined || margin > best.margin)) best = { front, margin };
    }
    return best?.front;
  }
}
