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
 * so the ratio of its step speeds on two families is the ratio of their
 * costs. Each node keeps, per family, its recent step speed in prior-priced
 * units (the time of a run less its fixed part and any load, over the run's
 * units at the prior cost; a log, averaged over recent runs). A node's
 * log speed on family f is modelled as its own level minus f's correction,
 * `y(n, f) = a(n) − c(f)`; both are fitted by least squares over the nodes
 * that ran at least two families (alternating: each node's level given the
 * corrections, then each correction given the levels), SD 1.5's correction
 * held at 0 when it is among them (a unit is an SD 1.5 step) and their mean at
 * 0 otherwise. A node that runs one family tells nothing of costs (its speed
 * absorbs any error in them), so a fleet of single-family nodes keeps the
 * priors, and it is never misled by them either.
 *
 * A cost is published (`stepCost`) only when the fit moves it by more than
 * `REPRICE_RATIO`: every change reprices the queued tasks of that family
 * (scheduler.ts), and noise in the fit must not. Pure: no I/O, no clock.
 */
import { ModelFamilies, type ModelFamily } from './families.js';
import { PRIOR_STEP_COSTS } from './work-units.js';

/** A node's recent step speed on a family moves this share of the way to each new run's. */
const RUN_WEIGHT = 0.3;
/** Runs of a family a node needs before its speed on it counts in the fit (the first may be a cold start). */
const MIN_RUNS = 2;
/** A node's family counts in the fit as this many runs at most: one busy node must not outweigh the rest. */
const MAX_RUN_WEIGHT = 8;
/** A published cost changes only when the fit's moves it by more than this factor. */
const REPRICE_RATIO = 1.1;
/** How far the fit may move a cost from its prior, either way. */
const MAX_CORRECTION = 16;
/** Rounds of the alternating fit each time it runs (it starts from the last one's corrections). */
const FIT_ROUNDS = 4;
/** The fit runs again after this many new runs at most (fewer while few nodes are mixed). */
const FIT_EVERY = 64;

export interface FamilyRun {
  /** The node's identity (its name: what it learned survives reconnects). */
  node: string;
  family: ModelFamily;
  /** The run's work units priced at its family's prior cost (`workUnitsOf(spec, PRIOR_STEP_COSTS[family])`). */
  priorUnits: number;
  /** Seconds its steps took: the run's time less the node's fixed part and any checkpoint load. */
  stepSeconds: number;
}

/** Per family: the log of a node's recent step speed (prior-priced units per second), and its runs. */
type NodeFamilies = Map<ModelFamily, { logSpeed: number; runs: number }>;

export class FamilyCosts {
  readonly #nodes = new Map<string, NodeFamilies>();
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

  /** Counts the changes of a published cost: a caller that priced work at an older version prices again. */
  get version(): number {
    return this.#version;
  }

  /** Learns from one run; answers the families whose published cost changed (usually none). */
  record(run: FamilyRun): ModelFamily[] {
    if (!(run.stepSeconds > 0) || !(run.priorUnits > 0)) return [];
    let families = this.#nodes.get(run.node);
    if (!families) this.#nodes.set(run.node, (families = new Map()));
    const logSpeed = Math.log(run.priorUnits / run.stepSeconds);
    const own = families.get(run.family);
    if (own) {
      own.logSpeed += RUN_WEIGHT * (logSpeed - own.logSpeed);
      own.runs += 1;
    } else families.set(run.family, { logSpeed, runs: 1 });
    if (!this.#mixed.has(run.node) && countedFamilies(families) >= 2) this.#mixed.add(run.node);
    if (!this.#mixed.has(run.node)) return [];
    // A small fleet fits after every run of a mixed node; a large one every `FIT_EVERY`: a fit reads every mixed node.
    if (++this.#sinceFit < Math.min(FIT_EVERY, this.#mixed.size)) return [];
    this.#sinceFit = 0;
    return this.#fit();
  }

  /** The published costs that differ from the priors, for metrics and the dashboard. */
  learned(): ReadonlyMap<ModelFamily, number> {
    return this.#published;
  }

  #fit(): ModelFamily[] {
    const level = new Map<string, number>();
    for (let round = 0; round < FIT_ROUNDS; round++) {
      for (const node of this.#mixed) {
        let sum = 0;
        let weight = 0;
        for (const [family, cell] of this.#nodes.get(node)!) {
          if (cell.runs < MIN_RUNS) continue;
          const w = Math.min(cell.runs, MAX_RUN_WEIGHT);
          sum += w * (cell.logSpeed + (this.#correction.get(family) ?? 0));
          weight += w;
        }
        level.set(node, sum / weight);
      }
      const sums = new Map<ModelFamily, { sum: number; weight: number }>();
      for (const node of this.#mixed) {
        for (const [family, cell] of this.#nodes.get(node)!) {
          if (cell.runs < MIN_RUNS) continue;
          const w = Math.min(cell.runs, MAX_RUN_WEIGHT);
          const entry = sums.get(family) ?? { sum: 0, weight: 0 };
          entry.sum += w * (level.get(node)! - cell.logSpeed);
          entry.weight += w;
          sums.set(family, entry);
        }
      }
      // The fit fixes corrections only up to one shift for all: a unit is an SD 1.5 step, else the priors' mean stays.
      let shift = 0;
      const sd15 = sums.get('sd15');
      if (sd15) shift = sd15.sum / sd15.weight;
      else {
        let total = 0;
        let weight = 0;
        for (const { sum, weight: w } of sums.values()) {
          total += sum;
          weight += w;
        }
        shift = total / weight;
      }
      for (const [family, { sum, weight }] of sums) this.#correction.set(family, sum / weight - shift);
    }
    return this.#publish();
  }

  #publish(): ModelFamily[] {
    const changed: ModelFamily[] = [];
    const bound = Math.log(MAX_CORRECTION);
    for (const family of ModelFamilies) {
      const correction = this.#correction.get(family);
      if (correction === undefined) continue;
      const cost = PRIOR_STEP_COSTS[family] * Math.exp(Math.min(bound, Math.max(-bound, correction)));
      const before = this.stepCost(family);
      if (Math.max(cost / before, before / cost) <= REPRICE_RATIO) continue;
      this.#published.set(family, cost);
      changed.push(family);
    }
    if (changed.length > 0) this.#version += 1;
    return changed;
  }
}

/** How many of a node's families have runs enough to count in the fit. */
function countedFamilies(families: NodeFamilies): number {
  let count = 0;
  for (const cell of families.values()) if (cell.runs >= MIN_RUNS) count += 1;
  return count;
}
