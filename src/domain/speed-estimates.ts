/**
 * @module domain/speed-estimates
 *
 * What the gateway has learned about each node's GPU, by node name (so it
 * survives reconnects), from what its results report:
 *
 * - **Run time** = a fixed part (HTTP, decoding, VAE, PNG encoding, the round
 *   trip) + work units (it at 512², see work-units.ts) ÷ speed. Both parts are
 *   fitted per node by least squares over recent runs, older runs weighing
 *   less (`FORGET` per run), so a node that makes 64² thumbnails and 1024²
 *   posters predicts both; units ÷ elapsed alone put the fixed part into the
 *   speed and got small tasks too cheap or large ones too dear. While the
 *   recent runs are all about the same size, the fixed part cannot be told
 *   from the speed: it stays where it was (0 at first) and the speed takes
 *   the rest, which predicts runs of that size exactly.
 * - **Checkpoint loads**, per checkpoint: the node times each load apart from
 *   the generation (node protocol `loadMs`). An SDXL file loads slower than
 *   an SD1.5 one, and the first load of a file (cold disk cache, hashing)
 *   slower than the next: each checkpoint keeps its own figure, halfway
 *   between the last load and the ones before. A checkpoint the node has never
 *   loaded is planned at the node's typical load.
 * - **Outliers**: a run of about the usual size, or a load of a checkpoint with
 *   a figure, over 4 times what the node's own figures predict counts as 4
 *   times (`OUTLIER_FACTOR`): a machine asleep mid-task is not a slow GPU.
 *
 * A node not measured yet is assumed to be like the average measured node, or
 * the defaults when none is; so is a measured node whose loads are not:
 * guessing a node much slower or faster than its peers would skew the plan
 * until its first result. `switchMeasured` tells a planner which figures are
 * guesses (it explores rather than trust a guess: planner.ts). Pure.
 */

export interface NodeEstimate {
  /** The proportional part: work units per second. */
  unitsPerSecond: number;
  /** The fixed part of every run, seconds. */
  fixedSeconds: number;
  /** A checkpoint load, when the checkpoint has no figure of its own on this node. */
  switchSeconds: number;
  /** Runs measured (0: the speed is a guess). */
  samples: number;
  /** Whether `switchSeconds` comes from this node's own loads (or its own report), not a guess. */
  switchMeasured: boolean;
}

export interface Observation {
  units: number;
  /** The whole run on the backend, a checkpoint load included. */
  elapsedSeconds: number;
  /** The node loaded another checkpoint first. */
  switched: boolean;
  /** The checkpoint (identity) it loaded, when switched. */
  checkpoint?: string | null;
  /** Seconds of `elapsedSeconds` spent loading it, timed apart by the node; absent when not timed. */
  loadSeconds?: number;
}

/** Seconds a run of `units` takes on a node with this estimate, without a load. */
export function runSeconds(estimate: Pick<NodeEstimate, 'unitsPerSecond' | 'fixedSeconds'>, units: number): number {
  return estimate.fixedSeconds + units / estimate.unitsPerSecond;
}

/** The most changes `NodeEstimates.changedSince` keeps (half are dropped past it). */
const CHANGE_LOG = 8192;

/** Each run's weight in the fit is this times the next one's. */
const FORGET = 0.7;
/** A node's typical load moves this share of the way to each new load. */
const SWITCH_WEIGHT = 0.3;
/** A checkpoint's own figure moves this share of the way to each new load of it. */
const LOAD_WEIGHT = 0.5;
/** Sizes spread less than this (standard deviation ÷ mean) cannot separate the fixed part from the speed. */
const MIN_SPREAD = 0.1;
/**
 * A run (or a load of a checkpoint the node has loaded before) that takes more than this many times what
 * the node's own figures predict is learned as taking only this many times, unless the run before it was
 * too. Such a time is seldom the GPU's: the machine slept mid-task, the node's process was paused, the
 * owner ran a generation of their own in the same WebUI. Taken whole, one laptop sleep of five minutes
 * during a 1 s task left the node predicted 30 times too slow three runs later (each run weighs `FORGET`
 * times the next), and the planner would have kept work from it. Two such runs in a row are a slowdown.
 */
const OUTLIER_FACTOR = 4;
/**
 * The fit's weight of three runs of its own (`FORGET`): before it, the figures predict too little to judge a
 * run an outlier. A node's report of itself (`seed`) counts as a sample but is no run of the fit.
 */
const OUTLIER_AFTER_WEIGHT = 1 + FORGET + FORGET ** 2;
/**
 * A run this many times smaller or larger than the fit's mean size is taken whole: after runs of one size
 * the fixed part is not known (0 at first), and the first thumbnail after posters, many times longer than
 * the line predicts, is what shows it.
 */
const OUTLIER_SIZE_RANGE = 2;
/** A load under this many seconds is never an outlier: a checkpoint whose figure is near 0 (it was in memory) would never learn its real load. */
const OUTLIER_MIN_LOAD_SECONDS = 1;

/** Exponentially weighted sums for the least-squares line elapsed = fixed + units × secondsPerUnit. */
interface Fit {
  w: number;
  sx: number;
  sy: number;
  sxx: number;
  sxy: number;
}

interface NodeRecord {
  fit: Fit;
  samples: number;
  unitsPerSecond: number;
  fixedSeconds: number;
  switchSeconds: number;
  switchMeasured: boolean;
  /** Per checkpoint identity: seconds a load of it takes. */
  loads: Map<string, number>;
  /** Whether its last run was learned as shorter than it took (`OUTLIER_FACTOR`): the next such run is taken whole. */
  clippedLast: boolean;
}

export class NodeEstimates {
  readonly #byName = new Map<string, NodeRecord>();
  readonly #defaults: NodeEstimate;
  /**
   * The measured nodes' average, kept until an estimate changes: a scheduling pass asks
   * it of every node not measured yet, and averaging over every measured node each time
   * was quadratic in a large fleet.
   */
  #average: NodeEstimate | null = null;
  /**
   * The sums the average is made of, kept as estimates change (`#withdraw` before, `#deposit` after):
   * every result changes one node's figures, and summing over 5,000 nodes after each was a third of a
   * scheduling pass's time at that scale (bench:plan-scale).
   */
  readonly #sums = { timed: 0, unitsPerSecond: 0, fixedSeconds: 0, loaded: 0, switchSeconds: 0 };
  #typicalSwitch: number | null = null;
  /** Counts the changes of any node's load figures (`loadsVersion`). */
  #loadsVersion = 0;
  /**
   * Which nodes' figures changed, in order (`changedSince`): a scheduling pass reads again only theirs,
   * not every node's (over 5,000 nodes, reading every node's figures was half of a pass). `#logFrom` is
   * the version of its first entry; older entries are dropped.
   */
  readonly #changes: string[] = [];
  #logFrom = 0;
  /** The version at which the measured nodes' average (what unmeasured nodes are given) last changed. */
  #peersVersion = 0;

  constructor(defaults: { unitsPerSecond?: number; switchSeconds?: number } = {}) {
    this.#defaults = { unitsPerSecond: defaults.unitsPerSecond ?? 10, fixedSeconds: 0, switchSeconds: defaults.switchSeconds ?? 6, samples: 0, switchMeasured: false };
  }

  get(name: string): NodeEstimate {
    const own = this.#byName.get(name);
    if (own && own.samples > 0 && own.switchMeasured) return own;
    const estimate = { unitsPerSecond: 0, fixedSeconds: 0, switchSeconds: 0, samples: own?.samples ?? 0, switchMeasured: false };
    this.readInto(name, estimate);
    return estimate;
  }

  /** Seconds a load of `checkpoint` takes on the node: its own figure, else the node's typical load. */
  loadSeconds(name: string, checkpoint: string | null): number {
    const own = checkpoint === null ? undefined : this.#byName.get(name)?.loads.get(checkpoint);
    return own ?? this.get(name).switchSeconds;
  }

  /** The node's per-checkpoint load figures (identity → seconds), if it has any. */
  loadsOf(name: string): ReadonlyMap<string, number> | undefined {
    const loads = this.#byName.get(name)?.loads;
    return loads && loads.size > 0 ? loads : undefined;
  }

  /**
   * The fleet's typical checkpoint load: the median over nodes whose loads are measured, else the
   * default. The planner's thresholds in seconds are scaled by it (planner.ts, `timeScale`).
   */
  typicalSwitchSeconds(): number {
    if (this.#typicalSwitch === null) {
      // A typed array, sorted as numbers in place: worked out again after most results in a busy fleet.
      const loads = new Float64Array(this.#byName.size);
      let count = 0;
      for (const record of this.#byName.values()) if (record.switchMeasured) loads[count++] = record.switchSeconds;
      const measured = loads.subarray(0, count).sort();
      this.#typicalSwitch = count === 0 ? this.#defaults.switchSeconds : measured[(count - 1) >> 1]!;
    }
    return this.#typicalSwitch;
  }

  /**
   * `get` without a new object: the figures a planner reads, written into `into`. A scheduling pass
   * reads every node's, and a merged estimate made per node and pass was most of what a pass allocated.
   * True when every figure is the node's own; false when some are its measured peers' average (they
   * change with `peersVersion`).
   */
  readInto(name: string, into: Pick<NodeEstimate, 'unitsPerSecond' | 'fixedSeconds' | 'switchSeconds' | 'switchMeasured'>): boolean {
    const own = this.#byName.get(name);
    const measured = own !== undefined && own.samples > 0 && own.switchMeasured;
    const peers = measured ? own : (this.#average ??= this.#peerAverage());
    const timed = own !== undefined && own.samples > 0 ? own : peers;
    into.unitsPerSecond = timed.unitsPerSecond;
    into.fixedSeconds = timed.fixedSeconds;
    into.switchSeconds = own?.switchMeasured ? own.switchSeconds : peers.switchSeconds;
    into.switchMeasured = own?.switchMeasured ?? false;
    return measured;
  }

  /** A mark of the figures as they are now, for `changedSince`. */
  get version(): number {
    return this.#logFrom + this.#changes.length;
  }

  /**
   * A mark of every node's load figures (its typical load and its per-checkpoint ones, and so the measured
   * nodes' average load that nodes not measured yet are given): it changes only when a load is learned or
   * reported.
   */
  get loadsVersion(): number {
    return this.#loadsVersion;
  }

  /** The version at which the figures given to nodes not measured yet (the measured nodes' average) last changed. */
  get peersVersion(): number {
    return this.#peersVersion;
  }

  /**
   * The names whose figures changed after `version` (a name may repeat), or null when that is too far
   * back to tell: then read every node's again.
   */
  changedSince(version: number): readonly string[] | null {
    if (version < this.#logFrom) return null;
    return this.#changes.slice(version - this.#logFrom);
  }

  #noteChange(name: string): void {
    this.#changes.push(name);
    if (this.#changes.length > CHANGE_LOG) {
      this.#changes.splice(0, CHANGE_LOG / 2);
      this.#logFrom += CHANGE_LOG / 2;
    }
  }

  #peerAverage(): NodeEstimate {
    const sums = this.#sums;
    return {
      unitsPerSecond: sums.timed > 0 ? sums.unitsPerSecond / sums.timed : this.#defaults.unitsPerSecond,
      fixedSeconds: sums.timed > 0 ? sums.fixedSeconds / sums.timed : 0,
      switchSeconds: sums.loaded > 0 ? sums.switchSeconds / sums.loaded : this.#defaults.switchSeconds,
      samples: 0,
      switchMeasured: false,
    };
  }

  /** Takes `record`'s figures out of the sums, before they change. */
  #withdraw(record: NodeRecord): void {
    this.#add(record, -1);
  }

  /** Puts `record`'s figures into the sums, once they changed; the average is worked out again when next asked. */
  #deposit(name: string, record: NodeRecord): void {
    this.#add(record, 1);
    this.#average = null;
    this.#noteChange(name);
    // Only a measured node's figures are in the average (`#add`).
    if (record.samples > 0 || record.switchMeasured) this.#peersVersion = this.version;
  }

  #add(record: NodeRecord, sign: 1 | -1): void {
    const sums = this.#sums;
    if (record.samples > 0) {
      sums.timed += sign;
      sums.unitsPerSecond += sign * record.unitsPerSecond;
      sums.fixedSeconds += sign * record.fixedSeconds;
    }
    if (record.switchMeasured) {
      sums.loaded += sign;
      sums.switchSeconds += sign * record.switchSeconds;
    }
  }

  #record(name: string): NodeRecord {
    let record = this.#byName.get(name);
    if (!record) {
      const { unitsPerSecond, fixedSeconds, switchSeconds } = this.#defaults;
      record = { fit: { w: 0, sx: 0, sy: 0, sxx: 0, sxy: 0 }, samples: 0, unitsPerSecond, fixedSeconds, switchSeconds, switchMeasured: false, loads: new Map(), clippedLast: false };
      this.#byName.set(name, record);
    }
    return record;
  }

  /**
   * Takes a node's own report of itself (node/agent.ts measures its tasks) as if it were one
   * observation of each figure it gives, unless results have already taught us better.
   */
  seed(name: string, reported: { unitsPerSecond: number; fixedSeconds?: number; switchSeconds?: number }): void {
    const record = this.#record(name);
    // The dispatcher seeds every node on every pass: only a first report changes anything, and only
    // then are the fleet's figures (peer average, typical load) worked out again.
    const newSpeed = record.samples === 0;
    const newLoad = record.switchMeasured ? undefined : reported.switchSeconds;
    if (!newSpeed && newLoad === undefined) return;
    this.#withdraw(record);
    if (newSpeed) {
      record.unitsPerSecond = reported.unitsPerSecond;
      record.fixedSeconds = reported.fixedSeconds ?? 0;
      record.samples = 1;
    }
    if (newLoad !== undefined) {
      record.switchSeconds = newLoad;
      record.switchMeasured = true;
      this.#typicalSwitch = null;
      this.#loadsVersion += 1;
    }
    this.#deposit(name, record);
  }

  /**
   * Counts the node's work in units `factor` times as large (a model family's step cost changed, and all its
   * runs were of that family): its speed in units is `factor` times as high, its times the same.
   */
  rescaleUnits(name: string, factor: number): void {
    const record = this.#byName.get(name);
    if (!record || record.samples === 0 || !(factor > 0) || !Number.isFinite(factor)) return;
    this.#withdraw(record);
    const fit = record.fit;
    fit.sx *= factor;
    fit.sxx *= factor * factor;
    fit.sxy *= factor;
    record.unitsPerSecond *= factor;
    this.#deposit(name, record);
  }

  record(name: string, observation: Observation): void {
    const { units, elapsedSeconds, switched } = observation;
    if (!(elapsedSeconds > 0) || !(units > 0)) return;
    const record = this.#record(name);
    this.#withdraw(record);
    if (!switched) {
      this.#addRun(record, units, elapsedSeconds);
    } else {
      const predicted = record.samples > 0 ? runSeconds(record, units) : undefined;
      const { load, run } = splitSwitchedRun(elapsedSeconds, observation.loadSeconds, predicted);
      if (load !== undefined) {
        this.#addLoad(record, observation.checkpoint ?? null, load);
        // The median load is asked on every pass: worked out again only when a load was learned.
        this.#typicalSwitch = null;
        this.#loadsVersion += 1;
      }
      if (run !== undefined) this.#addRun(record, units, run);
    }
    this.#deposit(name, record);
  }

  #addRun(record: NodeRecord, units: number, observed: number): void {
    const meanUnits = record.fit.w > 0 ? record.fit.sx / record.fit.w : 0;
    const judged = record.fit.w >= OUTLIER_AFTER_WEIGHT && units * OUTLIER_SIZE_RANGE >= meanUnits && units <= OUTLIER_SIZE_RANGE * meanUnits;
    // Only one run in a row: a second says the node is slower now (a GPU that throttles, its owner's work
    // beside ours), and the fit must follow. Clipped again and again, the runs fitted a line of their own
    // (bench:speeds speed-drop: a node gone from 20 to 4 it/s learned as 8-11 it/s + 3 s; 1.21 x against 1.15 x).
    const bound = OUTLIER_FACTOR * runSeconds(record, units);
    const clipped = judged && !record.clippedLast && observed > bound;
    record.clippedLast = clipped;
    const seconds = clipped ? bound : observed;
    const fit = record.fit;
    fit.w = fit.w * FORGET + 1;
    fit.sx = fit.sx * FORGET + units;
    fit.sy = fit.sy * FORGET + seconds;
    fit.sxx = fit.sxx * FORGET + units * units;
    fit.sxy = fit.sxy * FORGET + units * seconds;
    const line = solve(fit, record.fixedSeconds);
    record.fixedSeconds = line.fixed;
    record.unitsPerSecond = 1 / line.perUnit;
    record.samples += 1;
  }

  #addLoad(record: NodeRecord, checkpoint: string | null, observed: number): void {
    const before = checkpoint === null ? undefined : record.loads.get(checkpoint);
    // Only against the checkpoint's own figure: a first load of a large file from a cold disk may well take
    // many times the node's typical load.
    const seconds = before === undefined ? observed : Math.min(observed, OUTLIER_FACTOR * Math.max(before, OUTLIER_MIN_LOAD_SECONDS));
    record.switchSeconds = record.switchMeasured ? blend(record.switchSeconds, seconds, SWITCH_WEIGHT) : seconds;
    record.switchMeasured = true;
    if (checkpoint === null) return;
    record.loads.set(checkpoint, before === undefined ? seconds : blend(before, seconds, LOAD_WEIGHT));
  }
}

/**
 * Which part of a switched run was the load and which the generation. A timed
 * load is taken as it is, unless the rest of the run is longer than the node's
 * known speed explains by more than the load itself: some backends (Forge)
 * only note the checkpoint when asked to load it and load it with the next
 * generation, so the time shows up there. Then, as for an untimed load, the
 * load is what the known speed leaves over, and the run teaches no speed.
 */
function splitSwitchedRun(elapsed: number, timedLoad: number | undefined, predictedRun: number | undefined): { load?: number; run?: number } {
  if (timedLoad !== undefined) {
    const run = elapsed - timedLoad;
    const unexplained = predictedRun === undefined ? 0 : run - predictedRun;
    if (unexplained <= Math.max(timedLoad, 1, 0.5 * (predictedRun ?? 0))) return run > 0 ? { load: timedLoad, run } : { load: timedLoad };
  }
  if (predictedRun === undefined) return {};
  return { load: Math.max(0, elapsed - predictedRun) };
}

/**
 * The weighted least-squares line through the recent runs. When their sizes
 * barely differ, or the line comes out with a negative part, the fixed part
 * keeps `previousFixed` (capped below the runs' mean time) and the speed takes
 * the rest.
 */
function solve(fit: Fit, previousFixed: number): { fixed: number; perUnit: number } {
  const meanX = fit.sx / fit.w;
  const meanY = fit.sy / fit.w;
  const varX = fit.sxx / fit.w - meanX * meanX;
  if (varX > (MIN_SPREAD * meanX) ** 2) {
    const perUnit = (fit.sxy / fit.w - meanX * meanY) / varX;
    const fixed = meanY - perUnit * meanX;
    if (perUnit > 0 && fixed >= 0) return { fixed, perUnit };
  }
  const fixed = Math.min(previousFixed, 0.5 * meanY);
  return { fixed, perUnit: (meanY - fixed) / meanX };
}

function blend(old: number, observed: number, weight: number): number {
  return old + weight * (observed - old);
}
