/**
 * @module webhooks/webhook-outbox
 *
 * Where webhooks wait and are sent from. A submit with a webhook records its
 * delivery with the task, in the same write (store/task-store.ts `endWebhook`);
 * when the task ends the delivery becomes due and
 * is POSTed, signed with the owner's webhook secret (signature.ts), to the
 * address its URL resolves to then (address-policy.ts). A try that fails (no
 * answer, or not 2xx) is tried again after 5 s, 5 min, 30 min, 2 h, 5 h and
 * 10 h, so for 17½ h (within the default 24 h a finished task is kept), then
 * given up; each try is in the owner's
 * delivery log. Deliveries are durable: after a restart, due ones go out and
 * tasks that ended meanwhile get theirs. Each try goes on its own, up to 32 at
 * once and a few per API key, so that one key's receivers that never answer
 * (each try waits 10 s) hold up no other key's webhooks.
 *
 * Progress webhooks (an owner that asked for `progress` events) are a courtesy:
 * sent as the task starts and progresses, at most one every 2 s, tried once, not logged.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, Timer } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Delivery, DeliveryStore } from './delivery-store.js';
import { signWebhook } from './signature.js';
import { sendWebhook, type TryResult } from './webhook-sender.js';

/** Waits after the 1st, 2nd, … failed try; after the last, the delivery is given up. */
export const RETRY_DELAYS_MS: readonly number[] = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000];

/** A new delivery's id, the `webhook-id` header: `msg_` and 32 hex digits. */
export function newDeliveryId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/** What a webhook says: its event type and the task's status document. */
export interface WebhookEvent {
  type: string;
  data: unknown;
}

export interface WebhookOutboxOptions {
  store: DeliveryStore;
  clock: Clock;
  log: Logger;
  /**
   * The event a task's end makes (its final status document), null if the task is gone, or 'unfinished'
   * when the task turns out not to have ended (a gateway that crashed before storing the end: the task
   * runs again, and its delivery waits for the new end).
   */
  endEventOf(taskId: string): Promise<WebhookEvent | null | 'unfinished'>;
  /** The owner's webhook secret, or null (a key revoked or gone: its webhooks stop). */
  secretOf(owner: string): string | null;
  /** Let webhooks reach private and local addresses (`--webhook-allow-private`). */
  allowPrivate: boolean;
  /** One try's time limit. @defaultValue 10 s */
  timeoutMs?: number;
  /** The JSON of an event, as sent (images held as bytes are written out). */
  serialize(event: WebhookEvent & { timestamp: string }): Buffer;
  retryDelaysMs?: readonly number[];
  /** Told each end delivery's try (metrics). */
  tried?: (result: 'delivered' | 'retry' | 'failed') => void;
}

/** End deliveries on their way at once, over every owner. */
const MAX_IN_FLIGHT = 32;
/**
 * End deliveries of one owner (API key) on their way at once (fetched at most this many at a time, so up to
 * twice as many for a moment): an owner whose receivers never answer holds a few of the slots, never all.
 */
const PER_OWNER = 4;
const PROGRESS_EVERY_MS = 2_000;
/** Progress posts on their way at once, over every task, and of one owner: beyond, progress posts are skipped (courtesy). */
const MAX_PROGRESS_IN_FLIGHT = 64;
const MAX_PROGRESS_PER_OWNER = 8;
/** First rest of the pump after the store failed to record a try; doubles up to the second. */
const FIRST_STORE_BACKOFF_MS = 1_000;
const MAX_STORE_BACKOFF_MS = 30_000;

export class WebhookOutbox {
  readonly #options: WebhookOutboxOptions;
  readonly #delays: readonly number[];
  #timer: Timer | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #closed = false;
  /** Tasks whose end delivery waits for their end (from submit, or found waiting at start). */
  readonly #awaited = new Set<string>();
  /** Last progress webhook per task (throttle). */
  readonly #progressSentAt = new Map<string, number>();
  #progressInFlight = 0;
  readonly #progressByOwner = new Map<string, number>();
  /** End deliveries on their way, by id: their owners. */
  readonly #sending = new Map<string, string>();
  readonly #sends = new Set<Promise<void>>();
  /** After the store failed to take a try's outcome: no delivery starts before `#restingUntil`. */
  #storeBackoffMs = 0;
  #restingUntil = 0;
  /** Aborted on close: tries in flight end at once. */
  readonly #closing = new AbortController();

  constructor(options: WebhookOutboxOptions) {
    this.#options = options;
    this.#delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  }

  /** After a restart: what waited on tasks that ended meanwhile becomes due; sending starts. */
  async start(): Promise<void> {
    for (const taskId of await this.#options.store.resume(this.#options.clock.now())) this.#awaited.add(taskId);
    this.kick();
  }

  /**
   * A task whose end delivery is being stored with it: its end will make the delivery due. Told before
   * the task is submitted, so that no end can come first.
   */
  expectEnd(taskId: string): void {
    this.#awaited.add(taskId);
  }

  /** A task expected (expectEnd) that was not stored after all. */
  forgetEnd(taskId: string): void {
    this.#awaited.delete(taskId);
  }

  /**
   * The task ended: its deliveries go out now. Only a task with an end delivery costs a store write:
   * at hundreds of results a second, a write per task to find none was a tenth of the long stretches
   * of the gateway's event loop (bench:fleet, 1,000 nodes).
   */
  async taskEnded(taskId: string): Promise<void> {
    this.#progressSentAt.delete(taskId);
    if (!this.#awaited.delete(taskId)) return;
    await this.#options.store.taskEnded(taskId, this.#options.clock.now());
    this.kick();
  }

  /** A progress webhook for `taskId`, at most one every 2 s; tried once; skipped while too many are on their way. */
  progress(taskId: string, owner: string, url: string, data: unknown): void {
    const now = this.#options.clock.now();
    if (now - (this.#progressSentAt.get(taskId) ?? -Infinity) < PROGRESS_EVERY_MS || this.#progressInFlight >= MAX_PROGRESS_IN_FLIGHT) return;
    const ownersInFlight = this.#progressByOwner.get(owner) ?? 0;
    if (ownersInFlight >= MAX_PROGRESS_PER_OWNER) return;
    this.#progressSentAt.set(taskId, now);
    const secret = this.#options.secretOf(owner);
    if (secret === null) return;
    this.#progressInFlight += 1;
    this.#progressByOwner.set(owner, ownersInFlight + 1);
    void this.#send(secret, newDeliveryId(), url, { type: 'task.progress', data }).finally(() => {
      this.#progressInFlight -= 1;
      const left = (this.#progressByOwner.get(owner) ?? 1) - 1;
      if (left > 0) this.#progressByOwner.set(owner, left);
      else this.#progressByOwner.delete(owner);
    });
  }

  /** Sends what is due, now (coalesced with a pass under way). */
  kick(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((error: unknown) => {
        // The store did not say what is due (away, or busy): tried again after a rest, not only at the next kick,
        // which an idle gateway may never have.
        this.#rest();
        this.#options.log.error({ err: error, retryInMs: this.#storeBackoffMs }, 'webhook deliveries failed to run');
        this.#schedule(this.#restingUntil);
      })
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  /**
   * Starts what is due, while there is room: each delivery on its way on its own (one that waits 10 s for a
   * receiver holds up no other), at most `PER_OWNER` of one owner fetched at a time, none of an owner that has
   * as many on their way. A delivery that ends makes room and starts the pump again.
   */
  async #pump(): Promise<void> {
    const { store, clock } = this.#options;
    for (;;) {
      // A rest begun meanwhile (a try's outcome not stored) holds the rest of this pass too.
      if (clock.now() < this.#restingUntil) return this.#schedule(this.#restingUntil);
      const room = MAX_IN_FLIGHT - this.#sending.size;
      if (room <= 0 || this.#closed) return;
      const due = await store.due(clock.now(), room, { perOwner: PER_OWNER, ...this.#skipped() });
      if (due.length === 0 || this.#closed) break;
      for (const delivery of due) this.#start(delivery);
    }
    this.#schedule(await store.nextDueAt(this.#skipped()));
  }

  /**
   * No delivery starts for a while: 1 s, doubling to 30 s while the store keeps failing. Doubled once per rest,
   * not once per failure: the 32 deliveries on their way when the store went away fail together.
   */
  #rest(): void {
    const now = this.#options.clock.now();
    if (now < this.#restingUntil) return;
    this.#storeBackoffMs = Math.min(MAX_STORE_BACKOFF_MS, Math.max(FIRST_STORE_BACKOFF_MS, 2 * this.#storeBackoffMs));
    this.#restingUntil = now + this.#storeBackoffMs;
  }

  /** What the store is not to hand out now: deliveries on their way, and the owners that have as many on their way as they may. */
  #skipped(): { skipOwners: string[]; skipIds: string[] } {
    const counts = new Map<string, number>();
    for (const owner of this.#sending.values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    return { skipOwners: [...counts].filter(([, n]) => n >= PER_OWNER).map(([owner]) => owner), skipIds: [...this.#sending.keys()] };
  }

  #start(delivery: Delivery): void {
    this.#sending.set(delivery.id, delivery.owner);
    const send = this.#deliver(delivery)
      .then(
        () => {
          this.#storeBackoffMs = 0;
        },
        (error: unknown) => {
          // The store did not take its outcome (the disk full, the database away): the delivery is still due, and
          // the pump would hand it out again at once. It rests, longer each time, as the store recovers.
          this.#rest();
          this.#options.log.error({ err: error, webhook: delivery.id, retryInMs: this.#storeBackoffMs }, 'webhook delivery failed to run');
        },
      )
      .finally(() => {
        this.#sending.delete(delivery.id);
        this.#sends.delete(send);
        this.kick();
      });
    this.#sends.add(send);
  }

  /** One try of an end delivery, and its outcome recorded. */
  async #deliver(delivery: Delivery): Promise<void> {
    const { store, clock } = this.#options;
    const secret = this.#options.secretOf(delivery.owner);
    const event = secret === null ? null : await this.#options.endEventOf(delivery.taskId);
    if (event === 'unfinished') {
      this.#awaited.add(delivery.taskId);
      return store.waitAgain(delivery.id);
    }
    let result: TryResult;
    if (secret === null) result = { ok: false, status: null, error: 'no webhook secret: the API key was revoked' };
    else if (event === null) result = { ok: false, status: null, error: 'the task is gone from the store (past its retention)' };
    else result = await this.#send(secret, delivery.id, delivery.url, event);
    // Nothing will change for a revoked key or a task gone: given up at once.
    const giveUp = secret === null || event === null || delivery.attempts + 1 > this.#delays.length;
    const nextAt = result.ok || giveUp ? null : clock.now() + this.#delays[delivery.attempts]!;
    await store.recordTry(delivery.id, { ...result, nextAt, at: clock.now() });
    this.#options.tried?.(result.ok ? 'delivered' : nextAt === null ? 'failed' : 'retry');
    if (!result.ok) this.#options.log.info({ task: delivery.taskId, key: delivery.owner, webhook: delivery.id, attempt: delivery.attempts + 1, error: result.error, retryAt: nextAt }, 'webhook not delivered');
  }

  #schedule(at: number | null): void {
    this.#timer?.cancel();
    this.#timer = null;
    if (at === null || this.#closed) return;
    this.#timer = this.#options.clock.setTimeout(() => this.kick(), Math.max(0, at - this.#options.clock.now()));
  }

  #send(secret: string, id: string, url: string, event: WebhookEvent): Promise<TryResult> {
    const now = this.#options.clock.now();
    const body = this.#options.serialize({ ...event, timestamp: new Date(now).toISOString() });
    const headers = signWebhook(secret, id, now / 1000, body);
    return sendWebhook(url, { ...headers }, body, {
      allowPrivate: this.#options.allowPrivate,
      signal: this.#closing.signal,
      ...(this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs }),
    });
  }

  /** Stops sending; deliveries not yet made stay in the store for the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#closing.abort();
    await this.#pumping;
    await Promise.allSettled(this.#sends);
  }
}
