/**
 * @module domain/family-costs
 *
 * What a sampler step of each model family costs against an SD 1.5 step at
 * the same size (a task's work units count it, domain/work-units.ts), learned
 * from results. A node's speed is one figure (domain/speed-estimates.ts): a
 * ComfyUI node serving SDXL and Flux.2 runs steps tens of times apart, and
 * with every family's step counted alike its speed would swing from task to
 * task, its ETAs and the planner's lanes off by as much, its timeouts too short.
 *
 * The costs start at `PRIOR_STEP_COSTS` (rough) and are corrected by what
 * nodes that run several families measure: on one node the GPU is the same,
 * so the ratio of its step speeds on two families is the ratio of their costs.
 *
 * - **Per node**, a line is fitted to its runs, time = F + b(f) × units, units
 *   priced at the prior costs: one fixed part F for the node, one slope b(f)
 *   per family (least squares, each family's older runs weighing less). A
 *   fixed part fitted with every family under one slope takes the prices'
 *   error into itself when the families run at different sizes (a review's
 *   finding: SD 1.5 at 512² beside Flux.1 at 1024² then learned nothing).
 *   While a node's runs of each family are all about one size, F cannot be
 *   told from the slopes: it is drawn toward 0 (`FIXED_PRIOR_SHARE`), which
 *   costs little on runs that are mostly steps.
 * - **Across nodes**, a node's log step speed on family f, −ln b(f), is its own
 *   level minus f's log correction; both are fitted by least squares over the
 *   nodes that ran at least two families twice (alternating: each node's level
 *   given the corrections, then each correction given the levels), SD 1.5's
 *   correction held at 0 when it is among them (a unit is an SD 1.5 step) and
 *   their mean at 0 otherwise. A node that runs one family tells nothing of
 *   costs (its speed absorbs any error in them).
 *
 * Nodes are other people's machines: a correction that only one node supports
 * stays within 2× of the prior (`LONE_NODE_CORRECTION`), and the figures of at
 * most `MAX_NODES` nodes are kept (the least recently heard of are dropped).
 * A cost is published (`stepCost`) only when the fit moves it by more than
 * `REPRICE_RATIO`: every change reprices the queued tasks of that family
 * (scheduler.ts), and noise in the fit must not. Pure: no I/O, no clock.
 */
import { ModelFamilies, type ModelFamily } from './families.js';
import { PRIOR_STEP_COSTS } from './work-units.js';

/** Each run of a family weighs this times the next one of the same family on the node. */
const FORGET = 0.8;
/** Runs of a family a node needs before its slope counts in the fit. */
const MIN_RUNS = 2;
/** A node's family counts in the fit as this much weight at most: one busy node must not outweigh the rest. */
const MAX_RUN_WEIGHT = 4;
/**
 * A pseudo-run that draws a node's fixed part toward 0 while its sizes cannot tell it, weighing this share of
 * its runs: sizes that spread by more than about a tenth of their mean outweigh it.
 */
const FIXED_PRIOR_SHARE = 0.005;
/** A node's fixed part is at most this share of its shortest family's mean run: each run is mostly steps or tells little. */
const MAX_FIXED_SHARE = 0.9;
/** A published cost changes only when the fit's moves it by more than this factor. */
const REPRICE_RATIO = 1.1;
/** How far the fit may move a cost from its prior, either way, once two nodes or more support it. */
const MAX_CORRECTION = 16;
/** How far, while a single node supports it. */
const LONE_NODE_CORRECTION = 2;
/** Rounds of the alternating fit each time it runs (it starts from the last one's corrections). */
const FIT_ROUNDS = 4;
/** The fit runs again after this many new runs of mixed nodes at most (after each, while few nodes are mixed). */
const FIT_EVERY = 64;
/** The most nodes whose figures are kept. */
const MAX_NODES = 10_000;

/** A published cost that changed: from what, to what. */
export interface Repriced {
  family: ModelFamily;
  from: number;
  to: number;
}

export interface FamilyRun {
  /** The node's identity (its name: what it learned survives reconnects). */
  node: string;
  family: ModelFamily;
  /** The run's work units priced at its family's prior cost (`workUnitsOf(spec, PRIOR_STEP_COSTS[family])`). */
  priorUnits: number;
  /** Seconds the run took, with no checkpoint load in it. */
  seconds: number;
}

/** Exponentially weighted sums of one family's runs on one node (x: prior-priced units, y: seconds). */
interface Cell {
  w: number;
  sx: number;
  sxx: number;
  sy: number;
  sxy: number;
  runs: number;
}

export class FamilyCosts {
  /** Per node, in the order they were last heard of (the oldest first): its runs by family. */
  readonly #nodes = new Map<string, Map<ModelFamily, Cell>>();
  /** The nodes with at least two families of `MIN_RUNS` runs: the only ones the fit reads. */
  readonly #mixed = new Set<string>();
  /** The fit's log corrections, by family (0: the prior). */
  readonly #correction = new Map<ModelFamily, number>();
  /** The costs published, by family; a family absent costs its prior. */
  readonly #published = new Map<ModelFamily, number>();
  #sinceFit = 0;
  #version = 0;

  /** What a step of `family` costs against SD 1.5's (1 for a model of unknown family: it is planned as SD). */
  stepCost(family: ModelFamily | null): number {
    if (family === null) return 1;
    return this.#published.get(family) ?? PRIOR_STEP_COSTS[family];
  }

  /** Counts the changes of a published cost: work priced at an older version is priced again. */
  get version(): number {
    return this.#version;
  }

  /** Learns from one run; answers the published costs that changed (usually none). */
  record(run: FamilyRun): Repriced[] {
    if (!(run.seconds > 0) || !(run.priorUnits > 0) || !Number.isFinite(run.seconds + run.priorUnits)) return [];
    let families = this.#nodes.get(run.node);
    if (families) this.#nodes.delete(run.node);
    else families = new Map();
    // Re-inserted: the map's order is the order nodes were last heard of.
    this.#nodes.set(run.node, families);
    if (this.#nodes.size > MAX_NODES) this.#drop(this.#nodes.keys().next().value!);
    const cell = families.get(run.family) ?? { w: 0, sx: 0, sxx: 0, sy: 0, sxy: 0, runs: 0 };
    const { priorUnits: x, seconds: y } = run;
    cell.w = FORGET * cell.w + 1;
    cell.sx = FORGET * cell.sx + x;
    cell.sxx = FORGET * cell.sxx + x * x;
    cell.sy = FORGET * cell.sy + y;
    cell.sxy = FORGET * cell.sxy + x * y;
    cell.runs += 1;
    families.set(run.family, cell);
    if (!this.#mixed.has(run.node) && countedFamilies(families) >= 2) this.#mixed.add(run.node);
    if (!this.#mixed.has(run.node)) return [];
    // A small fleet fits after every run of a mixed node; a large one every `FIT_EVERY`: a fit reads every mixed node.
    if (++this.#sinceFit < Math.min(FIT_EVERY, this.#mixed.size)) return [];
    this.#sinceFit = 0;
    return this.#fit();
  }

  /** The nodes whose runs taught here were all of `family`: their speeds were learned in its units alone. */
  nodesOnly(family: ModelFamily): string[] {
    const nodes: string[] = [];
    for (const [node, families] of this.#nodes) if (families.size === 1 && families.has(family)) nodes.push(node);
    return nodes;
  }

  #drop(node: string): void {
    this.#nodes.delete(node);
    this.#mixed.delete(node);
  }

  /** Per mixed node: its log step speed (prior-priced units per second) by family, of the families it counts. */
  #speeds(): Map<string, Map<ModelFamily, { logSpeed: number; weight: number }>> {
    const speeds = new Map<string, Map<ModelFamily, { logSpeed: number; weight: number }>>();
    for (const node of this.#mixed) {
      const cells = [...this.#nodes.get(node)!].filter(([, cell]) => cell.runs >= MIN_RUNS);
      // The shared fixed part: with each slope at its best for a given F, the F that fits all families best
      // (drawn toward 0 by a pseudo-run while each family's runs are about one size and cannot tell it).
      let num = 0;
      let den = 0;
      let weight = 0;
      let shortest = Infinity;
      for (const [, c] of cells) {
        num += c.sy - (c.sx * c.sxy) / c.sxx;
        den += c.w - (c.sx * c.sx) / c.sxx;
        weight += c.w;
        shortest = Math.min(shortest, c.sy / c.w);
      }
      const fixed = Math.min(MAX_FIXED_SHARE * shortest, Math.max(0, num / (den + FIXED_PRIOR_SHARE * weight)));
      const own = new Map<ModelFamily, { logSpeed: number; weight: number }>();
      for (const [family, c] of cells) {
        const slope = (c.sxy - fixed * c.sx) / c.sxx;
        if (slope > 0 && Number.isFinite(slope)) own.set(family, { logSpeed: -Math.log(slope), weight: Math.min(c.w, MAX_RUN_WEIGHT) });
      }
      if (own.size >= 2) speeds.set(node, own);
    }
    return speeds;
  }

  #fit(): Repriced[] {
    const speeds = this.#speeds();
    const supporters = new Map<ModelFamily, number>();
    for (const own of speeds.values()) for (const family of own.keys()) supporters.set(family, (supporters.get(family) ?? 0) + 1);
    const level = new Map<string, number>();
    for (let round = 0; round < FIT_ROUNDS; round++) {
      for (const [node, own] of speeds) {
        let sum = 0;
        let weight = 0;
        for (const [family, { logSpeed, weight: w }] of own) {
          sum += w * (logSpeed + (this.#correction.get(family) ?? 0));
          weight += w;
        }
        level.set(node, sum / weight);
      }
      const sums = new Map<ModelFamily, { sum: number; weight: number }>();
      for (const [node, own] of speeds) {
        for (const [family, { logSpeed, weight: w }] of own) {
          const entry = sums.get(family) ?? { sum: 0, weight: 0 };
          entry.sum += w * (level.get(node)! - logSpeed);
          entry.weight += w;
          sums.set(family, entry);
        }
      }
      // The fit fixes corrections only up to one shift for all: a unit is an SD 1.5 step, else the priors' mean stays.
      const sd15 = sums.get('sd15');
      let shift = 0;
      if (sd15) shift = sd15.sum / sd15.weight;
      else {
        let total = 0;
        let weight = 0;
        for (const { sum, weight: w } of sums.values()) {
          total += sum;
          weight += w;
        }
        shift = weight > 0 ? total / weight : 0;
      }
      for (const [family, { sum, weight }] of sums) this.#correction.set(family, sum / weight - shift);
    }
    return this.#publish(supporters);
  }

  #publish(supporters: ReadonlyMap<ModelFamily, number>): Repriced[] {
    const changed: Repriced[] = [];
    for (const family of ModelFamilies) {
      const correction = this.#correction.get(family);
      if (correction === undefined) continue;
      const bound = Math.log((supporters.get(family) ?? 0) >= 2 ? MAX_CORRECTION : LONE_NODE_CORRECTION);
      const cost = PRIOR_STEP_COSTS[family] * Math.exp(Math.min(bound, Math.max(-bound, correction)));
      const before = this.stepCost(family);
      if (Math.max(cost / before, before / cost) <= REPRICE_RATIO) continue;
      this.#published.set(family, cost);
      changed.push({ family, from: before, to: cost });
    }
    if (changed.length > 0) this.#version += 1;
    return changed;
  }
}

/** How many of a node's families have runs enough to count in the fit. */
function countedFamilies(families: ReadonlyMap<ModelFamily, Cell>): number {
  let count = 0;
  for (const cell of families.values()) if (cell.runs >= MIN_RUNS) count += 1;
  return count;
}
