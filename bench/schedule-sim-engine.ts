/**
 * @module bench/schedule-sim-engine
 *
 * The discrete-event loop: a virtual clock jumps from event to event (a task
 * arrives, a node finishes its job), so two thousand GPU tasks take seconds of
 * CPU and no real waiting. Events are handled one at a time, in time order,
 * a finish before an arrival at the same instant (the freed node is then
 * visible to the arrival's scheduling pass), ties by node order and arrival
 * order, so a seed always gives the same run. The policy decides what
 * happens at each event; the engine also measures, per node, how long it
 * sat idle while a task it could serve was waiting.
 */
import type { Job, Ledger, SimNode } from './schedule-sim-node.js';
import type { SimTask } from './schedule-tasks.js';

export type SimEvent = { kind: 'arrival'; taskId: string } | { kind: 'finish'; taskId: string; nodeId: string };

export interface Policy {
  arrive(task: SimTask, nowMs: number): void;
  finished(node: SimNode, job: Job, nowMs: number): void;
  /** Called after every event, once the policy has reacted to it. */
  observe?(event: SimEvent, nowMs: number): void;
  /** Called once every event of the current instant has been handled. */
  instantDone?(nowMs: number): void;
}

function nextFinishing(nodes: readonly SimNode[]): SimNode | undefined {
  let best: SimNode | undefined;
  for (const node of nodes) if (node.endMs < (best?.endMs ?? Infinity)) best = node;
  return best;
}

function accountIdle(nodes: readonly SimNode[], ledger: Ledger, elapsedMs: number): void {
  if (elapsedMs <= 0) return;
  for (const node of nodes) if (node.idle && ledger.hasWorkFor(node.index)) node.record.idleWithWorkMs += elapsedMs;
}

/** Runs `tasks` through `policy` on `nodes` until nothing is left to happen; returns the last event's time. */
export function runEvents(options: { nodes: readonly SimNode[]; tasks: readonly SimTask[]; ledger: Ledger; policy: Policy }): number {
  const { nodes, ledger, policy } = options;
  const arrivals = [...options.tasks].sort((a, b) => a.arrivalMs - b.arrivalMs);
  let next = 0;
  let nowMs = 0;
  for (;;) {
    const finishing = nextFinishing(nodes);
    const finishMs = finishing?.endMs ?? Infinity;
    const arrivalMs = arrivals[next]?.arrivalMs ?? Infinity;
    if (finishMs === Infinity && arrivalMs === Infinity) return nowMs;
    const atMs = Math.min(finishMs, arrivalMs);
    accountIdle(nodes, ledger, atMs - nowMs);
    nowMs = atMs;
    let event: SimEvent;
    if (finishing && finishMs <= arrivalMs) {
      const job = finishing.finish(nowMs);
      policy.finished(finishing, job, nowMs);
      event = { kind: 'finish', taskId: job.task.id, nodeId: finishing.spec.id };
    } else {
      const task = arrivals[next++]!;
      ledger.arrived(task);
      policy.arrive(task, nowMs);
      event = { kind: 'arrival', taskId: task.id };
    }
    policy.observe?.(event, nowMs);
    const upcoming = Math.min(nextFinishing(nodes)?.endMs ?? Infinity, arrivals[next]?.arrivalMs ?? Infinity);
    if (upcoming > nowMs) policy.instantDone?.(nowMs);
  }
}
