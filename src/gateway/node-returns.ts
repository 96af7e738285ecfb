/**
 * @module gateway/node-returns
 *
 * Nodes whose connection drops and that come back (docs/decisions/0019). A
 * dropped connection is most often the network's moment: the node runs on,
 * and comes back naming what it still holds. So the dispatcher does not count
 * a lost node's tasks lost at once: it waits for it, for the resume grace
 * (`--resume-grace-s`), with its attempts in the ledger on the lost session;
 * what the node names when it is back moves to its new session, and only what
 * it does not name, or what a node that never comes back held, is retried
 * elsewhere or failed.
 *
 * - After a restart, the tasks the store says were running wait the grace for
 *   their node too (`awaitAfterRestart`), which takes them back as they were.
 * - Where gateways share the store, a node may bring an attempt another
 *   gateway gave it; it is taken over when the store agrees (`#takeOver`), and
 *   the node's answers to it wait for that word. A node this gateway waits for
 *   that came back through another gateway ends the wait within 2 s; one that
 *   did not come back has its rows read first: what another gateway took over
 *   meanwhile is let go, not failed.
 */
import type { NodeSession } from '../network/node-session.js';
import { heldLine, isHeld, type RunningAttempt } from '../scheduler/attempt-ledger.js';
import { SECOND, type Timer } from '../util/clock.js';
import type { DispatcherInternals, TaskEntry } from './dispatcher-types.js';
import { RECONCILE_RETRY_MS } from './shared-queue.js';

/**
 * How long a gateway still waits for a node that came back through another gateway sharing the store
 * (`nodeArrivedElsewhere`): that gateway's take-overs of what the node brought are written within
 * milliseconds, and read here before the rest counts lost.
 */
const ELSEWHERE_SETTLE_MS = 2 * SECOND;
/** Tries of a take-over's write before the node is told to stop the task. */
const TAKE_OVER_TRIES = 3;

type Internals = Pick<
  DispatcherInternals,
  | 'scheduler' | 'store' | 'hub' | 'clock' | 'log' | 'shared' | 'entries' | 'unservable' | 'closing'
  | 'enqueue' | 'about' | 'changed' | 'schedule' | 'timeoutFor' | 'putBack' | 'settleFailure' | 'requeueStored'
  | 'abandon' | 'later' | 'cancelLater' | 'guard' | 'touch' | 'reconcileSurely' | 'startedElsewhere'
>;

export class NodeReturns {
  readonly #dispatcher: Internals;
  /** Tasks that ran when the gateway stopped, waiting for their node to come back with them (`awaitAfterRestart`). */
  readonly #away = new Set<TaskEntry>();
  /** Attempts another gateway gave that a node brought here, while the store writes that they run here (`#takeOver`): whether it did. */
  readonly #takingOver = new Map<string, Promise<boolean>>();
  /** Sessions whose connection dropped while they ran attempts, waiting for their node to come back (`onNodeLost`). */
  readonly #awaitingReturn = new Map<string, { session: NodeSession; reason: string; timer: Timer }>();

  constructor(dispatcher: Internals) {
    this.#dispatcher = dispatcher;
  }

  /**
   * The loss of a node once the store has said whether the tasks it brought are taken over (`#takeOver`): after
   * the answers it sent meanwhile (a node that stops sends its last result and closes at once), which wait
   * for the same word.
   */
  afterTakeOversOf(session: NodeSession, handle: () => void): void {
    const pending = [...this.#dispatcher.scheduler.attempts.onNode(session.id)].flatMap((attempt) => this.#takingOver.get(attempt.taskId) ?? []);
    if (pending.length === 0) return handle();
    this.#dispatcher.guard(Promise.all(pending).then(handle));
  }

  /** Handles a node's word on a task at once, or, while its taking over is being written (`#takeOver`), once it held; not if it did not. */
  afterTakeOver(taskId: string, handle: () => void): void {
    const pending = this.#takingOver.get(taskId);
    if (!pending) return handle();
    this.#dispatcher.guard(
      pending.then((held) => {
        if (held) handle();
      }),
    );
  }

  /**
   * Tasks that ran when the gateway stopped (`Dispatcher.recover`): they wait `graceMs` for their node to come
   * back with them (`resume`), then go back to the queue.
   */
  awaitAfterRestart(away: readonly TaskEntry[], graceMs: number): void {
    for (const entry of away) this.#away.add(entry);
    if (away.length > 0) {
      this.#dispatcher.later(graceMs, () => this.#dispatcher.guard(this.#requeueAway(away)));
    }
  }

  /** Whether the store is being told that the task runs here now (`#takeOver`): its row is changing. */
  takingOver(taskId: string): boolean {
    return this.#takingOver.has(taskId);
  }

  /** The tasks running when the gateway stopped whose nodes did not come back with them: back to the queue. */
  async #requeueAway(entries: readonly TaskEntry[]): Promise<void> {
    let requeued = 0;
    for (const entry of entries) {
      this.#away.delete(entry);
      const away = entry.away;
      // Ended meanwhile (cancelled), or taken back by its node.
      if (!away || this.#dispatcher.entries.get(entry.id) !== entry) continue;
      await this.#dispatcher.requeueStored(entry.id, away.attempt);
      // Taken back while the write was under way.
      if (entry.away !== away || this.#dispatcher.entries.get(entry.id) !== entry) continue;
      delete entry.away;
      this.#dispatcher.enqueue(entry);
      this.#dispatcher.changed(entry.id);
      requeued += 1;
    }
    if (requeued > 0) this.#dispatcher.log.info({ tasks: requeued }, 'tasks running before the restart whose nodes did not come back: back in the queue');
    this.#dispatcher.schedule();
  }

  /**
   * A node's connection closed (the hub's `node:lost`; `mayReturn`: it may come back with what it runs, `replaced`:
   * another connection of the node took this one's place).
   */
  onNodeLost(session: NodeSession, reason: string, mayReturn: boolean, replaced = false): void {
    // At shutdown every node goes: its tasks stay as stored, to run again after the restart.
    if (this.#dispatcher.closing()) return;
    // Another connection of the node took this one's place and did not name these (another process is this
    // node: a copy of it). Nobody's failure: back in the queue, no attempt counted, no node blamed.
    if (replaced) {
      for (const running of [...this.#dispatcher.scheduler.attempts.onNode(session.id)]) {
        const entry = this.#dispatcher.entries.get(running.taskId);
        if (entry) this.#dispatcher.putBack(entry, running, 'task of a node connection another took the place of; back in the queue, not counted as a failure');
      }
      return;
    }
    if (mayReturn) this.#putBackUnbegun(session);
    const held = this.#dispatcher.scheduler.attempts.busySlots(session.id);
    if (!mayReturn || held === 0) return this.#lostForGood(session, reason);
    const graceMs = this.#dispatcher.hub.resumeGraceMs;
    // A dropped connection is most often the network's moment: the node runs on and comes back with what it
    // holds (`resume`). Only if it does not are its tasks lost: retried elsewhere, or failed.
    this.#dispatcher.log.info({ node: session.id, tasks: held, graceMs }, 'node connection dropped; its tasks wait for it to come back');
    this.#awaitReturn(session, reason, graceMs, `not back within ${Math.round(graceMs / SECOND)} s`);
    // The node list changed: what waits for a node says so, and its other tasks' plans change.
    this.#dispatcher.schedule();
  }

  /**
   * The tasks a node whose connection dropped held ready behind tasks that still run there, far enough from
   * their turn that it cannot have begun them (`surelyNotBegun`): they go back to their places in the queue
   * now, for a node that is there, rather than wait the grace on one that may be gone. A node that comes back
   * here with one gives it up (the welcome does not name it); nothing of it had run. A held task whose turn
   * may have come during the cut waits for the node with the rest: put back, two GPUs might run it.
   */
  #putBackUnbegun(session: NodeSession): void {
    const { scheduler, entries, clock } = this.#dispatcher;
    const now = clock.now();
    const attempts = scheduler.attempts.onNode(session.id);
    for (const { attempt, beginsIn } of heldLine(attempts, session.slots, now)) {
      const entry = entries.get(attempt.taskId);
      if (entry && surelyNotBegun(beginsIn, attempts, now)) this.#dispatcher.putBack(entry, attempt, 'task held ready on a node whose connection dropped, well behind a task still running there; back in the queue');
    }
  }

  /** Waits `ms` for a node whose connection dropped (`reason`) to come back; then what it held is lost (`then`: why). */
  #awaitReturn(session: NodeSession, reason: string, ms: number, then: string): void {
    const timer = this.#dispatcher.later(ms, () => {
      this.#awaitingReturn.delete(session.id);
      const lose = () => this.#lostForGood(session, `${reason}, and ${then}`);
      if (!this.#dispatcher.shared) return lose();
      const read = this.#letGoOfTakenOver(session).catch((error: unknown) => this.#dispatcher.log.warn({ node: session.id, err: error }, 'could not read whether another gateway took over the tasks of a node that did not come back'));
      this.#dispatcher.guard(read.then(lose));
    });
    this.#awaitingReturn.set(session.id, { session, reason, timer });
  }

  /**
   * A node named `name` connected to another gateway sharing the store: one this gateway waits for (its
   * connection here dropped) came back there, with what it still held, which that gateway takes over. The
   * rest it holds no more (say a task sent just before the cut, never delivered): lost after a short wait
   * for the take-overs to be written (`ELSEWHERE_SETTLE_MS`), not after the whole grace. By name: the list
   * of the network's nodes says no more of who a node is, and a wrong match only ends a wait sooner.
   */
  nodeArrivedElsewhere(name: string): void {
    // A copy: each wait found is set again under the same id (a live Map's loop would meet it again).
    for (const [id, awaiting] of [...this.#awaitingReturn]) {
      if (awaiting.session.name !== name) continue;
      this.#dispatcher.cancelLater(awaiting.timer);
      this.#awaitingReturn.delete(id);
      this.#awaitReturn(awaiting.session, awaiting.reason, ELSEWHERE_SETTLE_MS, 'came back through another gateway without it');
    }
  }

  /**
   * A node came back on a new connection naming the attempts it still holds: those it still runs here (same
   * node, same attempt, not ended meanwhile) move to the new session, their timers running on. Any other
   * is not waited for: the node gives it up.
   */
  resume(session: NodeSession, claims: readonly { taskId: string; attempt: number }[]): string[] {
    const resumed: string[] = [];
    const movedFrom = new Set<string>();
    this.#forgetUnnamed(session);
    for (const claim of claims) {
      if (this.#takeBack(session, claim) || this.#takeOver(session, claim)) {
        resumed.push(claim.taskId);
        continue;
      }
      const running = this.#dispatcher.scheduler.attempts.get(claim.taskId);
      // Who the node is, not its name: another node cannot take over work by naming it.
      if (!running || running.attempt !== claim.attempt || running.nodeIdentity !== session.identity || running.nodeId === session.id) continue;
      const fromNodeId = running.nodeId;
      if (!this.#dispatcher.scheduler.moveAttempt({ taskId: claim.taskId, attempt: claim.attempt, fromNodeId }, session.id)) continue;
      session.adopt(claim.taskId);
      resumed.push(claim.taskId);
      movedFrom.add(fromNodeId);
    }
    if (resumed.length > 0) this.#dispatcher.log.info({ node: session.id, tasks: resumed.length, from: [...movedFrom] }, 'node came back with its tasks');
    // What ran on a node of this name before the restart, and it did not name: it holds it no more (it restarted too).
    const unnamed = [...this.#away].filter((entry) => entry.away !== undefined && ranOn(entry.away, session));
    if (unnamed.length > 0) this.#dispatcher.guard(this.#requeueAway(unnamed));
    return resumed;
  }

  /**
   * The node came back: the connections it had that dropped wait for it no longer. What it does not name
   * of theirs (a node that restarted names nothing) is lost now, not when the grace ends. After the welcome:
   * a loss starts a scheduling pass, which must not send the new connection work before its welcome.
   */
  #forgetUnnamed(session: NodeSession): void {
    for (const [id, awaiting] of this.#awaitingReturn) {
      if (awaiting.session.identity !== session.identity) continue;
      this.#awaitingReturn.delete(id);
      this.#dispatcher.cancelLater(awaiting.timer);
      queueMicrotask(() => this.#lostForGood(awaiting.session, `${awaiting.reason}, and came back without it`));
    }
  }

  /**
   * A task that ran on a node when the gateway stopped (`recover`), claimed by that node back (who it is, the
   * task's id and the attempt; only its name for a row stored before the store kept who): it runs on there,
   * as its attempt, its row unchanged. False for any other claim.
   */
  #takeBack(session: NodeSession, claim: { taskId: string; attempt: number }): boolean {
    const entry = this.#dispatcher.entries.get(claim.taskId);
    const away = entry?.away;
    if (!entry || !away || away.attempt !== claim.attempt || !ranOn(away, session)) return false;
    delete entry.away;
    this.#away.delete(entry);
    this.#dispatcher.enqueue(entry);
    const running = this.#dispatcher.scheduler.adopt(entry.id, session, claim.attempt, this.#dispatcher.clock.now(), (expectedSeconds) => this.#dispatcher.timeoutFor(expectedSeconds, 0));
    if (!running) return false;
    session.adopt(entry.id);
    this.#dispatcher.unservable.forget(entry.id);
    this.#dispatcher.changed(entry.id);
    this.#dispatcher.log.info({ ...this.#dispatcher.about(entry.id), node: session.id, attempt: claim.attempt }, 'task taken back by the node that ran it before the restart');
    return true;
  }

  /**
   * Where gateways share the store: an attempt another gateway gave this node, brought here (that gateway died,
   * or the node could not reach it), runs on here if the store agrees that it was given to this very node and
   * nobody runs it since (TaskStore.takeOver). It is taken at once, for the welcome to name it; the node's
   * answers to it wait for the store's word. If the store says no, the node is told to stop it and the task is
   * as the store says. False for a claim that cannot be such an attempt.
   */
  #takeOver(session: NodeSession, claim: { taskId: string; attempt: number }): boolean {
    const store = this.#dispatcher.store;
    const entry = this.#dispatcher.entries.get(claim.taskId);
    if (!this.#dispatcher.shared || !store.takeOver || !entry || entry.unsaved || this.#takingOver.has(claim.taskId)) return false;
    if (this.#dispatcher.scheduler.attempts.get(entry.id) || (entry.elsewhere?.attempt ?? entry.attempts) !== claim.attempt) return false;
    // Running elsewhere, or put back in the queue here (its gateway counted gone) at that attempt.
    const elsewhere = entry.elsewhere;
    if (!elsewhere && this.#dispatcher.scheduler.position(entry.id) === undefined) return false;
    if (elsewhere) {
      delete entry.elsewhere;
      this.#dispatcher.enqueue(entry);
    }
    const running = this.#dispatcher.scheduler.adopt(entry.id, session, claim.attempt, this.#dispatcher.clock.now(), (expectedSeconds) => this.#dispatcher.timeoutFor(expectedSeconds, 0));
    if (!running) {
      if (elsewhere) {
        this.#dispatcher.scheduler.remove(entry.id);
        entry.elsewhere = elsewhere;
      }
      return false;
    }
    session.adopt(entry.id);
    // News: a resync reading meanwhile leaves it alone (its row is changing).
    this.#dispatcher.touch(entry.id);
    const held = this.#storeTakeOver(entry.id, claim.attempt, session, running);
    this.#takingOver.set(entry.id, held);
    this.#dispatcher.guard(held.then((moved) => {
      this.#takingOver.delete(entry.id);
      this.#dispatcher.touch(entry.id);
      const current = this.#dispatcher.scheduler.attempts.get(entry.id) === running;
      if (moved) {
        this.#dispatcher.unservable.forget(entry.id);
        this.#dispatcher.changed(entry.id);
        this.#dispatcher.log.info({ ...this.#dispatcher.about(entry.id), node: session.id, attempt: claim.attempt }, 'task taken over from another gateway: its node brought it here');
        if (current || this.#dispatcher.entries.get(entry.id) !== entry) return;
        // Ended here while the store wrote (a timeout, or let go on an old read): the row is this gateway's now,
        // and nothing runs it. Back in the queue, the row too.
        if (!this.#dispatcher.scheduler.attempts.get(entry.id) && this.#dispatcher.scheduler.position(entry.id) === undefined) {
          delete entry.elsewhere;
          this.#dispatcher.enqueue(entry);
        }
        void this.#dispatcher.requeueStored(entry.id, claim.attempt);
        this.#dispatcher.schedule();
        return;
      }
      if (current) this.#dispatcher.abandon(running, 'the gateway no longer waits for it here');
      if (this.#dispatcher.entries.get(entry.id) !== entry) return;
      // Not this gateway's: as the row says (running elsewhere, queued, or ended), read before any pass may send it.
      // Held as elsewhere meanwhile, unless the scheduler holds it again (a failure here put it back in the queue).
      if (this.#dispatcher.scheduler.position(entry.id) === undefined && !this.#dispatcher.scheduler.attempts.get(entry.id)) entry.elsewhere = elsewhere ?? { attempt: claim.attempt };
      this.#dispatcher.reconcileSurely(entry.id);
    }));
    return true;
  }

  /**
   * Writes a take-over; a write that fails (the database away a moment) is tried again while the attempt
   * runs here, the statement being the same whether or not an earlier try landed. False once the store
   * refuses it, or it could not be written for a while (the node is then told to stop it).
   */
  async #storeTakeOver(taskId: string, attempt: number, session: NodeSession, running: RunningAttempt): Promise<boolean> {
    const takeOver = this.#dispatcher.store.takeOver!.bind(this.#dispatcher.store);
    for (let tries = 1; ; tries += 1) {
      try {
        return await takeOver(taskId, attempt, session.identity, session.id);
      } catch (error) {
        if (tries >= TAKE_OVER_TRIES || this.#dispatcher.scheduler.attempts.get(taskId) !== running || this.#dispatcher.closing()) {
          this.#dispatcher.log.warn({ task: taskId, err: error }, 'could not store that a node brought its task here; it is stopped there');
          return false;
        }
        await new Promise<void>((resolve) => this.#dispatcher.later(RECONCILE_RETRY_MS, resolve));
      }
    }
  }

  /**
   * Sharing the store, a node that did not come back here may have gone to another gateway with its tasks,
   * which took them over (`#takeOver`): the rows are read, and what runs elsewhere at its attempt is let go,
   * whether or not its `moved` notice has come. Only the rest is lost.
   */
  async #letGoOfTakenOver(session: NodeSession): Promise<void> {
    for (const running of [...this.#dispatcher.scheduler.attempts.onNode(session.id)]) {
      // One the store cannot tell of is lost as any other: its requeue and its failure are written only while the row is this gateway's.
      const record = await this.#dispatcher.store.get(running.taskId).catch((error: unknown) => {
        this.#dispatcher.log.warn({ task: running.taskId, node: session.id, err: error }, 'could not read whether another gateway took over a task of a node that did not come back');
        return undefined;
      });
      const taken = record?.state === 'running' && record.attempts === running.attempt && this.#dispatcher.shared?.runsElsewhere(record) === true;
      if (taken && this.#dispatcher.scheduler.attempts.get(running.taskId) === running) this.#dispatcher.startedElsewhere(running.taskId, running.attempt, { moved: true });
    }
  }

  /** The node is gone with what it ran: a task it had begun failed that attempt; one it held ready goes back to its place. */
  #lostForGood(session: NodeSession, reason: string): void {
    if (this.#dispatcher.closing()) return;
    const attempts = [...this.#dispatcher.scheduler.attempts.onNode(session.id)];
    if (attempts.length === 0) return;
    // Read before any settles: settling the one running begins the one held behind it. One that told
    // progress had begun: its loss is a failed attempt like any other.
    const held = new Set(attempts.filter(isHeld).map((a) => a.taskId));
    for (const running of attempts) {
      const entry = this.#dispatcher.entries.get(running.taskId);
      // A task held ready never began there: no failure, no blame, back to its place.
      if (held.has(running.taskId) && entry) this.#dispatcher.putBack(entry, running, 'task held by a node that went away; back in the queue');
      else this.#dispatcher.settleFailure(running, { id: 'DAN_ERR_NODE_LOST', message: `node ${session.name} lost: ${reason}` });
    }
    this.#dispatcher.schedule();
  }
}

/**
 * A held task is taken for not begun when, by the gateway's estimate, its turn is at least this far off (s):
 * an A1111 node hands the WebUI its held job about a second before the running one ends (and reports no more
 * progress after), and an estimate of a second's end is a second or so off either way.
 */
const NOT_BEGUN_MARGIN_SECONDS = 3;
/** …and this share of the time since the node last told how its running tasks stood: an older estimate errs more. */
const NOT_BEGUN_STALE_SHARE = 0.25;

/**
 * Whether a task held on a node whose running `attempts` leave it to begin in `beginsIn` seconds (attempt-ledger.ts
 * `heldLine`) surely has not begun at `now`: its turn further off than the margin, widened by how old the node's
 * last word on them is (a drop seen through silence comes seconds after it).
 */
function surelyNotBegun(beginsIn: number, attempts: readonly RunningAttempt[], now: number): boolean {
  let lastWord = -Infinity;
  for (const attempt of attempts) if (!isHeld(attempt)) lastWord = Math.max(lastWord, attempt.etaAt ?? attempt.begunAt ?? attempt.startedAt);
  const staleSeconds = Math.max(0, (now - lastWord) / 1000);
  return beginsIn > NOT_BEGUN_MARGIN_SECONDS + NOT_BEGUN_STALE_SHARE * staleSeconds;
}

/** Whether the attempt a restarted gateway found running was given to this node: who it is, or its name for a row stored without who. */
function ranOn(away: NonNullable<TaskEntry['away']>, session: NodeSession): boolean {
  return away.nodeIdentity === null ? away.nodeName === session.name : away.nodeIdentity === session.identity;
}
