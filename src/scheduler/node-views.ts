/**
 * @module scheduler/node-views
 *
 * The planner's view of each node (plan-types.ts `PlanNode`): its learned
 * speed and loads, whether it takes work, what it has loaded, and when each of
 * its slots frees, and how many tasks it may be sent ahead of a free slot
 * (`prefetch`: a task sent ahead waits on the node behind the one running, and
 * its lane frees only after both). Kept from pass to pass and read again only for the nodes
 * whose inputs changed: an attempt started or ended there (`touch`), its
 * figures were learned (`NodeEstimates.changedSince`), a set-aside began or
 * ended (`NodeHealth.version`), or it reports another model, availability or
 * slot count. Over 5,000 nodes, reading every node's figures, health and
 * attempts on every pass cost 6–7 ms of a 12 ms pass, nearly all of it
 * waiting on memory (bench:plan-scale); an unchanged busy node now only has
 * its slots' remaining time worked out from the clock.
 */
import type { NodeEstimates } from '../domain/speed-estimates.js';
import type { AttemptReader } from './attempt-ledger.js';
import type { NodeHealth } from './node-health.js';
import { firstFree, type PlanNode, windowFreesIn } from './plan-types.js';
import { firstAtLeast } from '../util/sorted-numbers.js';

/** A node as the planner sees it, refreshed in place. */
export type NodeView = PlanNode & { lanes: number[]; fixedSeconds: number; switchMeasured: boolean };

/** What of a node the views read (scheduler-types.ts `SchedulerNode`). */
export interface ViewedNode {
  readonly id: string;
  readonly identity: string;
  readonly slots: number;
  /** Tasks it holds ready beyond its slots. @defaultValue 0 */
  readonly prefetch?: number;
  readonly loadedModel: string | null;
  readonly available: boolean;
}

export interface NodeViewSources<TNode extends ViewedNode> {
  readonly estimates: NodeEstimates;
  /** Read for when set-asides begin and end; whether a node takes work is `takesWork`'s. */
  readonly health: NodeHealth;
  readonly attempts: AttemptReader;
  /** The identity of the checkpoint the node reports loaded, or null. */
  reportedIdentity(node: TNode): string | null;
  /** Whether the node takes work at `now` (backend up, not draining, not set aside). */
  takesWork(node: TNode, now: number): boolean;
}

/** What a view was last read from, to tell whether it must be read again. */
interface ReadFrom {
  loadedModel: string | null;
  nodeAvailable: boolean;
  slots: number;
  prefetch: number;
  /** Its figures are partly the measured peers' average. */
  usesPeers: boolean;
  /**
   * Its running attempts, oldest first: when each began (epoch ms; NaN for one sent ahead that waits on
   * the node) and how long it should take (s).
   */
  runStarts: number[];
  runSeconds: number[];
}

export class NodeViews<TNode extends ViewedNode> {
  readonly #sources: NodeViewSources<TNode>;
  #generation = -1;
  #views: NodeView[] = [];
  #readFrom: ReadFrom[] = [];
  /** 1 for a node to read again at the next refresh. */
  #stale = new Uint8Array(0);
  /** The nodes `touch` marked stale since the last refresh, each once (a refresh at the same time reads only them). */
  readonly #touched: number[] = [];
  /** `nodesSet` was told of a node list since the last refresh: its nodes' fields may have changed. */
  #nodesSet = true;
  /** Node indices by identity, for learned figures (one identity may be two sessions for a moment). */
  #byIdentity = new Map<string, number[]>();
  #estimatesVersion = 0;
  #peersVersion = 0;
  #healthVersion = 0;
  /** When the earliest running set-aside ends: then every node's health is read again. */
  #healthChangesAt = Infinity;
  /** The time of the last refresh. */
  #readAt = -Infinity;
  /** Counts the changes of any view's `available` (`availabilityVersion`). */
  #availabilityVersion = 0;
  /** Indices of the available nodes that may be sent a task (a free slot, or room to hold one ahead), as of the last refresh. */
  readonly free: number[] = [];
  /** Indices of the available nodes with a free slot, as of the last refresh. */
  readonly idle: number[] = [];

  constructor(sources: NodeViewSources<TNode>) {
    this.#sources = sources;
  }

  /** The views as of the last refresh (the array `refresh` returned). */
  get views(): readonly NodeView[] {
    return this.#views;
  }

  /** A mark of which views are available, as of the last refresh: it changes when one of them starts or stops taking work. */
  get availabilityVersion(): number {
    return this.#availabilityVersion;
  }

  /** The generation of the node list the views were last refreshed for. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Whether node `index` could be sent a task by a pass at `now`, from what the last refresh read: available,
   * and a free slot, or room to hold one ahead while a lane frees within `window` seconds (its time counted
   * down since the refresh); undefined when an attempt started or ended there since (`touch`), for the
   * caller to look at the node itself. Plain array reads: asked of every node able to run a submitted task,
   * on every submit.
   */
  maySend(index: number, window: number, now: number): boolean | undefined {
    if (this.#stale[index] === 1) return undefined;
    const view = this.#views[index];
    if (view === undefined || !view.available) return false;
    const running = this.#readFrom[index]!.runStarts.length;
    if (running < view.lanes.length) return true;
    return running < view.lanes.length + this.#readFrom[index]!.prefetch && windowFreesIn(view) - (now - this.#readAt) / 1000 <= window;
  }

  /** An attempt started or ended on node `index` of the current list: read it again. */
  touch(index: number): void {
    if (index >= this.#stale.length || this.#stale[index] === 1) return;
    this.#stale[index] = 1;
    this.#touched.push(index);
  }

  /** The scheduler was given the node list again (scheduler.ts `setNodes`): any node's fields may differ. */
  nodesSet(): void {
    this.#nodesSet = true;
  }

  /**
   * The views of `nodes` (the list of `generation`) at `now`, and `free`. The arrays are reused by the
   * next refresh: a caller that keeps them copies them (`copyViews`).
   */
  refresh(nodes: readonly TNode[], generation: number, now: number): NodeView[] {
    const { estimates, health } = this.#sources;
    if (this.#onlyTouched(generation, now)) {
      // Asked again at the same time with nothing else changed (a pass reads the views for its plan, then
      // for the held tasks an idle node could take and for its idle recheck): only the nodes the pass sent
      // work to are read again. A walk of every node was a tenth of a busy gateway's time over 1,000 nodes.
      for (const index of this.#touched) {
        this.#read(nodes[index]!, index, now);
        this.#list(index);
      }
      this.#touched.length = 0;
      return this.#views;
    }
    this.#touched.length = 0;
    this.#nodesSet = false;
    if (generation !== this.#generation) this.#reset(nodes, generation);
    if (now < this.#readAt) {
      // Asked at an older time than before: a set-aside over by then may still run at this time. Every
      // node is read at this time, and the next set-aside end after it is watched for again.
      this.#stale.fill(1);
      this.#healthChangesAt = -Infinity;
    }
    // Asked again at the same time after a change (estimates, health, the node list): the lanes of a node
    // read before have not moved.
    const sameTime = now === this.#readAt;
    this.#readAt = now;
    const changed = estimates.changedSince(this.#estimatesVersion);
    if (changed === null) this.#stale.fill(1);
    else for (const name of changed) for (const index of this.#byIdentity.get(name) ?? []) this.#stale[index] = 1;
    const peersChanged = estimates.peersVersion !== this.#peersVersion;
    if (health.version !== this.#healthVersion || now >= this.#healthChangesAt) {
      this.#stale.fill(1);
      this.#healthChangesAt = health.nextEnd(now);
    }
    this.#estimatesVersion = estimates.version;
    this.#peersVersion = estimates.peersVersion;
    this.#healthVersion = health.version;
    this.free.length = 0;
    this.idle.length = 0;
    const views = this.#views;
    for (let index = 0; index < nodes.length; index++) {
      const node = nodes[index]!;
      const from = this.#readFrom[index]!;
      const view = views[index]!;
      const same =
        this.#stale[index] === 0 &&
        !(peersChanged && from.usesPeers) &&
        from.loadedModel === node.loadedModel &&
        from.nodeAvailable === node.available &&
        from.slots === node.slots &&
        from.prefetch === (node.prefetch ?? 0);
      if (!same) this.#read(node, index, now);
      else if (from.runStarts.length > 0 && !sameTime) view.windowLead = laneTimes(view.lanes, from, now);
      if (!view.available) continue;
      const running = from.runStarts.length;
      if (running < view.lanes.length) this.idle.push(index);
      if (running < view.lanes.length + from.prefetch) this.free.push(index);
    }
    return views;
  }

  /** Whether a refresh at `now` need read only the touched nodes: the same time, list and figures as the last. */
  #onlyTouched(generation: number, now: number): boolean {
    const { estimates, health } = this.#sources;
    return (
      now === this.#readAt &&
      generation === this.#generation &&
      !this.#nodesSet &&
      estimates.version === this.#estimatesVersion &&
      estimates.peersVersion === this.#peersVersion &&
      health.version === this.#healthVersion &&
      now < this.#healthChangesAt
    );
  }

  /** Node `index` in `free` and `idle` (kept in index order) as its view now says. */
  #list(index: number): void {
    const view = this.#views[index]!;
    const running = this.#readFrom[index]!.runStarts.length;
    keepListed(this.idle, index, view.available && running < view.lanes.length);
    keepListed(this.free, index, view.available && running < view.lanes.length + this.#readFrom[index]!.prefetch);
  }

  #reset(nodes: readonly TNode[], generation: number): void {
    this.#generation = generation;
    this.#views = nodes.map((node) => ({ id: node.id, unitsPerSecond: 0, fixedSeconds: 0, switchSeconds: 0, loadSeconds: undefined, switchMeasured: false, lanes: [], sendAhead: 0, windowLead: 0, loaded: null, available: false }));
    this.#readFrom = nodes.map(() => ({ loadedModel: null, nodeAvailable: false, slots: 0, prefetch: 0, usesPeers: false, runStarts: [], runSeconds: [] }));
    this.#stale = new Uint8Array(nodes.length).fill(1);
    this.#byIdentity = new Map();
    nodes.forEach((node, index) => {
      const list = this.#byIdentity.get(node.identity);
      if (list) list.push(index);
      else this.#byIdentity.set(node.identity, [index]);
    });
  }

  /** Reads node `index` whole: its figures, its health, its attempts. */
  #read(node: TNode, index: number, now: number): void {
    const { estimates, attempts } = this.#sources;
    const view = this.#views[index]!;
    const from = this.#readFrom[index]!;
    from.usesPeers = !estimates.readInto(node.identity, view);
    view.loadSeconds = estimates.loadsOf(node.identity);
    const available = this.#sources.takesWork(node, now);
    if (available !== view.available) this.#availabilityVersion += 1;
    view.available = available;
    from.loadedModel = node.loadedModel;
    from.nodeAvailable = node.available;
    from.slots = node.slots;
    from.prefetch = node.prefetch ?? 0;
    from.runStarts.length = 0;
    from.runSeconds.length = 0;
    let running: string | null = null;
    let waiting = 0;
    const runs = attempts.onNode(node.id);
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!;
      // What it has loaded once the work it holds is done: the last attempt's checkpoint.
      running = run.checkpoint ?? running;
      if (run.begunAt === null) waiting += 1;
      from.runStarts.push(run.begunAt ?? Number.NaN);
      from.runSeconds.push(run.expectedSeconds);
    }
    view.loaded = running ?? this.#sources.reportedIdentity(node);
    if (view.lanes.length !== node.slots) view.lanes.length = node.slots;
    view.sendAhead = Math.max(0, from.prefetch - waiting);
    view.windowLead = laneTimes(view.lanes, from, now);
    this.#stale[index] = 0;
  }
}

/** An attempt past its expected time is taken to free in this share of that time (`laneTimes`). */
const OVERRUN_SHARE = 0.05;

/** `laneTimes`'s lanes as the send-ahead window counts them, kept from call to call (one node at a time). */
const windowLanes: number[] = [];

/**
 * `lanes` (one per slot): when each frees, seconds from `now`; 0 for a free one. An attempt waiting on the
 * node (sent ahead) runs after the lane that frees first. Returns the node's `windowLead`.
 */
function laneTimes(lanes: number[], from: ReadFrom, now: number): number {
  if (lanes.length === 1) return oneLaneTimes(lanes, from, now);
  lanes.fill(0);
  windowLanes.length = lanes.length;
  windowLanes.fill(0);
  let slot = 0;
  for (let i = 0; i < from.runStarts.length; i++) {
    const expected = from.runSeconds[i]!;
    const begunAt = from.runStarts[i]!;
    if (Number.isNaN(begunAt)) continue;
    if (slot >= lanes.length) break;
    // An attempt past its expected time frees "soon", not now: the planner must not give its slot away.
    // The plan holds it at that floor through its last twentieth too (its rules are tuned with that
    // hedge); the send-ahead window does not: a node running a task longer than twenty windows never came
    // within one, and was never sent a task to hold (a 30 s task and loads of 2 s: a window of 1 s against
    // a floor of 1.5 s).
    const left = expected - (now - begunAt) / 1000;
    const floor = OVERRUN_SHARE * expected;
    windowLanes[slot] = left > 0 ? left : floor;
    lanes[slot++] = Math.max(left, floor);
  }
  for (let i = 0; i < from.runStarts.length; i++) {
    if (!Number.isNaN(from.runStarts[i]!)) continue;
    queueBehind(lanes, from.runSeconds[i]!);
    queueBehind(windowLanes, from.runSeconds[i]!);
  }
  return Math.max(0, firstFree(lanes) - firstFree(windowLanes));
}

/**
 * `laneTimes` for a node of one slot (most nodes): the same sums in the same order, without the lists. A pass
 * over a thousand busy nodes works this out for each of them.
 */
function oneLaneTimes(lanes: number[], from: ReadFrom, now: number): number {
  let lane = 0;
  let window = 0;
  let begun = false;
  for (let i = 0; i < from.runStarts.length; i++) {
    const begunAt = from.runStarts[i]!;
    if (Number.isNaN(begunAt)) continue;
    const expected = from.runSeconds[i]!;
    const left = expected - (now - begunAt) / 1000;
    const floor = OVERRUN_SHARE * expected;
    window = left > 0 ? left : floor;
    lane = Math.max(left, floor);
    begun = true;
    break;
  }
  if (!begun && from.runStarts.length === 0) {
    lanes[0] = 0;
    return 0;
  }
  for (let i = 0; i < from.runStarts.length; i++) {
    if (!Number.isNaN(from.runStarts[i]!)) continue;
    lane += from.runSeconds[i]!;
    window += from.runSeconds[i]!;
  }
  lanes[0] = lane;
  return Math.max(0, lane - window);
}

/** An attempt of `seconds` held on the node: it runs after the lane that frees first. */
function queueBehind(lanes: number[], seconds: number): void {
  let first = 0;
  for (let lane = 1; lane < lanes.length; lane++) if (lanes[lane]! < lanes[first]!) first = lane;
  lanes[first] = lanes[first]! + seconds;
}

/** Puts `index` into the ascending `list`, or takes it out. */
function keepListed(list: number[], index: number, listed: boolean): void {
  const at = firstAtLeast(list, index);
  const there = list[at] === index;
  if (listed && !there) list.splice(at, 0, index);
  else if (!listed && there) list.splice(at, 1);
}

/** Copies of `views` a later refresh leaves as they are (a kept plan's). */
export function copyViews(views: readonly NodeView[]): NodeView[] {
  return views.map((view) => ({ ...view, lanes: [...view.lanes] }));
}
