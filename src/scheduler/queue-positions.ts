/**
 * @module scheduler/queue-positions
 *
 * Queue positions, kept as tasks come and go rather than counted per ask. A
 * queued task's position is its rank in service order among the queued tasks
 * that compete with it for a node (scheduler.ts). Tasks are grouped by the
 * list of nodes that can run them (a handful of lists on a real queue: one per
 * checkpoint and node class), each group's tasks kept in service order; a
 * position is then, over the groups that share a node with the task's own, the
 * number of their tasks ordered before it: a binary search per group. Status
 * polls ask all the time; a queue of 20,000 was counted whole after every
 * change before.
 */
import { compareTags, type FairTag } from './fair-order.js';

interface Group<T> {
  nodes: ReadonlySet<number>;
  /** The group's tasks in service order. */
  members: T[];
  /** The groups (this one included) that share a node with it. */
  sharesWith: Group<T>[];
}

export class QueuePositions<T extends { tag: FairTag }> {
  readonly #groups = new Map<string, Group<T>>();
  readonly #groupOf = new Map<T, Group<T>>();
  /** Each node list's key, per (shared) array: joined once per list, not per task. */
  #keys = new WeakMap<readonly number[], string>();

  /** `nodesOf`: the nodes that can run a task (none: it competes with every task). */
  constructor(private readonly nodesOf: (item: T) => readonly number[]) {}

  /** Forgets every task (the node lists changed: a rebuild adds them again). */
  clear(): void {
    this.#groups.clear();
    this.#groupOf.clear();
    this.#keys = new WeakMap();
  }

  get size(): number {
    return this.#groupOf.size;
  }

  /** Adds a queued task. Adding tasks in service order appends each at its group's end. */
  add(item: T): void {
    const group = this.#groupFor(this.nodesOf(item));
    group.members.splice(countBefore(group.members, item.tag), 0, item);
    this.#groupOf.set(item, group);
  }

  /** Takes a task out (it started, or left the queue). */
  delete(item: T): void {
    const group = this.#groupOf.get(item);
    if (!group) return;
    const at = countBefore(group.members, item.tag);
    if (group.members[at] === item) group.members.splice(at, 1);
    this.#groupOf.delete(item);
  }

  /**
   * The task's rank (1-based) among the tasks of the groups that share a node with its own; undefined
   * when it is not held, or when no node can run it (then it competes with all: the caller counts).
   */
  position(item: T): number | undefined {
    const group = this.#groupOf.get(item);
    if (!group || group.nodes.size === 0) return undefined;
    let ahead = 0;
    for (const other of group.sharesWith) ahead += countBefore(other.members, item.tag);
    return ahead + 1;
  }

  /** The next task in service order that the same nodes can run (of the task's group), if any. */
  nextInGroup(item: T): T | undefined {
    const group = this.#groupOf.get(item);
    if (!group) return undefined;
    const at = countBefore(group.members, item.tag);
    return group.members[at] === item ? group.members[at + 1] : undefined;
  }

  #groupFor(nodes: readonly number[]): Group<T> {
    let key = this.#keys.get(nodes);
    if (key === undefined) this.#keys.set(nodes, (key = [...nodes].sort((a, b) => a - b).join(',')));
    const known = this.#groups.get(key);
    if (known) return known;
    const group: Group<T> = { nodes: new Set(nodes), members: [], sharesWith: [] };
    if (group.nodes.size > 0) {
      for (const other of this.#groups.values()) {
        if (![...other.nodes].some((n) => group.nodes.has(n))) continue;
        other.sharesWith.push(group);
        group.sharesWith.push(other);
      }
      group.sharesWith.push(group);
    }
    this.#groups.set(key, group);
    return group;
  }
}

/** How many of `members` (in service order) are served before a task tagged `tag`. */
function countBefore<T extends { tag: FairTag }>(members: readonly T[], tag: FairTag): number {
  let low = 0;
  let high = members.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareTags(members[mid]!.tag, tag) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
