/**
 * @module webhooks/delivery-store
 *
 * The storage port of webhook deliveries (migration 0006): durable, so that a
 * delivery survives a gateway restart and retries go on for a day. A delivery
 * is made with its task, in the task store's insert (`NewTask.endWebhook`).
 */

export type DeliveryState = 'waiting' | 'pending' | 'delivered' | 'failed';

export interface Delivery {
  /** `msg_…`: the `webhook-id` header, the same on every try. */
  id: string;
  owner: string;
  taskId: string;
  url: string;
  state: DeliveryState;
  attempts: number;
  nextAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  finishedAt: number | null;
}

/** How the due deliveries are shared among owners, so that one owner's slow receivers cannot hold up the others'. */
export interface DueShare {
  perOwner: number;
  skipOwners: readonly string[];
  skipIds: readonly string[];
}

/**
 * How many of the soonest due deliveries `due` shares out among their owners: a few times what it hands out,
 * so that several owners are seen, and never the whole backlog (sorting thousands at each pass).
 */
export function dueSlice(limit: number): number {
  return limit * 8;
}

export interface DeliveryStore {
  /** The task ended: its waiting deliveries are due now. */
  taskEnded(taskId: string, now: number): Promise<void>;
  /**
   * After a restart: waiting deliveries of tasks that ended meanwhile become due, and those whose
   * task is gone fail. Answers the tasks whose deliveries still wait for their end.
   */
  resume(now: number): Promise<string[]>;
  /**
   * Pending deliveries due by `now`, soonest first, at most `share.perOwner` of any one owner, none of
   * `share.skipOwners` (those with as many on their way as they may have) or of `share.skipIds` (on their way
   * now). Where several gateways share the store, each is handed to one of them (claimed for a while), so
   * that it is sent once.
   */
  due(now: number, limit: number, share: DueShare): Promise<Delivery[]>;
  /** The earliest `nextAt` of a pending delivery, if any, not counting those `skip` leaves out. */
  nextDueAt(skip: Omit<DueShare, 'perOwner'>): Promise<number | null>;
  /** A try's outcome: delivered, tried again at `nextAt`, or failed for good (`nextAt` null and not ok). */
  recordTry(id: string, result: { ok: boolean; status: number | null; error: string | null; nextAt: number | null; at: number }): Promise<void>;
  /** A due delivery whose task turned out unfinished: waiting again, no try counted. */
  waitAgain(id: string): Promise<void>;
  /** The owner's deliveries, newest first. */
  listFor(owner: string, limit: number): Promise<Delivery[]>;
  /** Forgets finished deliveries that finished before `at`. */
  deleteFinishedBefore(at: number): Promise<number>;
}
