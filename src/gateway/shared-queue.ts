/**
 * @module gateway/shared-queue
 *
 * This gateway's copy of the queue where gateways share one store
 * (docs/decisions/0015). Each gateway holds the whole network's queue and
 * sends to its own nodes only; the others' news keeps the copy current: a task
 * stored or put back elsewhere joins the queue here (`adopt`), one started by
 * another gateway leaves it, held as running elsewhere (`startedElsewhere`),
 * one ended elsewhere leaves the gateway (`endedElsewhere`). News may come
 * late, or be missed while the connection that hears it is down: `resync`
 * reads the store again, `reconcile` brings one task in line with its row, and
 * `requeueOrphans` puts back rows that say running here where nothing runs.
 *
 * It also answers for the other gateways' side of a task here: whether one of
 * their nodes could run it (so it is not unservable here), and its progress
 * while it runs there, asked for only when a client here wants it.
 */
import type { GenerationSpec } from '../domain/spec.js';
import type { StoredTask } from '../store/task-store.js';
import { SECOND } from '../util/clock.js';
import type { DispatcherInternals, TaskEntry } from './dispatcher-types.js';
import type { TaskOutcome } from './outcome-book.js';

/** How long whether another gateway's node could run a task is taken as known, for its status message. */
const ELSEWHERE_LOOK_MS = 5 * SECOND;
/** How often a read or write the store could not do is tried again (a task's place in line with the row, a take-over). */
export const RECONCILE_RETRY_MS = 5 * SECOND;

type Internals = Pick<
  DispatcherInternals,
  | 'scheduler' | 'store' | 'log' | 'shared' | 'entries' | 'outcomes' | 'closing' | 'enqueue' | 'reserve' | 'toEntry' | 'drop'
  | 'changed' | 'watched' | 'watch' | 'schedule' | 'passSoon' | 'abandon' | 'later' | 'guard' | 'takingOver'
>;

export class SharedQueue {
  readonly #dispatcher: Internals;
  /** `servableElsewhere`'s answers by spec (a task's, kept while it is). */
  readonly #elsewhereLooks = new WeakMap<GenerationSpec, { at: number; servable: boolean }>();
  /** Tasks being read after another gateway's notice (`adopt`): notices that overlap read once. */
  readonly #adopting = new Set<string>();
  /** Tasks the last `requeueOrphans` found running in the store with no such attempt here, and that attempt. */
  #orphansSeen = new Map<string, number>();
  /** Counts news of tasks (a submit, another gateway's notice): `resync` leaves alone what changed while it read. */
  #newsCount = 0;
  readonly #newsOf = new Map<string, number>();

  constructor(dispatcher: Internals) {
    this.#dispatcher = dispatcher;
  }

  /**
   * Whether another gateway's node could run `spec`, looked at once every 5 s per task: asked on status polls,
   * it binds the spec to every node of the other gateways.
   */
  servableElsewhere(spec: GenerationSpec, now: number): boolean {
    const shared = this.#dispatcher.shared;
    if (!shared) return false;
    const known = this.#elsewhereLooks.get(spec);
    if (known && now - known.at < ELSEWHERE_LOOK_MS) return known.servable;
    const servable = shared.servableElsewhere(spec);
    this.#elsewhereLooks.set(spec, { at: now, servable });
    return servable;
  }

  /**
   * Another gateway sharing the store stored a task, or put one back in the queue: it joins this
   * gateway's queue (positions, fair order and budgets are the network's) and its nodes may run it.
   */
  async adopt(taskId: string, task?: Pick<TaskEntry, 'kind' | 'owner' | 'createdAt' | 'spec' | 'weight'>): Promise<void> {
    const held = this.#dispatcher.entries.get(taskId);
    if (held?.elsewhere) {
      this.touch(taskId);
      this.#queueHere(held);
      return;
    }
    // Ended here, its outcome not written yet (the database away): the row still says unfinished, but it is not.
    if (held || this.#adopting.has(taskId) || this.#dispatcher.closing() || this.#dispatcher.outcomes.recent(taskId)) return;
    this.touch(taskId);
    if (task) {
      // A new task, as its notice told it: queued, attempt 0, no read needed.
      this.#dispatcher.reserve(task.owner);
      this.#dispatcher.enqueue({ id: taskId, kind: task.kind, spec: task.spec, owner: task.owner, weight: task.weight, createdAt: task.createdAt, attempts: 0, failures: [] });
      void this.#dispatcher.passSoon();
      return;
    }
    this.#adopting.add(taskId);
    try {
      const record = await this.#dispatcher.store.get(taskId);
      if (!record?.spec || this.#dispatcher.entries.has(taskId) || this.#dispatcher.outcomes.recent(taskId) || (record.state !== 'queued' && record.state !== 'running')) return;
      // Running, on a gateway alive or gone (the leader's reclaim puts it back, with news): held as elsewhere. One
      // that names no gateway (a database of version 1) is put back by the gateway that recovers it, with news.
      if (record.state === 'running' && (record.runningOn === null || record.runningOn === undefined)) return;
      this.#dispatcher.reserve(record.owner);
      const entry = this.#dispatcher.toEntry(record, record.spec);
      if (record.state === 'running') {
        this.#dispatcher.entries.set(taskId, { ...entry, elsewhere: { attempt: record.attempts } });
        return;
      }
      this.#dispatcher.enqueue(entry);
      void this.#dispatcher.passSoon();
    } finally {
      this.#adopting.delete(taskId);
    }
  }

  /**
   * Another gateway started attempt `attempt` of a task on its node, or took it over (`moved`: its node brought
   * it there, TaskStore.takeOver): it leaves this gateway's queue, and an attempt of it here is let go.
   */
  startedElsewhere(taskId: string, attempt: number, how: { moved?: boolean } = {}): void {
    const entry = this.#dispatcher.entries.get(taskId);
    if (!entry) return;
    this.touch(taskId);
    entry.attempts = Math.max(entry.attempts, attempt);
    const running = this.#dispatcher.scheduler.attempts.get(taskId);
    // Started here as this attempt or a later one: the other's start lost the race. Moved, the same attempt is not ours any more.
    if (running && (running.attempt > attempt || (running.attempt === attempt && how.moved !== true))) return;
    if (running) this.#dispatcher.abandon(running, 'the task runs on another node now');
    else this.#dispatcher.scheduler.remove(taskId);
    entry.elsewhere = { attempt };
    if (this.#dispatcher.watched(taskId)) this.wantProgress(taskId, entry.elsewhere);
    this.#dispatcher.changed(taskId);
  }

  /**
   * Resolves once the gateway whose node runs `taskId` has told where it stands (its answer to the first ask,
   * `wantProgress`), or after `ms`; at once for a task not running elsewhere, or whose progress is known. A
   * status answer waits for it, so that the first one says the progress, not 0. Real time, not the clock's:
   * a short wait for a reply, not a rule of the task's life. Once per attempt: when that gateway is hung (or
   * its node silent), a client polling here is not held `ms` at every poll; later polls share the first wait.
   */
  progressFromElsewhere(taskId: string, ms: number): Promise<void> {
    const elsewhere = this.#dispatcher.entries.get(taskId)?.elsewhere;
    if (!elsewhere || elsewhere.progress) return Promise.resolve();
    elsewhere.firstWord ??= new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop();
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      const stop = this.#dispatcher.watch(taskId, done);
    });
    return elsewhere.firstWord;
  }

  /** Progress another gateway told of attempt `attempt` of a task its node runs (asked for by `wantProgress`). */
  progressElsewhere(taskId: string, attempt: number, progress: number, etaSeconds: number | null): void {
    const elsewhere = this.#dispatcher.entries.get(taskId)?.elsewhere;
    if (elsewhere?.attempt !== attempt) return;
    elsewhere.progress = { value: progress, etaSeconds };
    this.#dispatcher.changed(taskId);
  }

  /** Once per attempt running elsewhere that a client here follows or asks about. */
  wantProgress(taskId: string, elsewhere: NonNullable<TaskEntry['elsewhere']>): void {
    if (elsewhere.wanted) return;
    elsewhere.wanted = true;
    this.#dispatcher.shared?.wantProgress(taskId);
  }

  /**
   * A task ended through another gateway (its node's result, a failure, a cancel sent there): it leaves
   * this gateway, an attempt of it here is stopped, and sync requests waiting here are answered from the store.
   */
  async endedElsewhere(taskId: string): Promise<void> {
    this.touch(taskId);
    const running = this.#dispatcher.scheduler.attempts.get(taskId);
    if (running) this.#dispatcher.abandon(running, 'the task ended on another gateway');
    else this.#dispatcher.scheduler.remove(taskId);
    this.#dispatcher.drop(taskId);
    // Live streams and the freed slot first: they need no read, and a read that fails must not hold them back.
    this.#dispatcher.changed(taskId);
    if (running) this.#dispatcher.schedule();
    if (!this.#dispatcher.outcomes.hasWaiters(taskId)) return;
    try {
      const record = await this.#dispatcher.store.get(taskId);
      const outcome = record ? outcomeOf(record) : null;
      if (outcome) this.#dispatcher.outcomes.tell(outcome);
    } catch (error) {
      // The sync requests waiting for it answer at their timeout, with the task's id to poll.
      this.#dispatcher.log.warn({ task: taskId, err: error }, 'could not read the outcome of a task that ended through another gateway, for the requests waiting for it here');
    }
  }

  /**
   * Rows the store holds as running on this gateway's nodes that run no such attempt: a start written
   * with its insert whose commit this gateway stopped waiting for (the database slow or cut off: the
   * submit was answered 503, the row stayed), or left by a bug. Nobody would ever end them, and other
   * gateways leave a live gateway's running tasks alone. A row found so at two calls in a row (a start
   * or an end in flight between them is not one) goes back to the queue at its attempt, and runs.
   * Called every minute (gateway.ts).
   */
  async requeueOrphans(): Promise<number> {
    const suspects = new Map<string, number>();
    let requeued = 0;
    for (const row of await this.#dispatcher.store.listRunningHere()) {
      // Any attempt of it here (this one, or a later one whose start is being written) is the row in motion.
      if (this.#dispatcher.scheduler.attempts.get(row.id) || this.#dispatcher.outcomes.recent(row.id) || this.#adopting.has(row.id)) continue;
      if (this.#orphansSeen.get(row.id) !== row.attempts) {
        suspects.set(row.id, row.attempts);
        continue;
      }
      if (!(await this.#dispatcher.store.requeue(row.id, row.attempts))) continue;
      requeued += 1;
      this.#dispatcher.log.warn({ task: row.id, attempt: row.attempts }, 'the store held the task as running here, where no such attempt runs; back in the queue');
      const held = this.#dispatcher.entries.get(row.id);
      // Held as running on another gateway's node (the row named it once), it is queued here now too.
      if (held) this.#queueHere(held);
      else await this.adopt(row.id);
    }
    this.#orphansSeen = suspects;
    return requeued;
  }

  /**
   * News from the other gateways may have been missed (the connection that hears it was lost): the
   * store's unfinished tasks are read again; those this gateway held that ended meanwhile leave.
   */
  async resync(): Promise<void> {
    // What changes while the store is read (a submit here, news heard) is newer than what the read says: left alone.
    const readAt = this.#newsCount;
    const held = new Set(this.#dispatcher.entries.keys());
    const unfinished = new Map((await this.#dispatcher.store.listUnfinished()).map((record) => [record.id, record]));
    const stale = (id: string) => (this.#newsOf.get(id) ?? 0) > readAt;
    // A task being stored here may not be in what was read: it is news (`submit` touches it), and never ended elsewhere.
    for (const id of held) if (!unfinished.has(id) && !this.#dispatcher.outcomes.recent(id) && !stale(id) && !this.#dispatcher.entries.get(id)?.unsaved) await this.endedElsewhere(id);
    for (const record of unfinished.values()) {
      if (stale(record.id)) continue;
      const entry = this.#dispatcher.entries.get(record.id);
      if (!entry || (record.state === 'queued' && entry.elsewhere)) await this.adopt(record.id);
      else if (record.state === 'running' && record.attempts > entry.attempts) this.startedElsewhere(record.id, record.attempts);
      // Taken over by another gateway at the attempt this one holds (a `moved` notice missed): its attempt here,
      // or its place in the queue here, is let go. Not while this gateway's own take-over of it is being written.
      else if (record.state === 'running' && !entry.elsewhere && !this.#dispatcher.takingOver(record.id) && this.#dispatcher.shared?.runsElsewhere(record)) {
        const here = this.#dispatcher.scheduler.attempts.get(record.id);
        if (!here || here.attempt === record.attempts) this.startedElsewhere(record.id, record.attempts, { moved: true });
      }
    }
  }

  /** News of a task (a submit here, a take-over, another gateway's notice): `resync` leaves it alone if it came while it read. */
  touch(taskId: string): void {
    this.#newsOf.set(taskId, ++this.#newsCount);
    // Kept small: only news newer than a read under way matters.
    if (this.#newsOf.size > 10_000) this.#newsOf.clear();
  }

  /**
   * `reconcile`, tried again every few seconds while the store cannot say (a database blip): a task held as
   * running elsewhere whose row is queued would otherwise wait for a resync that may never come.
   */
  reconcileSurely(taskId: string): void {
    this.#dispatcher.guard(
      this.reconcile(taskId).catch((error: unknown) => {
        this.#dispatcher.log.warn({ task: taskId, err: error }, 'could not read the task to bring it in line with the store; trying again');
        this.#dispatcher.later(RECONCILE_RETRY_MS, () => {
          if (this.#dispatcher.entries.has(taskId) && !this.#dispatcher.closing()) this.reconcileSurely(taskId);
        });
      }),
    );
  }

  /** Brings a task this gateway holds in line with the store, where news of it may have come late or not at all. */
  async reconcile(taskId: string): Promise<void> {
    const record = await this.#dispatcher.store.get(taskId);
    if (!record || (record.state !== 'queued' && record.state !== 'running')) await this.endedElsewhere(taskId);
    else if (record.state === 'running' && this.#dispatcher.shared?.startedHere?.(record) === true && !this.#dispatcher.scheduler.attempts.get(taskId)) await this.#takeBackOwn(taskId, record.attempts);
    else if (record.state === 'running') this.startedElsewhere(taskId, record.attempts);
    else await this.adopt(taskId);
  }

  /**
   * A row of this gateway's own says running at `attempt`, and no attempt of the task runs here: its start
   * landed after the attempt had ended here (a task held ready put back while the write was under way, its
   * requeue refused for the row it had not reached yet), or its requeue was not written. No other gateway
   * ends a live gateway's row, so held as running elsewhere it waited for good (a shared-queue e2e run: two
   * tasks of 512 never ended). Back in the queue here, the row too.
   */
  async #takeBackOwn(taskId: string, attempt: number): Promise<void> {
    if (!(await this.#dispatcher.store.requeue(taskId, attempt))) {
      // The row moved on between its read and this write: read again in a while (not at once: a refusal that
      // lasted would loop).
      this.#dispatcher.later(RECONCILE_RETRY_MS, () => {
        if (this.#dispatcher.entries.has(taskId) && !this.#dispatcher.closing()) this.reconcileSurely(taskId);
      });
      return;
    }
    const entry = this.#dispatcher.entries.get(taskId);
    if (entry) this.#queueHere(entry);
  }

  /** A task this gateway holds is queued here (no longer running elsewhere), unless it is queued or runs here already. */
  #queueHere(entry: TaskEntry): void {
    delete entry.elsewhere;
    const { scheduler } = this.#dispatcher;
    if (scheduler.position(entry.id) === undefined && !scheduler.attempts.get(entry.id)) this.#dispatcher.enqueue(entry);
    this.#dispatcher.changed(entry.id);
    void this.#dispatcher.passSoon();
  }
}

/** A finished task's outcome as waiters receive it; null for one not finished. */
function outcomeOf(record: StoredTask): TaskOutcome | null {
  const owner = record.owner;
  if (record.state === 'succeeded' && record.result) return { id: record.id, owner, state: 'succeeded', result: record.result };
  if ((record.state === 'failed' || record.state === 'cancelled') && record.error) return { id: record.id, owner, state: record.state, error: record.error };
  return null;
}
