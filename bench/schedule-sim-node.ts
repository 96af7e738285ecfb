/**
 * @module bench/schedule-sim-node
 *
 * A simulated node and the ledger of what happened to each task.
 *
 * A node behaves as A1111 does: one job at a time, further requests wait in
 * its own FIFO (the WebUI's queue lock). A job begins by loading the
 * requested checkpoint if another one (or none) is loaded, then samples for
 * the sandbox model's time (schedule-node-time.ts). The node reports its
 * loaded checkpoint with each result, as the agent does. It also checks what
 * it is sent: a task whose checkpoint it does not hold, or more tasks than it
 * has slots, is counted as a violation (the scheduler must never do either).
 */
import type { Binding } from '../src/domain/binding.js';
import { bindSpec } from '../src/domain/binding.js';
import { toA1111Request } from '../src/node/backends/a1111/translate.js';
import type { SimNodeSpec, SpeedClass } from './schedule-nodes.js';
import { timingOf } from './schedule-nodes.js';
import { nodeWorkOf } from './schedule-node-time.js';
import type { SimTask } from './schedule-tasks.js';

export interface TaskRecord {
  id: string;
  apiKey: string;
  checkpointId: string;
  arrivalMs: number;
  /** When the task was handed to a node (DAN: `started`; baseline: at arrival). */
  sentMs: number | null;
  /** When the node began it (its checkpoint load included): the end of the task's wait. */
  beginMs: number | null;
  finishMs: number | null;
  nodeId: string | null;
  switched: boolean;
  /** Modelled seconds on its node, the switch included. */
  workSeconds: number;
  /** DAN: what the scheduler expected the run to take. */
  expectedSeconds: number | null;
  /** DAN: `eta` right after the pass that followed the arrival (0 if sent in that pass; null if unplanned). */
  etaSeconds: number | null;
  sentOnArrival: boolean;
  finishCount: number;
}

export interface NodeRecord {
  id: string;
  speedClass: SpeedClass;
  itPerSecond: number;
  jobs: number;
  busyMs: number;
  switchMs: number;
  firstLoads: number;
  switches: number;
  /** Switches made while a task needing the checkpoint the node had loaded was waiting. */
  avoidableSwitches: number;
  /** Most tasks the node held at once (running + waiting in its own queue). */
  maxHeld: number;
  /** Idle while some task it could serve was waiting (in the queue or on another node). */
  idleWithWorkMs: number;
  capabilityViolations: number;
  slotViolations: number;
}

export interface Job {
  task: SimTask;
  binding: Binding;
  sentMs: number;
}

/** Task records, and which waiting tasks each node could serve (by capability bit mask). */
export class Ledger {
  readonly records = new Map<string, TaskRecord>();
  /** Bit i set: node i binds the task (the same `bindSpec` the scheduler uses). */
  readonly masks = new Map<string, number>();
  /** Waiting tasks (arrived, not begun) counted by `checkpointId mask`. */
  readonly #waiting = new Map<string, { checkpointId: string; mask: number; count: number }>();

  constructor(tasks: readonly SimTask[], nodes: readonly SimNodeSpec[]) {
    for (const task of tasks) {
      const mask = nodes.reduce((m, node, i) => (bindSpec(task.spec, node.offering).ok ? m | (1 << i) : m), 0);
      this.masks.set(task.id, mask);
    }
  }

  arrived(task: SimTask): void {
    const record: TaskRecord = {
      id: task.id,
      apiKey: task.apiKey,
      checkpointId: task.spec.model.id,
      arrivalMs: task.arrivalMs,
      sentMs: null,
      beginMs: null,
      finishMs: null,
      nodeId: null,
      switched: false,
      workSeconds: 0,
      expectedSeconds: null,
      etaSeconds: null,
      sentOnArrival: false,
      finishCount: 0,
    };
    this.records.set(task.id, record);
    this.#shiftWaiting(task.id, 1);
  }

  began(taskId: string): void {
    this.#shiftWaiting(taskId, -1);
  }

  record(taskId: string): TaskRecord {
    const record = this.records.get(taskId);
    if (!record) throw new Error(`no record of task ${taskId}`);
    return record;
  }

  /** Whether a waiting task could run on node `nodeIndex` (and, if given, needs `checkpointId`). */
  hasWorkFor(nodeIndex: number, checkpointId?: string): boolean {
    for (const group of this.#waiting.values()) {
      if (group.count === 0 || !(group.mask & (1 << nodeIndex))) continue;
      if (checkpointId === undefined || group.checkpointId === checkpointId) return true;
    }
    return false;
  }

  #shiftWaiting(taskId: string, delta: number): void {
    const mask = this.masks.get(taskId) ?? 0;
    const checkpointId = this.record(taskId).checkpointId;
    const key = `${checkpointId} ${mask}`;
    const group = this.#waiting.get(key) ?? { checkpointId, mask, count: 0 };
    group.count += delta;
    this.#waiting.set(key, group);
  }
}

export class SimNode {
  readonly record: NodeRecord;
  /** The checkpoint title in VRAM. */
  loadedTitle: string | null = null;
  /** The checkpoint title the node last reported (with a result), as the gateway knows it. */
  reportedTitle: string | null = null;
  #current: { job: Job; endMs: number } | null = null;
  readonly #queue: Job[] = [];
  readonly #holds: ReadonlySet<string>;

  constructor(
    readonly spec: SimNodeSpec,
    readonly index: number,
    readonly ledger: Ledger,
  ) {
    this.#holds = new Set(spec.checkpoints.map((c) => c.ref.id));
    this.record = {
      id: spec.id,
      speedClass: spec.speedClass,
      itPerSecond: spec.itPerSecond,
      jobs: 0,
      busyMs: 0,
      switchMs: 0,
      firstLoads: 0,
      switches: 0,
      avoidableSwitches: 0,
      maxHeld: 0,
      idleWithWorkMs: 0,
      capabilityViolations: 0,
      slotViolations: 0,
    };
  }

  /** When the running job ends; Infinity when idle. */
  get endMs(): number {
    return this.#current?.endMs ?? Infinity;
  }

  get idle(): boolean {
    return this.#current === null;
  }

  get held(): number {
    return this.#queue.length + (this.#current ? 1 : 0);
  }

  submit(job: Job, nowMs: number): void {
    if (!this.#holds.has(job.task.spec.model.id)) this.record.capabilityViolations += 1;
    if (this.held + 1 > this.spec.slots) this.record.slotViolations += 1;
    const record = this.ledger.record(job.task.id);
    record.sentMs = nowMs;
    record.nodeId = this.spec.id;
    this.#queue.push(job);
    this.record.maxHeld = Math.max(this.record.maxHeld, this.held);
    if (!this.#current) this.#beginNext(nowMs);
  }

  /** Ends the running job at `nowMs` (its end), begins the next queued one, returns the finished job. */
  finish(nowMs: number): Job {
    const current = this.#current;
    if (!current) throw new Error(`node ${this.spec.id} has no job to finish`);
    const record = this.ledger.record(current.job.task.id);
    record.finishMs = nowMs;
    record.finishCount += 1;
    this.reportedTitle = this.loadedTitle;
    this.#current = null;
    this.#beginNext(nowMs);
    return current.job;
  }

  #countLoad(): void {
    if (this.loadedTitle === null) {
      this.record.firstLoads += 1;
      return;
    }
    this.record.switches += 1;
    const loaded = this.spec.checkpoints.find((c) => c.title === this.loadedTitle);
    if (loaded && this.ledger.hasWorkFor(this.index, loaded.ref.id)) this.record.avoidableSwitches += 1;
  }

  #beginNext(nowMs: number): void {
    const job = this.#queue.shift();
    if (!job) return;
    const timing = timingOf(this.spec);
    const work = nodeWorkOf(toA1111Request(job.task.spec, job.binding), timing, this.loadedTitle);
    if (work.switchSeconds > 0) this.#countLoad();
    this.loadedTitle = work.checkpointTitle;
    const durationMs = work.seconds * 1000;
    this.#current = { job, endMs: nowMs + durationMs };
    this.record.jobs += 1;
    this.record.busyMs += durationMs;
    this.record.switchMs += work.switchSeconds * 1000;
    const record = this.ledger.record(job.task.id);
    Object.assign(record, { beginMs: nowMs, switched: work.switchSeconds > 0, workSeconds: work.seconds });
    this.ledger.began(job.task.id);
  }
}
