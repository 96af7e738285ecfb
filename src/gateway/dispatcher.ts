/**
 * @module gateway/dispatcher
 *
 * Moves tasks through their life (see domain/task.ts). It owns the I/O around
 * the scheduling core (scheduler/scheduler.ts): it feeds it node views and
 * events, sends the assignments it returns, and settles each attempt through
 * it, exactly once: result, failure, node lost, timeout or cancel. Which
 * attempt runs where is the core's attempt ledger; the store is the durable
 * copy of the tasks; the queue lives in the core.
 *
 * This file holds the tasks (submit, recover, status, cancel, their end) and
 * runs the scheduling passes; it is the one API the rest of the gateway calls.
 * Its other parts are files of their own, each lent only what it uses of the
 * dispatcher's state and steps (dispatcher-types.ts `DispatcherInternals`):
 * the attempts on this gateway's nodes, from start to end (node-attempts.ts);
 * nodes whose connection drops and that come back (node-returns.ts); the queue
 * shared with other gateways (shared-queue.ts); idle nodes sent work when no
 * event would (idle-recheck.ts).
 *
 * - A retryable failure puts the task back at its place in the queue, to be
 *   tried on another node where one can serve it; after `maxAttempts` failed
 *   attempts the task fails with every attempt's reason. A task that fails the
 *   same way on two nodes fails at once: it is the task's fault, not theirs
 *   (gateway/attempt-failures.ts).
 * - A node that keeps failing is set aside for a while (scheduler/node-health.ts).
 * - A queued task that no connected node can serve any more says so in its
 *   status, and fails after `unservableGraceMs` unless a node that can serve it
 *   (re)connects.
 * - Each attempt's timeout follows from the task's cost and the node's measured
 *   speed, within `taskTimeoutMs`.
 * - The store may fail (disk full): a task whose start cannot be recorded goes
 *   back to the queue, blamed on nobody, and starts are tried again later;
 *   outcomes are kept in memory until their write lands (outcome-book.ts).
 * - Every time a slot frees or the queue changes, a scheduling pass follows.
 */
import type { GenerationSpec } from '../domain/spec.js';
import type { TaskError } from '../domain/task.js';
import { DanError } from '../errors/dan-error.js';
import { nodeNameOf } from '../network/node-hub.js';
import type { NodeSession } from '../network/node-session.js';
import type { Progress } from '../protocol/messages.js';
import { isHeld } from '../scheduler/attempt-ledger.js';
import { Scheduler, type SchedulerNode } from '../scheduler/scheduler.js';
import type { StoredTask } from '../store/task-store.js';
import { type Clock, SECOND, type Timer } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { DispatcherInternals, DispatcherOptions, LivePreview, LiveStatus, SubmittedTask, TaskEntry } from './dispatcher-types.js';
import { IdleRecheck } from './idle-recheck.js';
import { NodeAttempts } from './node-attempts.js';
import { NodeReturns } from './node-returns.js';
import { OutcomeBook, type TaskOutcome } from './outcome-book.js';
import { PassPacing } from './pass-pacing.js';
import { SharedQueue } from './shared-queue.js';
import { StartRetry } from './start-retry.js';
import { UnservableWatch } from './unservable-watch.js';
import { idleNodesMessage } from './servability.js';
import type { Static } from '@sinclair/typebox';

export type { DispatcherObserver, DispatcherOptions, LiveStatus, SubmittedTask, TaskEntry } from './dispatcher-types.js';
export type { TaskOutcome } from './outcome-book.js';

export class Dispatcher {
  readonly scheduler: Scheduler;
  readonly #entries = new Map<string, TaskEntry>();
  /** Unfinished tasks per owner, for their budgets. */
  readonly #perOwner = new Map<string, number>();
  readonly #outcomes: OutcomeBook;
  readonly #options: DispatcherOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #unservable: UnservableWatch;
  /** `#idleReachReason`'s messages by the scheduler's array of idle nodes. */
  readonly #idleWording = new WeakMap<readonly SchedulerNode[], string>();
  readonly #startRetry: StartRetry;
  readonly #timers = new Set<Timer>();
  /** The parts of the dispatcher in files of their own; each is lent the internals it uses (`#internals`). */
  readonly #attempts: NodeAttempts;
  readonly #returns: NodeReturns;
  readonly #sharedQueue: SharedQueue;
  readonly #idle: IdleRecheck;
  /** Set by `close()`: no new starts, and nodes that go are not failures. */
  #closing = false;
  /**
   * The pass asked for and not run yet (`#passSoon`): `settled` once it has run; `timer` while it waits for its
   * turn in a large fleet (pass-pacing.ts), else it is due at the end of this turn of the event loop.
   */
  #passDue: { settled: Promise<void>; resolve: () => void; timer: NodeJS.Timeout | undefined } | null = null;
  /** When that pass may run, in a large fleet. */
  readonly #pacing: PassPacing;
  /** Tasks submitted since the last pass: their dispatch is timed if that pass sends them (`overhead`). */
  #fresh: TaskEntry[] = [];
  /** Who follows which task's changes (`watch`): live streams. Empty for a task nobody follows. */
  readonly #watchers = new Map<string, Set<() => void>>();
  /** The latest live preview of each running task someone follows (kept only then: previews are tens of KiB). */
  readonly #previews = new Map<string, LivePreview>();
  #previewSeq = 0;

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#pacing = options.pacing ?? new PassPacing();
    // A long queue's ETA plan is made again between other events, not in one go (tens of ms at 1,000 nodes).
    this.scheduler = options.scheduler ?? new Scheduler({ clock: options.clock, later: (work) => setImmediate(work), ...(options.familyOf ? { familyOf: options.familyOf } : {}) });
    this.#outcomes = new OutcomeBook({ store: options.store, log: options.log, clock: options.clock });
    this.#unservable = new UnservableWatch({ graceMs: options.unservableGraceMs, clock: options.clock, wake: () => this.#scheduleGuarded() });
    this.#startRetry = new StartRetry({ clock: options.clock, log: options.log, wake: () => this.#scheduleGuarded() });
    const internals = this.#internals();
    this.#attempts = new NodeAttempts(internals);
    this.#returns = new NodeReturns(internals);
    this.#sharedQueue = new SharedQueue(internals);
    this.#idle = new IdleRecheck(internals);
    const { hub } = options;
    hub.on('node:changed', (session) => {
      // Learned at once (the node list shows it); the pass it calls for waits for the rest of this turn (in a
      // large fleet, for its turn: pass-pacing.ts).
      this.#seedMeasured(session);
      void this.#passSoon();
    });
    hub.on('node:lost', (session, reason, mayReturn, replaced) => this.#returns.afterTakeOversOf(session, () => this.#returns.onNodeLost(session, reason, mayReturn, replaced)));
    hub.onResume((session, claims) => this.#returns.resume(session, claims));
    hub.on('task:progress', (session, message) => this.#returns.afterTakeOver(message.taskId, () => this.#onProgress(session, message)));
    hub.on('task:result', (session, message, receivedAt) => this.#returns.afterTakeOver(message.taskId, () => this.#guard(this.#attempts.onResult(session, message, receivedAt))));
    hub.on('task:failure', (session, message) => this.#returns.afterTakeOver(message.taskId, () => this.#attempts.onFailure(session, message)));
  }

  /** What the dispatcher's parts are lent of its state and its steps (dispatcher-types.ts `DispatcherInternals`). */
  #internals(): DispatcherInternals {
    const { store, hub, clock, log, shared, overhead, observer, maxAttempts, taskTimeoutMs } = this.#options;
    return {
      scheduler: this.scheduler, store, hub, clock, log, shared, overhead, observer, maxAttempts, taskTimeoutMs,
      entries: this.#entries,
      outcomes: this.#outcomes,
      unservable: this.#unservable,
      startRetry: this.#startRetry,
      closing: () => this.#closing,
      enqueue: (entry) => this.#enqueue(entry),
      reserve: (owner) => this.#reserve(owner),
      toEntry: (record, spec) => this.#toEntry(record, spec),
      drop: (taskId) => this.#drop(taskId),
      withdraw: (entry) => this.#withdraw(entry),
      about: (taskId) => this.#about(taskId),
      changed: (taskId) => this.#changed(taskId),
      watched: (taskId) => this.#watchers.has(taskId),
      watch: (taskId, listener) => this.watch(taskId, listener),
      schedule: () => this.schedule(),
      passSoon: (paced) => this.#passSoon(paced),
      scheduleGuarded: () => this.#scheduleGuarded(),
      start: (entry, session, assignment) => this.#attempts.start(entry, session, assignment),
      timeoutFor: (expectedSeconds, waitSeconds) => this.#attempts.timeoutFor(expectedSeconds, waitSeconds),
      putBack: (entry, running, why) => this.#attempts.putBack(entry, running, why),
      settleFailure: (running, error) => this.#attempts.settleFailure(running, error),
      fail: (entry, attempt, error) => this.#fail(entry, attempt, error),
      finish: (outcome, attempt, stored) => this.#finish(outcome, attempt, stored),
      requeueStored: (taskId, attempt) => this.#attempts.requeueStored(taskId, attempt),
      abandon: (running, reason) => this.#attempts.abandon(running, reason),
      later: (ms, run) => this.#later(ms, run),
      cancelLater: (timer) => this.#cancelLater(timer),
      guard: (work) => this.#guard(work),
      touch: (taskId) => this.#sharedQueue.touch(taskId),
      reconcile: (taskId) => this.#sharedQueue.reconcile(taskId),
      reconcileSurely: (taskId) => this.#sharedQueue.reconcileSurely(taskId),
      startedElsewhere: (taskId, attempt, how) => this.#sharedQueue.startedElsewhere(taskId, attempt, how),
      takingOver: (taskId) => this.#returns.takingOver(taskId),
    };
  }

  /**
   * Loads unfinished tasks after a restart. An attempt that was running waits, for the resume grace, for its
   * node to come back with it (the node ran on meanwhile); then it is requeued.
   */
  async recover(): Promise<number> {
    const unfinished = await this.#options.store.listUnfinished();
    const graceMs = this.#options.hub.resumeGraceMs;
    const away: TaskEntry[] = [];
    for (const record of unfinished) {
      if (!record.spec) {
        // Its input is gone (a payload file lost with the disk): it can never run; say so rather than leave it queued.
        this.#log.error({ task: record.id }, 'task recovered without its input; failing it');
        void this.#outcomes.announce({ id: record.id, owner: record.owner, state: 'failed', error: { id: 'DAN_ERR_INTERNAL', message: 'the task\'s input was lost from the gateway\'s storage; submit it again' } }, null);
        continue;
      }
      // Sharing the store, what runs is its gateway's, alive or gone (this one's earlier run too: a gateway is new
      // at each start; a row that names none, from a database of version 1, is put back below). A gone one's
      // attempts are the leader's to put back once its lease has passed; until then their nodes may bring them
      // to any gateway, which takes them over (node-returns.ts `#takeOver`).
      if (record.state === 'running' && this.#options.shared && record.runningOn !== null && record.runningOn !== undefined) {
        this.#reserve(record.owner);
        this.#entries.set(record.id, { ...this.#toEntry(record, record.spec), elsewhere: { attempt: record.attempts } });
        continue;
      }
      const nodeName = record.nodeId === null ? null : nodeNameOf(record.nodeId);
      if (record.state === 'running' && !this.#options.shared && graceMs > 0 && nodeName !== null) {
        this.#reserve(record.owner);
        const entry: TaskEntry = { ...this.#toEntry(record, record.spec), away: { attempt: record.attempts, nodeName, nodeIdentity: record.nodeIdentity ?? null } };
        this.#entries.set(record.id, entry);
        away.push(entry);
        continue;
      }
      if (record.state === 'running') await this.#options.store.requeue(record.id, record.attempts);
      this.#reserve(record.owner);
      this.#enqueue(this.#toEntry(record, record.spec));
    }
    if (unfinished.length > 0) this.#log.info({ tasks: unfinished.length, ...(away.length > 0 ? { waitingForTheirNodes: away.length } : {}) }, 'recovered unfinished tasks');
    this.#returns.awaitAfterRestart(away, graceMs);
    this.schedule();
    return unfinished.length;
  }

  /**
   * Checks the owner's budget, then stores a new task and queues it. Resolves once the task is durable;
   * rejects, the task gone from the queue, when the store refused it.
   */
  async submit(task: SubmittedTask): Promise<void> {
    this.#assertWithinBudget(task.owner, task.maxTasks);
    // Counted before the write: submits of one owner whose writes overlap must not all pass the check.
    this.#reserve(task.owner);
    const createdAt = this.#clock.now();
    const { receivedAt, maxTasks: _maxTasks, weight = 1, ...stored } = task;
    // Queued as it is stored, not once stored: the pass due this turn may send it, and the store then
    // writes its start with its insert (TaskStore.markRunning), one round trip to a database instead of
    // two (bench:scale). Until the insert settles it is `unsaved`: nobody has its id yet.
    // The fields set and cleared later are here from the start, and cleared by writing undefined: a field
    // deleted from the middle of an object sends it to V8's slow dictionary mode.
    const entry: TaskEntry = { ...stored, weight, createdAt, attempts: 0, failures: [], receivedAt: undefined, unsaved: undefined };
    this.#enqueue(entry);
    const slots = this.scheduler.slotsFor(entry.id, this.#clock.now());
    // Far back in a long queue, no pass sends it soon, free nodes or not: it waits for the GPUs like a task
    // whose nodes are all busy.
    const sendable = slots === 'free' && !this.scheduler.pastSendingPlan(entry.id);
    // Only a task the next pass may send is timed: one that waits, waits for a GPU, not for the gateway.
    if (receivedAt !== undefined && sendable) {
      entry.receivedAt = receivedAt;
      this.#fresh.push(entry);
    }
    // A task a free node can run is sent by the pass due this turn, before the submit answers (status
    // running, no ETA to guess): submits that arrive together share it. One whose nodes are all busy
    // changes nothing a pass would send (over a thousand nodes a pass costs milliseconds; a pass per
    // submit was most of the gateway's time); one no node can run is noted by the next pass. The pass
    // is asked for before the insert, so that a store that gathers a turn's inserts has its start first:
    // this turn's, never paced (a pass that waited for its turn came after PostgreSQL's batch of inserts,
    // and each start cost a round trip of its own).
    // A task far back in a long queue asks for a pass in its turn (paced), and does not wait for it: a flood
    // of submits ran one every turn of the event loop, a fifth of the gateway's time over a thousand nodes
    // (bench:fleet).
    let passed: Promise<void> | undefined;
    if (sendable || slots === 'none') passed = this.#passSoon(false);
    else if (slots === 'free') void this.#passSoon();
    try {
      const inserted = this.#options.store.insert({ ...stored, createdAt, weight });
      entry.unsaved = inserted.then(
        () => true,
        () => false,
      );
      await inserted;
    } catch (error) {
      this.#withdraw(entry);
      throw error;
    }
    entry.unsaved = undefined;
    // News again, now that it is stored: a resync whose read began before the commit did not see it.
    if (this.#options.shared) this.#sharedQueue.touch(entry.id);
    this.#options.observer?.submitted?.(entry.kind);
    await passed;
  }

  /** A task the store did not take leaves the queue (and its node slot, if the pass had sent it), as if never submitted. */
  #withdraw(entry: TaskEntry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    const running = this.scheduler.attempts.get(entry.id);
    if (running) this.scheduler.settle({ taskId: entry.id, attempt: running.attempt }, { ok: false }, this.#clock.now());
    else this.scheduler.remove(entry.id);
    this.#unservable.forget(entry.id);
    this.#release(entry.owner);
    entry.receivedAt = undefined;
    if (running) void this.#passSoon();
  }

  /**
   * A scheduling pass once this turn of the event loop has run what it holds: the submits, results and
   * node changes that arrive together share one pass. Over a thousand nodes a pass takes milliseconds,
   * and a pass per event (hundreds a second, each submit and each result) was most of the gateway's time.
   * In a large fleet it may wait a few milliseconds more, for its turn (pass-pacing.ts).
   * Settles when that pass has run (it never rejects: a pass's errors are logged).
   */
  #passSoon(paced = true): Promise<void> {
    let due = this.#passDue;
    if (due === null) {
      let resolve!: () => void;
      const settled = new Promise<void>((done) => (resolve = done));
      due = { settled, resolve, timer: undefined };
      this.#passDue = due;
      const wait = paced ? this.#pacing.waitMs(performance.now()) : 0;
      if (wait > 0) due.timer = setTimeout(() => this.#scheduleGuarded(), wait);
      else setImmediate(() => this.#scheduleGuarded());
    } else if (!paced && due.timer !== undefined) {
      // Waiting for its turn, and now wanted this turn.
      clearTimeout(due.timer);
      due.timer = undefined;
      setImmediate(() => this.#scheduleGuarded());
    }
    return due.settled;
  }

  #assertWithinBudget(owner: string, limit: number): void {
    const count = this.#perOwner.get(owner) ?? 0;
    if (limit <= 0 || count < limit) return;
    const who = owner.startsWith('key_') ? 'this API key already has' : 'requests from this address without an API key already have';
    throw new DanError('DAN_ERR_TASK_LIMIT', `${who} ${count} unfinished tasks, the most allowed (${limit}); wait for some to finish`);
  }

  /** Queues a task already counted against its key's budget. */
  #enqueue(entry: TaskEntry): void {
    this.#entries.set(entry.id, entry);
    this.scheduler.enqueue({ id: entry.id, owner: entry.owner ?? '', spec: entry.spec, priority: 0, weight: entry.weight }, entry.createdAt);
  }

  /** One unfinished task more for the owner's budget. */
  #reserve(owner: string | null): void {
    const key = owner ?? '';
    this.#perOwner.set(key, (this.#perOwner.get(key) ?? 0) + 1);
  }

  /**
   * What a log line about a task names: the task and its key's id ('anonymous' without one). Never the
   * key's secret, the prompt or an image: logs are read by more people than tasks are.
   */
  #about(taskId: string): { task: string; key: string | null } {
    const owner = this.#entries.get(taskId)?.owner ?? null;
    return { task: taskId, key: owner === null ? null : owner.startsWith('key_') ? owner : 'anonymous' };
  }

  /** Unfinished tasks of `owner`, counted against its budget. */
  unfinishedOf(owner: string): number {
    return this.#perOwner.get(owner) ?? 0;
  }

  /** Where an unfinished task stands, or undefined when the dispatcher does not hold it. */
  liveStatus(id: string): LiveStatus | undefined {
    const outcome = this.#outcomes.recent(id);
    if (outcome) return { state: 'finished', outcome, owner: outcome.owner ?? null };
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    const { owner } = entry;
    // Its node is expected back with it, having run on while the gateway restarted.
    if (entry.away) return { state: 'running', progress: 0, etaSeconds: null, nodeId: '', held: false, owner };
    // Its progress is known to the gateway whose node runs it, which tells it once asked.
    if (entry.elsewhere) {
      this.#sharedQueue.wantProgress(entry.id, entry.elsewhere);
      const { progress } = entry.elsewhere;
      return { state: 'running', progress: progress?.value ?? 0, etaSeconds: progress?.etaSeconds ?? null, nodeId: '', held: false, owner };
    }
    const now = this.#clock.now();
    const running = this.scheduler.attempts.get(id);
    if (running) {
      const etaSeconds = running.etaSeconds ?? this.scheduler.eta(id, now);
      return { state: 'running', progress: running.progress, etaSeconds, nodeId: running.nodeId, held: isHeld(running), owner };
    }
    const position = this.scheduler.position(id) ?? 0;
    const waiting = this.#unservable.reasonOf(id) ?? this.#idleReachReason(entry, now);
    return { state: 'queued', position, etaSeconds: this.scheduler.eta(id, now), waiting, owner };
  }

  /** Why a task waits whose nodes are all connected here and none takes work now; null if one does, or one elsewhere might. */
  #idleReachReason(entry: TaskEntry, now: number): string | null {
    const nodes = this.scheduler.idleReach(entry.id, now);
    if (!nodes || this.#sharedQueue.servableElsewhere(entry.spec, now)) return null;
    // Worded once per array the scheduler keeps for a node list (it makes a new one when their state changes).
    const known = this.#idleWording.get(nodes);
    if (known !== undefined) return known;
    const message = idleNodesMessage(
      nodes.map((node) => {
        const session = this.#options.hub.sessions.get(node.id);
        if (session && !session.backendUp) return 'webui-down';
        if (session?.draining) return 'draining';
        return this.scheduler.health.setAside(node.identity, now) ? 'set-aside' : 'leaving';
      }),
    );
    this.#idleWording.set(nodes, message);
    return message;
  }

  get queuedCount(): number {
    return this.scheduler.queuedCount;
  }

  get runningCount(): number {
    return this.scheduler.attempts.size;
  }

  /** Resolves with the outcome when the task finishes, or null after `timeoutMs` or when `signal` aborts. */
  waitFor(id: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskOutcome | null> {
    return this.#outcomes.waitFor(id, timeoutMs, signal);
  }

  /** Sends queued tasks to free node slots as the plan says. Safe to call at any time. */
  schedule(): void {
    // Any pass is the one asked for (`#passSoon`): its waiters hear that it has run, and it does not run again.
    const due = this.#passDue;
    this.#passDue = null;
    if (due?.timer !== undefined) clearTimeout(due.timer);
    try {
      if (!this.#closing) this.#timedPass();
    } finally {
      due?.resolve();
    }
  }

  #timedPass(): void {
    const began = performance.now();
    this.#pacing.began();
    let ms = 0;
    try {
      this.#pass();
    } finally {
      const ended = performance.now();
      ms = ended - began;
      this.#pacing.ran(ms, ended, this.#options.hub.sessions.size);
    }
    this.#options.observer?.passed?.(ms);
  }

  #pass(): void {
    const now = this.#clock.now();
    const sessions = [...this.#options.hub.sessions.values()];
    for (const s of sessions) this.#seedMeasured(s);
    this.scheduler.setNodes(
      sessions.map((s) => ({
        id: s.id,
        name: s.name,
        identity: s.identity,
        offering: s.offering,
        offeringVersion: s.offeringVersion,
        slots: s.slots,
        prefetch: s.prefetch,
        loadedModel: s.loadedModel,
        available: s.available,
      })),
    );
    // While the store refuses to record starts, leave the queue alone: each try would only fail again.
    if (!this.#startRetry.waiting) {
      for (const assignment of this.scheduler.assignments(now)) {
        const session = this.#options.hub.sessions.get(assignment.nodeId);
        const entry = this.#entries.get(assignment.taskId);
        if (session && entry) this.#guard(this.#attempts.start(entry, session, assignment));
      }
      this.#takeBackHeld(now);
      this.#idle.recheckWhileIdle(now);
    }
    const unservable = this.scheduler.unservable();
    if (this.#options.shared) {
      // Looked at once every few seconds per task: each pass would bind every such task to every other node.
      for (const id of [...unservable.keys()]) {
        const entry = this.#entries.get(id);
        if (entry && this.#sharedQueue.servableElsewhere(entry.spec, now)) unservable.delete(id);
      }
    }
    for (const expired of this.#unservable.watch(unservable, now)) this.#failUnservable(expired.taskId, expired.reason);
    for (const entry of this.#fresh.splice(0)) entry.receivedAt = undefined;
  }

  /** What a node measured on its own tasks (its hello and heartbeats) seeds the estimates of a node not timed here yet. */
  #seedMeasured(session: NodeSession): void {
    if (session.measured) this.scheduler.estimates.seed(session.identity, session.measured);
  }

  /**
   * Calls `listener` when the task starts on a node, reports progress, goes back to the queue or
   * ends (not on queue-position changes: every pass moves those); returns the unsubscribe. Costs
   * nothing for tasks no one watches.
   */
  watch(taskId: string, listener: () => void): () => void {
    let listeners = this.#watchers.get(taskId);
    if (!listeners) this.#watchers.set(taskId, (listeners = new Set()));
    listeners.add(listener);
    const elsewhere = this.#entries.get(taskId)?.elsewhere;
    if (elsewhere) this.#sharedQueue.wantProgress(taskId, elsewhere);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#watchers.get(taskId) === listeners) {
        this.#watchers.delete(taskId);
        this.#previews.delete(taskId);
      }
    };
  }

  /** The latest live preview of a running task someone watches. */
  previewOf(taskId: string): LivePreview | undefined {
    return this.#previews.get(taskId);
  }

  #changed(taskId: string): void {
    const listeners = this.#watchers.get(taskId);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        this.#log.error({ err: error, task: taskId }, 'task watcher failed');
      }
    }
  }

  #onProgress(session: NodeSession, message: Static<typeof Progress>): void {
    if (this.scheduler.noteProgress({ taskId: message.taskId, nodeId: session.id, attempt: message.attempt }, message.progress, message.etaSeconds)) {
      this.#options.shared?.progressed(message.taskId, message.attempt, message.progress, message.etaSeconds);
      if (message.preview !== undefined && this.#watchers.has(message.taskId)) this.#previews.set(message.taskId, { image: message.preview, seq: ++this.#previewSeq, progress: message.progress });
      this.#changed(message.taskId);
      // No pass follows a progress report, yet one that says a task runs late may make a task held behind it
      // worth giving to a node that stands idle (scheduler/held-reclaims.ts).
      const now = this.#clock.now();
      if (!this.#closing && !this.#startRetry.waiting && this.scheduler.mayReclaimFrom(session.id, now)) this.#takeBackHeld(now);
    }
  }

  /** Sends the tasks held on busy nodes that idle nodes would finish well before to those nodes (held-reclaims.ts). */
  #takeBackHeld(now: number): void {
    for (const reclaim of this.scheduler.heldReclaims(now)) this.#attempts.takeBack(reclaim);
  }

  /** A task read from the store, as this gateway holds it. */
  #toEntry(record: StoredTask, spec: GenerationSpec): TaskEntry {
    return {
      id: record.id,
      kind: record.kind,
      spec,
      owner: record.owner,
      weight: this.#options.weightOf?.(record.owner) ?? 1,
      createdAt: record.createdAt,
      attempts: record.attempts,
      failures: [],
    };
  }

  /**
   * Cancels an unfinished task: a queued one leaves the queue, a running one is
   * interrupted on its node. Returns false when the dispatcher does not hold it.
   */
  async cancel(taskId: string, reason: string): Promise<boolean> {
    const entry = this.#entries.get(taskId);
    if (!entry || this.#outcomes.recent(taskId)) return false;
    const settled = this.scheduler.settle({ taskId }, { ok: false }, this.#clock.now());
    if (settled) this.#options.hub.sessions.get(settled.attempt.nodeId)?.send({ type: 'cancel', taskId, reason });
    else this.scheduler.remove(taskId);
    this.#log.info({ ...this.#about(taskId), wasRunning: !!settled }, 'task cancelled');
    const stopped = settled ? () => this.#options.observer?.attemptEnded?.('DAN_ERR_TASK_CANCELLED', settled.attempt.nodeIdentity) : undefined;
    this.#finish({ id: taskId, state: 'cancelled', error: { id: 'DAN_ERR_TASK_CANCELLED', message: reason } }, settled?.attempt.attempt ?? null, stopped);
    this.schedule();
    return true;
  }

  #failUnservable(taskId: string, reason: string): void {
    const entry = this.#entries.get(taskId);
    if (!entry || !this.scheduler.remove(taskId)) return;
    const seconds = Math.round(this.#options.unservableGraceMs / SECOND);
    // Sharing the store, at its attempt count: a row another gateway has started since (a higher attempt) is not failed.
    this.#fail(entry, this.#options.shared ? entry.attempts : null, { id: 'DAN_ERR_TASK_UNSERVABLE', message: `no node could serve this task for ${seconds} s: ${reason}` });
  }

  #fail(entry: TaskEntry, attempt: number | null, error: TaskError): void {
    this.#log.info({ ...this.#about(entry.id), error: error.id }, 'task failed');
    this.#finish({ id: entry.id, state: 'failed', error }, attempt);
  }

  /**
   * Ends the task in memory and announces its outcome: waiters hear it now, status
   * answers it from memory, and the store write goes on in the outcome book (which
   * retries it while the store fails). Never awaited here: a store that cannot write
   * must not hold up the next scheduling pass, a lost node's other tasks or a cancel.
   */
  #finish(outcome: TaskOutcome, attempt: number | null, stored?: () => void): void {
    const entry = this.#drop(outcome.id);
    const told = this.#outcomes.announce(entry ? { ...outcome, owner: entry.owner } : outcome, attempt);
    this.#changed(outcome.id);
    const task = entry ? { spec: entry.spec, createdAt: entry.createdAt } : null;
    // Counted (metrics, the dashboard, webhooks made due) once the store holds it: a gateway that stood still
    // past its lease wakes to its nodes' old results, whose tasks another gateway has run since.
    void told.then((held) => {
      if (!held) return;
      // Run from a promise now: a throw here would be an unhandled rejection, which ends the process.
      try {
        stored?.();
        this.#options.observer?.finished?.(outcome.id, entry?.kind ?? null, outcome.state, task);
      } catch (error) {
        this.#log.error({ err: error, task: outcome.id }, 'could not count a finished task');
      }
    });
  }

  /** The task leaves the dispatcher (ended here, or elsewhere): no longer held, counted against its owner's budget or previewed. */
  #drop(taskId: string): TaskEntry | undefined {
    const entry = this.#entries.get(taskId);
    if (entry) {
      this.#entries.delete(taskId);
      this.#unservable.forget(taskId);
      this.#release(entry.owner);
    }
    this.#previews.delete(taskId);
    return entry;
  }

  /** One unfinished task fewer for the owner's budget. */
  #release(owner: string | null): void {
    const key = owner ?? '';
    const left = (this.#perOwner.get(key) ?? 1) - 1;
    if (left > 0) this.#perOwner.set(key, left);
    else this.#perOwner.delete(key);
  }

  /** `schedule()` from a timer, an event or an immediate, where a throw would end the process: logged instead. */
  #scheduleGuarded(): void {
    try {
      this.schedule();
    } catch (error) {
      this.#log.error({ err: error }, 'dispatcher error');
    }
  }

  /** Runs `run` after `ms` on the dispatcher's clock, unless the dispatcher closes first (its timers are cancelled then). */
  #later(ms: number, run: () => void): Timer {
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  /** Cancels a timer of `#later`. */
  #cancelLater(timer: Timer): void {
    timer.cancel();
    this.#timers.delete(timer);
  }

  /** Handlers run detached from the emitter; an error in one is logged, never thrown into the hub. */
  #guard(work: Promise<unknown>): void {
    work.catch((error: unknown) => this.#log.error({ err: error }, 'dispatcher error'));
  }

  /**
   * Another gateway sharing the store stored a task, or put one back in the queue: it joins this gateway's
   * queue and its nodes may run it (shared-queue.ts, as are the other gateways' news below).
   */
  adopt(taskId: string, task?: Pick<TaskEntry, 'kind' | 'owner' | 'createdAt' | 'spec' | 'weight'>): Promise<void> {
    return this.#sharedQueue.adopt(taskId, task);
  }

  /** Another gateway started attempt `attempt` of a task on its node, or took it over (`moved`): it leaves the queue here. */
  startedElsewhere(taskId: string, attempt: number, how: { moved?: boolean } = {}): void {
    this.#sharedQueue.startedElsewhere(taskId, attempt, how);
  }

  /** A task ended through another gateway: it leaves this one, and sync requests waiting here are answered from the store. */
  endedElsewhere(taskId: string): Promise<void> {
    return this.#sharedQueue.endedElsewhere(taskId);
  }

  /** Resolves once the gateway whose node runs `taskId` has told where it stands, or after `ms` (once per attempt). */
  progressFromElsewhere(taskId: string, ms: number): Promise<void> {
    return this.#sharedQueue.progressFromElsewhere(taskId, ms);
  }

  /** Progress another gateway told of attempt `attempt` of a task its node runs. */
  progressElsewhere(taskId: string, attempt: number, progress: number, etaSeconds: number | null): void {
    this.#sharedQueue.progressElsewhere(taskId, attempt, progress, etaSeconds);
  }

  /** Puts back rows the store holds as running on this gateway where no such attempt runs; how many. Called every minute (gateway.ts). */
  requeueOrphans(): Promise<number> {
    return this.#sharedQueue.requeueOrphans();
  }

  /** Reads the store's unfinished tasks again, when news from the other gateways may have been missed. */
  resync(): Promise<void> {
    return this.#sharedQueue.resync();
  }

  /** A node named `name` connected to another gateway sharing the store: a wait here for it ends soon (node-returns.ts). */
  nodeArrivedElsewhere(name: string): void {
    this.#returns.nodeArrivedElsewhere(name);
  }

  /** Whether the gateway is stopping (`close`): waits end unfinished then, not by their timeout. */
  get stopping(): boolean {
    return this.#closing;
  }

  /**
   * Gateway shutdown: from this call on, nothing new starts and nodes that go are not
   * failures (call it before the hub closes their sockets); then timers stop and
   * pending outcome writes land. Unfinished tasks stay as stored and resume after restart.
   */
  async close(): Promise<void> {
    this.#closing = true;
    // A pass waiting for its turn: its waiters hear it now (no pass runs once closing).
    if (this.#passDue?.timer !== undefined) this.schedule();
    this.#unservable.close();
    this.#startRetry.close();
    for (const timer of this.#timers) timer.cancel();
    this.scheduler.close();
    await this.#outcomes.close();
  }
}

