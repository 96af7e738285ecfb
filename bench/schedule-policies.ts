/**
 * @module bench/schedule-policies
 *
 * The two policies the benchmark compares.
 *
 * - DAN: the real `Scheduler`, driven as gateway/dispatcher.ts drives it. On
 *   every arrival and every result: `setNodes` with the nodes' current views
 *   (the loaded checkpoint as each node last reported it), `assignments(now)`,
 *   and `start` for each assignment before sending it; a result calls
 *   `settle` with the node's elapsed time and, when it loaded a checkpoint, the
 *   load's time (the A1111 driver times loads apart), from which the scheduler
 *   learns the node's speed and load cost (it is told neither).
 * - Baseline: the original deployment's FIFO round-robin. In arrival order,
 *   each task goes at once to the next node in round-robin order among those
 *   that can serve it, busy or not, whatever it has loaded; each node works
 *   through its own FIFO queue.
 * - Earliest-free FIFO (for bench:live's comparison): one queue in arrival
 *   order; a node that frees takes the first queued task it can serve,
 *   whatever it has loaded.
 */
import { bindSpec } from '../src/domain/binding.js';
import { FamilyCosts, type Repriced } from '../src/domain/family-costs.js';
import type { ModelFamily } from '../src/domain/families.js';
import { NodeEstimates } from '../src/domain/speed-estimates.js';
import type { PlanOptions } from '../src/scheduler/plan-types.js';
import { Scheduler, type SchedulerNode } from '../src/scheduler/scheduler.js';
import type { PositionAudit } from './schedule-positions.js';
import type { Policy, SimEvent } from './schedule-sim-engine.js';
import type { Job, Ledger, SimNode } from './schedule-sim-node.js';
import type { SimTask } from './schedule-tasks.js';

export class DanPolicy implements Policy {
  readonly scheduler: Scheduler;
  audit: PositionAudit | null = null;
  readonly #byId: ReadonlyMap<string, SimNode>;
  readonly #tasks = new Map<string, SimTask>();
  /** Tasks that arrived at the current instant and still need their ETA recorded. */
  readonly #awaitingEta: string[] = [];

  /**
   * `primeEstimates`: each node reports its measured speed and switch cost on connect, as a node that has run before
   * does (protocol `measured`). `familyCosts`: how a step of each model family is priced (`FamilyCostsMode`).
   */
  constructor(
    readonly nodes: readonly SimNode[],
    readonly ledger: Ledger,
    options: { primeEstimates?: boolean; plan?: PlanOptions; familyCosts?: FamilyCostsMode } = {},
  ) {
    this.#byId = new Map(nodes.map((n) => [n.spec.id, n]));
    // The network knows a model's family from the nodes that declare it (the gateway's catalog).
    const families = new Map(nodes.flatMap((n) => n.spec.checkpoints.flatMap((c) => (c.family === undefined ? [] : [[c.ref.id, c.family] as const]))));
    this.scheduler = new Scheduler({
      ...(options.primeEstimates ? { estimates: primedEstimates(nodes) } : {}),
      plan: options.plan ?? {},
      familyOf: (model) => families.get(model.id) ?? null,
      familyCosts: familyCostsFor(options.familyCosts ?? 'learned'),
    });
  }

  arrive(task: SimTask, nowMs: number): void {
    this.#tasks.set(task.id, task);
    // The gateway runs with no priority and, here, no per-key cap: the benchmark loads the core itself.
    this.scheduler.enqueue({ id: task.id, owner: task.apiKey, spec: task.spec, priority: 0 }, nowMs);
    const sent = this.#schedule(nowMs);
    this.ledger.record(task.id).sentOnArrival = sent.has(task.id);
    this.#awaitingEta.push(task.id);
  }

  /**
   * The ETA a client sees at its first status poll: once every task that arrives at
   * this instant is in (for a single arrival, right after it; for the all-at-once
   * burst, after the whole burst), as the gateway answers an async submit.
   */
  instantDone(nowMs: number): void {
    for (const id of this.#awaitingEta.splice(0)) {
      const record = this.ledger.record(id);
      record.etaSeconds = record.beginMs === nowMs || record.sentOnArrival ? 0 : this.scheduler.eta(id, nowMs);
    }
  }

  finished(node: SimNode, job: Job, nowMs: number): void {
    // The node times a checkpoint load apart from the generation, as the A1111 driver does.
    const loadMs = this.ledger.record(job.task.id).switched ? node.spec.switchSeconds * 1000 : undefined;
    this.scheduler.settle({ taskId: job.task.id }, { ok: true, elapsedMs: nowMs - job.sentMs, ...(loadMs === undefined ? {} : { loadMs }) }, nowMs);
    this.#schedule(nowMs);
  }

  observe(event: SimEvent): void {
    this.audit?.observe(event);
  }

  /** The dispatcher's `schedule()`: node views, then send each assignment. Returns the ids sent. */
  #schedule(nowMs: number): Set<string> {
    this.scheduler.setNodes(this.nodes.map(toSchedulerNode));
    const sent = new Set<string>();
    for (const assignment of this.scheduler.assignments(nowMs)) {
      const node = this.#byId.get(assignment.nodeId)!;
      const task = this.#tasks.get(assignment.taskId)!;
      this.scheduler.start(assignment, nowMs);
      this.ledger.record(task.id).expectedSeconds = assignment.expectedSeconds;
      node.submit({ task, binding: assignment.binding, sentMs: nowMs }, nowMs);
      sent.add(task.id);
    }
    return sent;
  }
}

/**
 * How the scheduler prices a step of each model family: as it does (`learned`: the first guesses, corrected
 * by what nodes that run several families measure), the first guesses only (`priors`), or every family as
 * SD 1.5 (`flat`: the gateway before it knew step costs).
 */
export type FamilyCostsMode = 'learned' | 'priors' | 'flat';

function familyCostsFor(mode: FamilyCostsMode): FamilyCosts {
  if (mode === 'learned') return new FamilyCosts();
  return new (class extends FamilyCosts {
    override stepCost(family: ModelFamily | null): number {
      return mode === 'flat' ? 1 : super.stepCost(family);
    }

    override record(): Repriced[] {
      return [];
    }
  })();
}

/** What each node reports of itself when it connects after running before: its speed and its load time. */
function primedEstimates(nodes: readonly SimNode[]): NodeEstimates {
  const estimates = new NodeEstimates();
  for (const node of nodes) estimates.seed(node.spec.id, { unitsPerSecond: node.spec.itPerSecond, switchSeconds: node.spec.switchSeconds });
  return estimates;
}

function toSchedulerNode(node: SimNode): SchedulerNode {
  const { id, offering, slots } = node.spec;
  return { id, name: id, identity: id, offering, offeringVersion: 1, slots, loadedModel: node.reportedTitle, available: true };
}

export class RoundRobinPolicy implements Policy {
  #next = 0;

  constructor(
    readonly nodes: readonly SimNode[],
    readonly ledger: Ledger,
  ) {}

  arrive(task: SimTask, nowMs: number): void {
    const mask = this.ledger.masks.get(task.id) ?? 0;
    for (let step = 0; step < this.nodes.length; step++) {
      const node = this.nodes[(this.#next + step) % this.nodes.length]!;
      if (!(mask & (1 << node.index))) continue;
      const outcome = bindSpec(task.spec, node.spec.offering);
      if (!outcome.ok) continue;
      this.#next = node.index + 1;
      node.submit({ task, binding: outcome.binding, sentMs: nowMs }, nowMs);
      return;
    }
    // No node can serve it: it stays unfinished, and the report says so.
  }

  finished(): void {
    // Each node takes the next task of its own queue by itself.
  }
}

export class FifoPolicy implements Policy {
  readonly #queue: SimTask[] = [];

  constructor(
    readonly nodes: readonly SimNode[],
    readonly ledger: Ledger,
  ) {}

  arrive(task: SimTask, nowMs: number): void {
    this.#queue.push(task);
    for (const node of this.nodes) if (node.idle) this.#feed(node, nowMs);
  }

  finished(node: SimNode, _job: Job, nowMs: number): void {
    this.#feed(node, nowMs);
  }

  #feed(node: SimNode, nowMs: number): void {
    if (!node.idle) return;
    const index = this.#queue.findIndex((task) => ((this.ledger.masks.get(task.id) ?? 0) & (1 << node.index)) !== 0);
    if (index < 0) return;
    const [task] = this.#queue.splice(index, 1) as [SimTask];
    const outcome = bindSpec(task.spec, node.spec.offering);
    if (outcome.ok) node.submit({ task, binding: outcome.binding, sentMs: nowMs }, nowMs);
  }
}
