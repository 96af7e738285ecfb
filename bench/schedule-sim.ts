/**
 * @module bench/schedule-sim
 *
 * One simulated run: a fleet, a task list with arrival times, a policy.
 * Returns what happened to every task and node (see schedule-sim-node.ts).
 *
 * @example
 * const run = simulate('dan', nodes, tasks, { auditPositions: true });
 * run.tasks.filter((t) => t.finishCount !== 1); // → []
 */
import type { PlanOptions } from '../src/scheduler/plan-types.js';
import type { SimNodeSpec } from './schedule-nodes.js';
import { type PositionAuditResult, PositionAudit } from './schedule-positions.js';
import { DanPolicy, type FamilyCostsMode, FifoPolicy, RoundRobinPolicy } from './schedule-policies.js';
import { createRandom, Streams } from './schedule-random.js';
import { runEvents } from './schedule-sim-engine.js';
import { Ledger, type NodeRecord, SimNode, type TaskRecord } from './schedule-sim-node.js';
import type { SimTask } from './schedule-tasks.js';

export const PolicyNames = ['dan', 'baseline'] as const;
export type PolicyName = (typeof PolicyNames)[number];
/** `fifo`: earliest-free FIFO, a reference for bench:live (bench:schedule compares the two above). */
export type SimPolicyName = PolicyName | 'fifo';

export interface SimOptions {
  /** Audit queue positions after every event (DAN only). @defaultValue false */
  auditPositions?: boolean;
  /** Positions per event also asked of `Scheduler.position`. @defaultValue 2 */
  positionChecksPerEvent?: number;
  /** Seeds the choice of spot-checked positions. @defaultValue 1 */
  seed?: number;
  /** DAN starts knowing each node's speed and switch cost (what-if; see DanPolicy). @defaultValue false */
  primeEstimates?: boolean;
  /** Planner settings other than the defaults (tuning runs). */
  plan?: PlanOptions;
  /** How DAN prices a step of each model family. @defaultValue 'learned' */
  familyCosts?: FamilyCostsMode;
}

export interface RunResult {
  policy: SimPolicyName;
  tasks: TaskRecord[];
  nodes: NodeRecord[];
  /** Time of the last event (the last finish). */
  endMs: number;
  positions: PositionAuditResult | null;
  /** Real CPU time the run took. */
  wallMs: number;
}

export function simulate(policyName: SimPolicyName, nodeSpecs: readonly SimNodeSpec[], tasks: readonly SimTask[], options: SimOptions = {}): RunResult {
  const started = performance.now();
  const ledger = new Ledger(tasks, nodeSpecs);
  const nodes = nodeSpecs.map((spec, i) => new SimNode(spec, i, ledger));
  let audit: PositionAudit | null = null;
  let policy: DanPolicy | RoundRobinPolicy | FifoPolicy;
  if (policyName === 'dan') {
    const dan = new DanPolicy(nodes, ledger, { primeEstimates: options.primeEstimates ?? false, ...(options.plan ? { plan: options.plan } : {}), ...(options.familyCosts ? { familyCosts: options.familyCosts } : {}) });
    if (options.auditPositions) {
      const random = createRandom(options.seed ?? 1, Streams.audit);
      audit = new PositionAudit(dan.scheduler, ledger.masks, { random, perEvent: options.positionChecksPerEvent ?? 2 });
      dan.audit = audit;
    }
    policy = dan;
  } else {
    policy = policyName === 'fifo' ? new FifoPolicy(nodes, ledger) : new RoundRobinPolicy(nodes, ledger);
  }
  const endMs = runEvents({ nodes, tasks, ledger, policy });
  return {
    policy: policyName,
    tasks: tasks.map((t) => ledger.record(t.id)),
    nodes: nodes.map((n) => n.record),
    endMs,
    positions: audit?.result() ?? null,
    wallMs: performance.now() - started,
  };
}
