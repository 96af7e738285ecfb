/**
 * @module gateway/node-attempts
 *
 * The attempts a task makes on this gateway's nodes, from start to end; which
 * attempt runs where is the scheduler's attempt ledger, and each is settled
 * through it exactly once (docs/decisions/0011).
 *
 * - A start: the slot is taken in the scheduler at once, so that the next pass
 *   sees it taken; the start is claimed in the store before the task is sent
 *   (never sent on a claim that did not hold: where gateways share the store,
 *   another may have claimed it first); then the assign goes to the node in
 *   the order the starts were made, whichever store write ends first, since a
 *   node sent two tasks in one pass runs them in the order they arrive. A store
 *   that cannot record the start (disk full) pauses starts (start-retry.ts).
 * - An end: a result, checked against its task (result-check.ts); a failure or
 *   a timeout, retried on another node or failing the task (decision 0007,
 *   attempt-failures.ts); a task put back with no failure counted (it never
 *   reached its node, or never began there); or an attempt abandoned because
 *   the task runs, or ended, elsewhere.
 */
import { specForNodes } from '../domain/spec.js';
import type { NodeSession } from '../network/node-session.js';
import type { Failure } from '../protocol/messages.js';
import type { RelayedResultMessage } from '../protocol/result-frame.js';
import type { AttemptTimeout, RunningAttempt } from '../scheduler/attempt-ledger.js';
import type { Assignment } from '../scheduler/scheduler.js';
import type { HeldReclaim } from '../scheduler/held-reclaims.js';
import { SECOND } from '../util/clock.js';
import { type AttemptError, isRetryable, toAttemptError, toAttemptFailure } from './attempt-failures.js';
import { type DispatcherInternals, TAKEN_BACK, type TaskEntry } from './dispatcher-types.js';
import type { TaskOutcome } from './outcome-book.js';
import { resultProblem } from './result-check.js';
import { isStoreUnavailable } from './store-errors.js';
import type { Static } from '@sinclair/typebox';

const MIN_TIMEOUT_MS = 60 * SECOND;

/** An assign waiting for its turn to be sent to its node: `send` once its claim held, `settled` once known. */
interface AssignTurn {
  send: (() => void) | undefined;
  settled: boolean;
}

type Internals = Pick<
  DispatcherInternals,
  | 'scheduler' | 'store' | 'hub' | 'clock' | 'log' | 'shared' | 'overhead' | 'observer' | 'maxAttempts' | 'taskTimeoutMs'
  | 'entries' | 'unservable' | 'startRetry' | 'withdraw' | 'fail' | 'finish' | 'about' | 'changed' | 'schedule'
  | 'passSoon' | 'scheduleGuarded' | 'later' | 'reconcileSurely' | 'guard'
>;

export class NodeAttempts {
  readonly #dispatcher: Internals;
  /** Per node session: its assigns started and not sent yet, first started first (`start`). */
  readonly #assignOrder = new Map<string, AssignTurn[]>();

  constructor(dispatcher: Internals) {
    this.#dispatcher = dispatcher;
  }

  /**
   * Starts an assignment of a pass: its slot is taken in the scheduler at once, then the start is claimed in the
   * store and the task sent to its node, in its turn.
   */
  async start(entry: TaskEntry, session: NodeSession, assignment: Assignment): Promise<void> {
    const attempt = entry.attempts + 1;
    // A task sent ahead waits on the node first: its timer starts again when it begins (attempt-ledger.ts).
    const timeout = this.timeoutFor(assignment.expectedSeconds, assignment.waitSeconds);
    const timeoutMs = timeout.ms;
    // Reserve the slot before any await, so the next scheduling pass sees it taken.
    const running = this.#dispatcher.scheduler.start(assignment, this.#dispatcher.clock.now(), { attempt, timeout });
    if (!running) return;
    entry.attempts = attempt;
    this.#dispatcher.unservable.forget(entry.id);
    // A node sent two tasks in one pass (one to hold ready) runs them in the order they arrive: each is sent
    // once those started before it for the same node were (or were given up), whichever store write ends first.
    let order = this.#assignOrder.get(session.id);
    if (!order) this.#assignOrder.set(session.id, (order = []));
    const turn: AssignTurn = { send: undefined, settled: false };
    order.push(turn);
    await this.#claimAndSend(entry, session, { assignment, running, timeoutMs }, turn);
  }

  /** Sends the assigns of a node whose turn came: from the first started, while each is settled. */
  #sendInOrder(sessionId: string): void {
    const order = this.#assignOrder.get(sessionId);
    if (!order) return;
    while (order[0]?.settled) order.shift()!.send?.();
    if (order.length === 0) this.#assignOrder.delete(sessionId);
  }

  /**
   * Claims a started attempt in the store, then sends it to its node in its `turn` (`#sendInOrder`); not
   * when the claim did not hold or the store failed.
   */
  async #claimAndSend(entry: TaskEntry, session: NodeSession, start: { assignment: Assignment; running: RunningAttempt; timeoutMs: number }, turn: AssignTurn): Promise<void> {
    const { receivedAt } = entry;
    const { assignment, running, timeoutMs } = start;
    const { attempt } = running;
    try {
      // The start is claimed in the store before the task is sent: never sent on a claim that did not hold.
      let stored: boolean;
      try {
        stored = await this.#dispatcher.store.markRunning(entry.id, attempt, session.id, this.#dispatcher.clock.now(), session.identity);
      } catch (error) {
        // Asked for with its insert, which failed: the submit answers that, and the task leaves (`submit`).
        if (entry.unsaved && !(await entry.unsaved)) return this.#dispatcher.withdraw(entry);
        this.#startNotStored(entry, running, error);
        return;
      }
      if (!stored && entry.unsaved && !(await entry.unsaved)) return this.#dispatcher.withdraw(entry);
      if (!stored) return this.#startRefused(entry, running);
      this.#dispatcher.startRetry.succeeded();
      turn.send = () => {
        // A cancel (or the node's loss) may have settled the attempt while the store wrote.
        if (this.#dispatcher.scheduler.attempts.get(entry.id) !== running) return;
        const sent = session.send({ type: 'assign', taskId: entry.id, attempt, spec: specForNodes(entry.spec), binding: assignment.binding, timeoutMs });
        if (sent && receivedAt !== undefined) this.#dispatcher.overhead?.dispatched(performance.now() - receivedAt);
        this.#dispatcher.log.debug({ ...this.#dispatcher.about(entry.id), node: session.id, attempt, switched: assignment.switched }, 'task assigned');
        if (!sent) this.putBack(entry, running);
        else this.#dispatcher.changed(entry.id);
      };
    } finally {
      turn.settled = true;
      this.#sendInOrder(session.id);
    }
  }

  /**
   * The store could not record the start (disk full): the task goes back to its place
   * in the queue, counted as no failure and blamed on no node, and starts wait until
   * the store is tried again (start-retry.ts).
   */
  #startNotStored(entry: TaskEntry, running: RunningAttempt, error: unknown): void {
    // Its attempt number stays used: the store takes any higher one next (TaskStore.markRunning).
    const settled = this.#dispatcher.scheduler.settle({ taskId: entry.id, attempt: running.attempt }, { ok: false, requeue: true }, this.#dispatcher.clock.now());
    if (!isStoreUnavailable(error)) {
      // Not the disk: a bug, which trying again would only repeat. Fail this task alone.
      this.#dispatcher.log.error({ task: entry.id, err: error }, 'task store failed to mark the task running (not a storage failure); failing the task');
      if (settled) this.#dispatcher.scheduler.remove(entry.id);
      this.#dispatcher.fail(entry, null, { id: 'DAN_ERR_INTERNAL', message: 'the task could not be started; see the gateway log' });
      return;
    }
    this.#dispatcher.startRetry.failed(error);
  }

  /**
   * The row is not queued at this attempt. Where gateways share the store, another one claimed the task
   * first for its own node (its notice follows): this gateway leaves it. Alone, only a bug of ours gets
   * here: don't run what the store disowns.
   */
  #startRefused(entry: TaskEntry, running: RunningAttempt): void {
    // Settled while its claim was written (a cancel, or taken back for an idle node whose start wrote the next
    // attempt first): nothing of it is left to refuse.
    if (this.#dispatcher.scheduler.attempts.get(entry.id) !== running) return;
    if (this.#dispatcher.shared) {
      if (this.#dispatcher.scheduler.settle({ taskId: entry.id, attempt: running.attempt }, { ok: false }, this.#dispatcher.clock.now())) {
        entry.elsewhere = { attempt: running.attempt };
        this.#dispatcher.changed(entry.id);
        this.#dispatcher.reconcileSurely(entry.id);
        this.#dispatcher.schedule();
      }
      return;
    }
    this.#dispatcher.log.error({ task: entry.id, attempt: running.attempt }, 'task store refused to mark the task running; failing it');
    if (this.#dispatcher.scheduler.settle({ taskId: entry.id, attempt: running.attempt }, { ok: false }, this.#dispatcher.clock.now())) {
      // Whatever attempt the row holds: the store just refused this one.
      this.#dispatcher.fail(entry, null, { id: 'DAN_ERR_INTERNAL', message: 'the task store no longer holds this task as queued' });
      this.#dispatcher.schedule();
    }
  }

  /**
   * An attempt's timeout: 3× its expected time on its node + 30 s (at least a minute, at most
   * `taskTimeoutMs`), and the time it may wait on its node first (a task sent ahead).
   */
  timeoutFor(expectedSeconds: number, waitSeconds: number): AttemptTimeout {
    const runMs = Math.round(Math.min(this.#dispatcher.taskTimeoutMs, Math.max(MIN_TIMEOUT_MS, (3 * expectedSeconds + 30) * SECOND)));
    const waitMs = Math.round(waitSeconds * SECOND);
    return { ms: runMs + waitMs, waitMs, maxMs: this.#dispatcher.taskTimeoutMs, onTimeout: (running) => this.#onTimeout(running) };
  }

  /** An attempt took longer than its timeout (`timeoutFor`): stopped on its node, and failed. */
  #onTimeout(running: RunningAttempt): void {
    // Its time since it began (a held one: since it was sent), which its progress may have made longer than first set.
    const seconds = Math.round((this.#dispatcher.clock.now() - (running.begunAt ?? running.startedAt)) / SECOND);
    this.#dispatcher.hub.sessions.get(running.nodeId)?.send({ type: 'cancel', taskId: running.taskId, reason: `timed out after ${seconds} s` });
    this.settleFailure(running, { id: 'DAN_ERR_TASK_TIMEOUT', message: `no answer within ${seconds} s` });
  }

  /** A node's result for an attempt: checked against its task, then the task succeeds (if the attempt is still the task's). */
  async onResult(session: NodeSession, message: RelayedResultMessage, receivedAt: number): Promise<void> {
    // Nodes are other people's machines: a result that does not answer its task never reaches a client.
    // Its node is disconnected, and what it ran goes to other nodes (result-check.ts).
    const entry = this.#dispatcher.entries.get(message.taskId);
    const problem = entry ? resultProblem(entry.spec, message.result) : null;
    if (problem !== null) {
      this.#dispatcher.hub.expel(session, `result for task ${message.taskId} refused: ${problem}`);
      return;
    }
    const where = { taskId: message.taskId, nodeId: session.id, attempt: message.attempt };
    const now = this.#dispatcher.clock.now();
    const timing = {
      elapsedMs: message.elapsedMs,
      awakeSince: this.#dispatcher.hub.awakeSince(now),
      nodeSilentUntil: session.silentUntil,
      ...(message.loadMs === undefined ? {} : { loadMs: message.loadMs }),
    };
    const settled = this.#dispatcher.scheduler.settle(where, { ok: true, ...timing }, now);
    if (!settled) return;
    this.#dispatcher.log.info({ ...this.#dispatcher.about(message.taskId), node: session.id, elapsedMs: Math.round(message.elapsedMs) }, 'task succeeded');
    // The waiting client is answered first (its handler resumes in this turn's microtasks); the node's next
    // task follows at once (in a large fleet, within a few ms: pass-pacing.ts), then the store write (also
    // deferred). A scheduling pass over a long queue takes milliseconds, which every sync answer would
    // otherwise wait for; the GPU waits for one answer.
    void this.#dispatcher.passSoon();
    const outcome: TaskOutcome = { id: message.taskId, state: 'succeeded', result: message.result, resultReceivedAt: receivedAt };
    // Counted a success once stored: a gateway woken from a stall may hold results of attempts another has run since.
    this.#dispatcher.finish(outcome, settled.attempt.attempt, () => this.#dispatcher.observer?.attemptEnded?.('succeeded', session.identity));
  }

  /** A node says an attempt failed. */
  onFailure(session: NodeSession, message: Static<typeof Failure>): void {
    const running = this.#dispatcher.scheduler.attempts.get(message.taskId);
    // A late failure of an abandoned attempt (the task runs again, maybe on this very node) settles nothing.
    if (!running || running.nodeId !== session.id || running.attempt !== message.attempt) return;
    this.settleFailure(running, toAttemptError(message.error, message.message));
  }

  /** Ends a failed attempt: the task is retried elsewhere, or fails for good. A slot is free either way: a pass follows. */
  settleFailure(running: RunningAttempt, error: AttemptError): void {
    const entry = this.#dispatcher.entries.get(running.taskId);
    const retryable = isRetryable(error);
    const retry = retryable && entry !== undefined && entry.failures.length + 1 < this.#dispatcher.maxAttempts;
    const where = { taskId: running.taskId, nodeId: running.nodeId, attempt: running.attempt };
    const settled = this.#dispatcher.scheduler.settle(where, { ok: false, requeue: retry, failure: toAttemptFailure(error) }, this.#dispatcher.clock.now());
    if (!settled || !entry) return;
    const { attempt, nodeName } = running;
    entry.failures.push(`attempt ${attempt} on node ${nodeName}: ${error.message}`);
    this.#dispatcher.observer?.attemptEnded?.(error.id, running.nodeIdentity);
    this.#dispatcher.log.warn({ ...this.#dispatcher.about(entry.id), node: running.nodeId, attempt, error: error.id, reason: error.message }, 'task attempt failed');
    if (settled.setAside) this.#noteSetAside(nodeName, settled.setAside.until, settled.setAside.reason);
    if (settled.sameWayAs !== null) {
      const message = `failed the same way on nodes ${settled.sameWayAs} and ${nodeName}, so the request itself is the likely cause: ${error.message}`;
      this.#dispatcher.fail(entry, attempt, { id: 'DAN_ERR_TASK_FAILED', message });
    } else if (!retryable) {
      this.#dispatcher.fail(entry, attempt, error);
    } else if (!retry) {
      const times = entry.failures.length === 1 ? 'once' : `${entry.failures.length} times`;
      this.#dispatcher.fail(entry, attempt, { id: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED', message: `failed ${times}: ${entry.failures.join('; ')}` });
    } else {
      void this.requeueStored(entry.id, attempt);
      this.#dispatcher.changed(entry.id);
    }
    this.#dispatcher.schedule();
  }

  /** A node that keeps failing is set aside until `until`: a pass then, since no event may come to give it work again. */
  #noteSetAside(nodeName: string, until: number, reason: string): void {
    const now = this.#dispatcher.clock.now();
    this.#dispatcher.log.warn({ node: nodeName, seconds: Math.round((until - now) / SECOND), reason }, 'node keeps failing: set aside, no new work for a while');
    this.#dispatcher.later(Math.max(0, until - now) + 10, () => this.#dispatcher.scheduleGuarded());
  }

  /**
   * The task never reached its node (the socket closed as it was sent): back to its
   * place in the queue, counted as no failure and blamed on nobody. The store holds
   * the attempt as started: it is requeued there at that attempt.
   */
  putBack(entry: TaskEntry, running: RunningAttempt, why = 'task not sent: its node went away; back in the queue'): void {
    if (!this.#dispatcher.scheduler.settle({ taskId: entry.id, attempt: running.attempt }, { ok: false, requeue: true }, this.#dispatcher.clock.now())) return;
    this.#dispatcher.log.info({ ...this.#dispatcher.about(entry.id), node: running.nodeId }, why);
    void this.requeueStored(entry.id, running.attempt);
    this.#dispatcher.schedule();
  }

  /**
   * Takes a task held ready on a busy node back and sends it to an idle node that would finish it well before
   * (scheduler/held-reclaims.ts): no failure counted, nobody blamed, and the holder told to drop it (it had not
   * begun it). Its new start moves the stored row on to the next attempt.
   */
  takeBack({ taskId, attempt, fromNodeId, assignment }: HeldReclaim): void {
    const entry = this.#dispatcher.entries.get(taskId);
    const session = this.#dispatcher.hub.sessions.get(assignment.nodeId);
    if (!entry || !session) return;
    const { scheduler, clock, hub, log } = this.#dispatcher;
    const settled = scheduler.settle({ taskId, nodeId: fromNodeId, attempt }, { ok: false, requeue: true }, clock.now());
    if (!settled) return;
    this.#dispatcher.observer?.attemptEnded?.(TAKEN_BACK, settled.attempt.nodeIdentity);
    hub.sessions.get(fromNodeId)?.send({ type: 'cancel', taskId, reason: `given to node ${session.name}, idle, which finishes it sooner` });
    log.info({ ...this.#dispatcher.about(taskId), from: fromNodeId, node: session.id, expectedSeconds: Math.round(assignment.expectedSeconds * 10) / 10 }, 'task held ready on a busy node taken back for an idle one');
    this.#dispatcher.guard(this.start(entry, session, assignment));
  }

  /**
   * Writes a requeue. If the write fails the row still says running with this
   * attempt; the next start's write moves it on from there (TaskStore.markRunning)
   * and a restart requeues it, so the failure is logged and otherwise harmless.
   */
  async requeueStored(taskId: string, attempt: number): Promise<void> {
    try {
      // Refused when the row had moved on already: the next attempt's start written first (the usual race when a
      // node is lost and the task starts elsewhere at once), or the task ended or was put back by another gateway.
      if (!(await this.#dispatcher.store.requeue(taskId, attempt))) {
        this.#dispatcher.log.debug({ task: taskId, attempt }, 'requeue not written: the stored task had moved on already');
        // Sharing the store, it may run through another gateway now (its node took it there): as the row says,
        // read again until it can be (a read that fails would leave it queued here while it runs there).
        if (this.#dispatcher.shared) this.#dispatcher.reconcileSurely(taskId);
      }
    } catch (error) {
      this.#dispatcher.log.warn({ task: taskId, err: error }, 'could not store the requeue; the task is queued in memory and its next start is stored');
    }
  }

  /** Stops an attempt of this gateway's that is no longer the task's (it runs, or ended, elsewhere): no failure counted. */
  abandon(running: RunningAttempt, reason: string): void {
    this.#dispatcher.hub.sessions.get(running.nodeId)?.send({ type: 'cancel', taskId: running.taskId, reason });
    this.#dispatcher.scheduler.settle({ taskId: running.taskId, attempt: running.attempt }, { ok: false }, this.#dispatcher.clock.now());
  }
}
