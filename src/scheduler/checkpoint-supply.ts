/**
 * @module scheduler/checkpoint-supply
 *
 * Per checkpoint, the work left and the speed of the nodes that have it loaded, as a plan goes (planner
 * rule 0c). Affinity keeps each lane on what it has loaded while work for it lasts, and leaves a
 * checkpoint nobody has loaded to the end. Where every node loads at about the same price, that is as
 * good as any order (the simulation, loads of 8 s everywhere: makespans moved by ±1.5 % by seed with
 * early moves, no better on the whole). Where one node loads many times slower than another, the late
 * switch may fall to it: in a live trial half of a burst was a checkpoint no fast node had loaded; the
 * fast nodes served theirs by affinity for 20 s, then the one whose loads take 30 s had to load it too
 * (1.4-1.6 x the bound). So, only in a fleet whose longest load is `COSTLIER_LOAD` times a lane's own, the
 * lane moves early: it leaves its checkpoint when the other nodes that have it loaded would get through
 * its work within the time the whole fleet needs for the queue (the horizon), for the checkpoint whose
 * loaded nodes fall shortest of its work in that time, when that shortfall is more of the lane's time than
 * both the horizon (someone must start on it now) and `minLoads` of its loads. Fluid estimates: each
 * node's speed over the horizon, no granularity. Pure.
 */
import type { DemandClass, PlanNode } from './plan-types.js';

/** How many times this lane's load another node's must take before early moves pay (`moveFor`). */
const COSTLIER_LOAD = 4;

export class CheckpointSupply {
  /** Units of the unplanned tasks, and of the queue past the plan's, per checkpoint. */
  readonly #left = new Map<string | null, number>();
  #leftTotal = 0;
  /** Units per second of the available nodes that have each checkpoint loaded at the plan's current step. */
  readonly #loadedSpeed = new Map<string, number>();
  readonly #fleetSpeed: number;
  /** The longest load of any available node, any checkpoint (its measured or guessed time). */
  readonly #longestLoad: number;
  /** Whether some node's load takes `COSTLIER_LOAD` times another's: else `moveFor` never moves a lane. */
  readonly active: boolean;
  /** Per checkpoint the asking lane serves, its first unplanned task (`moveFor`); reused from call to call. */
  readonly #wanted = new Map<string, number>();

  constructor(
    readonly nodes: readonly PlanNode[],
    readonly laneSpeed: Float64Array,
    classes: readonly DemandClass[],
    beyond: ReadonlyMap<string | null, number>,
  ) {
    let fleetSpeed = 0;
    for (let node = 0; node < laneSpeed.length; node++) fleetSpeed += laneSpeed[node]!;
    this.#fleetSpeed = fleetSpeed;
    let longestLoad = 0;
    let shortestLoad = Infinity;
    for (let node = 0; node < nodes.length; node++) {
      if (!nodes[node]!.available) continue;
      longestLoad = Math.max(longestLoad, nodes[node]!.switchSeconds);
      shortestLoad = Math.min(shortestLoad, this.#shortestLoad(node));
      const loads = nodes[node]!.loadSeconds;
      if (loads) for (const seconds of loads.values()) longestLoad = Math.max(longestLoad, seconds);
    }
    this.#longestLoad = longestLoad;
    // Loads alike (the usual fleet): the rule never acts, and nothing is kept (a plan over 100,000 tasks).
    this.active = longestLoad >= COSTLIER_LOAD * shortestLoad;
    if (!this.active) return;
    for (const { checkpoint, units } of classes) this.#add(checkpoint, units);
    for (const [checkpoint, units] of beyond) this.#add(checkpoint, units);
    nodes.forEach((node, index) => node.available && node.loaded !== null && this.loaded(index, null, node.loaded));
  }

  #add(checkpoint: string | null, units: number): void {
    this.#left.set(checkpoint, (this.#left.get(checkpoint) ?? 0) + units);
    this.#leftTotal += units;
  }

  /** `node`'s shortest load of any checkpoint. */
  #shortestLoad(node: number): number {
    const { switchSeconds, loadSeconds } = this.nodes[node]!;
    let shortest = switchSeconds;
    if (loadSeconds) for (const seconds of loadSeconds.values()) shortest = Math.min(shortest, seconds);
    return shortest;
  }

  /** A task of `units` was planned. */
  planned(checkpoint: string | null, units: number): void {
    if (this.active) this.#add(checkpoint, -units);
  }

  /** Node `node` loads `to` in place of `from`. */
  loaded(node: number, from: string | null, to: string): void {
    if (!this.active || !this.nodes[node]!.available) return;
    const speed = this.laneSpeed[node]!;
    if (from !== null) this.#loadedSpeed.set(from, (this.#loadedSpeed.get(from) ?? 0) - speed);
    this.#loadedSpeed.set(to, (this.#loadedSpeed.get(to) ?? 0) + speed);
  }

  /**
   * The first unplanned task, in service order, of the checkpoint `node` should move to from `loaded`, or
   * undefined to stay: `loaded` is covered by the other nodes that have it, and some checkpoint of the
   * classes it serves (`serves`) falls short of its work by at least `minLoads` of its loads (`loadSeconds`),
   * the one short by most of its time. `front` gives a class's first unplanned task.
   */
  moveFor(
    node: number,
    loaded: string,
    minLoads: number,
    minHorizon: number,
    classes: readonly DemandClass[],
    serves: (taskClass: DemandClass) => boolean,
    front: (taskClass: DemandClass) => number | undefined,
    loadSeconds: (checkpoint: string) => number,
  ): number | undefined {
    const speed = this.laneSpeed[node]!;
    if (!this.active || speed <= 0 || this.#fleetSpeed <= 0 || this.#longestLoad < COSTLIER_LOAD * this.#shortestLoad(node)) return undefined;
    // The time the whole fleet needs for the work left: what each checkpoint's supply is measured against.
    const horizon = this.#leftTotal / this.#fleetSpeed;
    if (horizon < minHorizon) return undefined;
    const others = (this.#loadedSpeed.get(loaded) ?? 0) - speed;
    if ((this.#left.get(loaded) ?? 0) > others * horizon) return undefined;
    const wanted = this.#wanted;
    wanted.clear();
    for (const taskClass of classes) {
      if (taskClass.count === 0 || taskClass.checkpoint === null || taskClass.checkpoint === loaded || !serves(taskClass)) continue;
      const first = front(taskClass);
      if (first === undefined) continue;
      wanted.set(taskClass.checkpoint, Math.min(wanted.get(taskClass.checkpoint) ?? first, first));
    }
    let best: { front: number; short: number } | undefined;
    for (const [checkpoint, first] of wanted) {
      // Its whole work left (the queue past the plan's too), less what the nodes that have it get through.
      const load = loadSeconds(checkpoint);
      if (this.#longestLoad < COSTLIER_LOAD * load) continue;
      const short = ((this.#left.get(checkpoint) ?? 0) - (this.#loadedSpeed.get(checkpoint) ?? 0) * horizon) / speed - Math.max(minLoads * load, horizon);
      if (short > 0 && (best === undefined || short > best.short)) best = { front: first, short };
    }
    return best?.front;
  }
}
