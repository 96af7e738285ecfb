/**
 * @module scheduler/plan-assignments
 *
 * The scheduling policy, pure: given the queue in service order and the nodes
 * with their free slots, which task goes to which node now. No I/O, no clock:
 * the dispatcher calls it whenever the queue or a node changes.
 *
 * Rules (first version; the scheduler issue refines order and affinity):
 * - A task goes only to a node whose offering binds it (`bindSpec`).
 * - Service order is the queue's order; a task no free node can serve does not
 *   block the tasks behind it.
 * - Among free nodes that can serve a task, prefer one that has the task's
 *   checkpoint loaded (an A1111 checkpoint switch costs seconds), then the one
 *   with the most free slots.
 * - A node that already failed the task is used again only if no other node
 *   can serve it.
 */
import { type Binding, bindSpec } from '../domain/binding.js';
import type { NodeOffering } from '../domain/offering.js';
import type { GenerationSpec } from '../domain/spec.js';

export interface QueuedTaskView {
  id: string;
  spec: GenerationSpec;
  /** Nodes on which an earlier attempt of this task failed. */
  failedOn: ReadonlySet<string>;
}

export interface NodeView {
  id: string;
  offering: NodeOffering;
  freeSlots: number;
  loadedModel: string | null;
}

export interface Assignment {
  taskId: string;
  nodeId: string;
  binding: Binding;
}

interface Candidate {
  node: NodeView;
  binding: Binding;
}

function rank(candidate: Candidate, failedOn: ReadonlySet<string>, free: Map<string, number>): number[] {
  const { node, binding } = candidate;
  const loaded = binding.checkpoint !== undefined && binding.checkpoint === node.loadedModel;
  return [failedOn.has(node.id) ? 1 : 0, loaded ? 0 : 1, -(free.get(node.id) ?? 0)];
}

function better(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

/** Plans assignments for as many queued tasks as free slots allow. */
export function planAssignments(queue: readonly QueuedTaskView[], nodes: readonly NodeView[]): Assignment[] {
  const free = new Map(nodes.filter((n) => n.freeSlots > 0).map((n) => [n.id, n.freeSlots]));
  const assignments: Assignment[] = [];
  for (const task of queue) {
    if (free.size === 0) break;
    let best: Candidate | undefined;
    let bestRank: number[] = [];
    for (const node of nodes) {
      if (!free.has(node.id)) continue;
      const outcome = bindSpec(task.spec, node.offering);
      if (!outcome.ok) continue;
      const candidate = { node, binding: outcome.binding };
      const candidateRank = rank(candidate, task.failedOn, free);
      if (!best || better(candidateRank, bestRank)) {
        best = candidate;
        bestRank = candidateRank;
      }
    }
    if (!best) continue;
    assignments.push({ taskId: task.id, nodeId: best.node.id, binding: best.binding });
    const left = (free.get(best.node.id) ?? 1) - 1;
    if (left > 0) free.set(best.node.id, left);
    else free.delete(best.node.id);
  }
  return assignments;
}
