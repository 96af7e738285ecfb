/**
 * @module scheduler/attempt-ledger
 *
 * The one record of running work: which attempt of which task runs on which
 * node, since when, how long it should take, its timeout timer and the
 * progress its node last reported. The scheduler reads busy slots from it;
 * the dispatcher changes it only through the scheduler (`start`, `settle`),
 * so every start and every end of an attempt passes through here.
 *
 * An attempt's life:
 *
 *   start ──▶ running ──settle (result, failure, node lost, timeout, cancel)──▶ gone
 *
 * `settle` removes the attempt and cancels its timer, and answers it only to
 * its first caller: a late or repeated answer (a result racing its timeout, a
 * failure after the node was lost) finds nothing and is dropped. That is the
 * "exactly once" of settling.
 *
 * Kept per node too, so that a node's busy slots cost a lookup, not a walk
 * over every running attempt: a scheduling pass asks it of every node.
 */
import type { Clock, Timer } from '../util/clock.js';

/** An attempt as others may read it. */
export interface RunningAttempt {
  readonly taskId: string;
  /** 1-based attempt number of the task. */
  readonly attempt: number;
  /** The node's connection (session id); a node that comes back on a new one takes the attempt there (`move`). */
  readonly nodeId: string;
  /** The node's name, for messages. */
  readonly nodeName: string;
  /** Who the node is (SchedulerNode.identity): its speed and health are learned by it, and outlive a reconnect. */
  readonly nodeIdentity: string;
  /** When it was sent (epoch ms). */
  readonly startedAt: number;
  /**
   * When its node began it (epoch ms): when it was sent, or, for one sent ahead to wait behind the node's
   * running work (`prefetch`), when the attempt before it there ended; null while it waits.
   */
  readonly begunAt: number | null;
  /** Expected seconds on its node, a checkpoint switch included. */
  readonly expectedSeconds: number;
  /** Whether its node loads another checkpoint for it. */
  readonly switched: boolean;
  /** The checkpoint identity it runs with (what its node has loaded once it starts), or null. */
  readonly checkpoint: string | null;
  /** 0–1, as its node last reported. */
  readonly progress: number;
  /** Seconds left, as its node last reported; null until it does. */
  readonly etaSeconds: number | null;
  /** When that report came (the ledger's clock, epoch ms); null before one, or without a clock. */
  readonly etaAt: number | null;
  /** Whether its node took it along to a new connection (`move`): the time between sending and answer includes the outage. */
  readonly resumed?: boolean;
}

/**
 * Whether an attempt sent ahead still waits on its node behind another, as far as the gateway knows: the
 * attempt before it has not ended there, and the node has told no progress of it (an A1111 node begins it
 * the moment the WebUI lets go of the job before, a little before that job's result arrives).
 */
export function isHeld(attempt: Pick<RunningAttempt, 'begunAt' | 'progress'>): boolean {
  return attempt.begunAt === null && attempt.progress === 0;
}

/** A task held ready on a node, and when that node would begin it and have it done, by what the gateway knows (`heldLine`). */
export interface HeldOnNode<T extends RunningAttempt = RunningAttempt> {
  attempt: T;
  /** Seconds from now until the holder would begin it: the running task before it ends (0: a slot is free for it). */
  beginsIn: number;
  /** Seconds from now until the holder would have it done. */
  doneIn: number;
}

/**
 * The tasks held ready among `attempts` (a node's, in the order it was sent them; `slots` its slots), each
 * with when the node would begin it and have it done: each slot frees when its task ends (a slot without one,
 * now), and a held task begins on the first to free.
 */
export function heldLine<T extends RunningAttempt>(attempts: readonly T[], slots: number, now: number): HeldOnNode<T>[] {
  const line: HeldOnNode<T>[] = [];
  const free: number[] = [];
  for (const attempt of attempts) if (!isHeld(attempt)) free.push(secondsLeft(attempt, now));
  while (free.length < slots) free.push(0);
  for (const attempt of attempts) {
    if (!isHeld(attempt)) continue;
    let first = 0;
    for (let i = 1; i < free.length; i++) if (free[i]! < free[first]!) first = i;
    const beginsIn = free[first]!;
    free[first] = beginsIn + attempt.expectedSeconds;
    line.push({ attempt, beginsIn, doneIn: free[first]! });
  }
  return line;
}

/**
 * Seconds until a begun attempt ends: by its node's latest report, less the time since (an A1111 node stops
 * reporting once it has sent the WebUI the job behind it), else by its expected time (none once overdue).
 */
function secondsLeft(attempt: RunningAttempt, now: number): number {
  if (attempt.etaSeconds !== null) return Math.max(0, attempt.etaSeconds - (attempt.etaAt === null ? 0 : (now - attempt.etaAt) / 1000));
  const begunAt = attempt.begunAt ?? now;
  return Math.max(0, attempt.expectedSeconds - (now - begunAt) / 1000);
}

export interface AttemptTimeout {
  ms: number;
  /**
   * Of `ms`, what is allowed for waiting on the node (an attempt sent ahead): once it begins, its timer
   * starts again with `ms - waitMs`, so a task before it that overran does not eat its time. @defaultValue 0
   */
  waitMs?: number;
  /**
   * The longest the attempt may run once begun (the operator's limit). With it, an attempt whose progress says
   * it will end later than `ms` (a GPU much slower than the node's expected time said: a first task, before any
   * is measured) has its timer moved to 1.5 times its projected length and 30 s more, up to this: steady
   * progress is not a hung node. @defaultValue none: the timer stays
   */
  maxMs?: number;
  /** Called once if the attempt is still running after its time; the attempt stays recorded until settled. */
  onTimeout(attempt: RunningAttempt): void;
}

/** Slack beyond an attempt's projected length before a timer moved by its progress fires. */
const PROGRESS_SLACK_MS = 30_000;
/**
 * A timer that fires this late was not due while the gateway ran: the process slept (the machine suspended,
 * paused, or its event loop blocked), and the node's answer may wait unread in its socket. It is given
 * `AFTER_STALL_MS` more, for the frames of that time to be read, before the attempt times out.
 */
const STALL_LATENESS_MS = 5_000;
const AFTER_STALL_MS = 15_000;

/** What the scheduler records when it starts an attempt; `TTask` is its own record of the task. */
export type NewAttempt<TTask> = Omit<RunningAttempt, 'progress' | 'etaSeconds' | 'etaAt'> & { task: TTask };

interface Entry<TTask> extends RunningAttempt {
  readonly task: TTask;
  /** Changes only when the node comes back on a new connection and takes its attempts with it (`move`). */
  nodeId: string;
  resumed?: boolean;
  begunAt: number | null;
  progress: number;
  etaSeconds: number | null;
  etaAt: number | null;
  timer: Timer | undefined;
  timeout: AttemptTimeout | undefined;
  /** When its timer fires (clock ms), for a progress report to move it later. */
  deadline: number;
  /** Whether its timer already got the time allowed after the gateway slept (`#arm`). */
  extendedForStall?: true;
}

/** Reads of the ledger for those who must not change it (routes, views, the dispatcher's status answers). */
export interface AttemptReader {
  get(taskId: string): RunningAttempt | undefined;
  /** The attempts running on a node, oldest first. */
  onNode(nodeId: string): readonly RunningAttempt[];
  busySlots(nodeId: string): number;
  readonly size: number;
}

const NONE: readonly never[] = [];

export class AttemptLedger<TTask> implements AttemptReader {
  readonly #byTask = new Map<string, Entry<TTask>>();
  /** Per node, its attempts oldest first: an array (a node has a few), walked without an iterator object on every pass. */
  readonly #byNode = new Map<string, Entry<TTask>[]>();
  readonly #clock: Clock | undefined;

  /** Without a clock, attempts get no timeouts (the scheduler's simulation needs none). */
  constructor(clock?: Clock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#byTask.size;
  }

  start(attempt: NewAttempt<TTask>, timeout?: AttemptTimeout): RunningAttempt & { task: TTask } {
    if (this.#byTask.has(attempt.taskId)) throw new Error(`task ${attempt.taskId} already has a running attempt`);
    const entry: Entry<TTask> = { ...attempt, progress: 0, etaSeconds: null, etaAt: null, timer: undefined, timeout, deadline: Infinity };
    if (timeout && this.#clock) this.#arm(entry, timeout.ms);
    this.#byTask.set(entry.taskId, entry);
    const onNode = this.#byNode.get(entry.nodeId);
    if (onNode) onNode.push(entry);
    else this.#byNode.set(entry.nodeId, [entry]);
    return entry;
  }

  get(taskId: string): (RunningAttempt & { task: TTask }) | undefined {
    return this.#byTask.get(taskId);
  }

  onNode(nodeId: string): readonly (RunningAttempt & { task: TTask })[] {
    return this.#byNode.get(nodeId) ?? NONE;
  }

  busySlots(nodeId: string): number {
    return this.#byNode.get(nodeId)?.length ?? 0;
  }

  /** Notes progress its node reported; false for an attempt not running there (a stale frame). */
  noteProgress(where: { taskId: string; nodeId: string; attempt: number }, progress: number, etaSeconds: number | null): boolean {
    const entry = this.#byTask.get(where.taskId);
    if (!entry || entry.nodeId !== where.nodeId || entry.attempt !== where.attempt) return false;
    entry.progress = progress;
    entry.etaSeconds = etaSeconds;
    entry.etaAt = this.#clock?.now() ?? null;
    this.#extendByProgress(entry);
    return true;
  }

  /** Moves the timer of an attempt whose progress says it needs longer (`AttemptTimeout.maxMs`). */
  #extendByProgress(entry: Entry<TTask>): void {
    const maxMs = entry.timeout?.maxMs;
    if (maxMs === undefined || !this.#clock || !entry.timer || entry.begunAt === null || entry.progress <= 0 || entry.progress >= 1) return;
    const now = this.#clock.now();
    const projectedMs = (now - entry.begunAt) / entry.progress;
    const wanted = Math.min(entry.begunAt + maxMs, entry.begunAt + Math.round(1.5 * projectedMs) + PROGRESS_SLACK_MS);
    // Moved only later, and not for every report (a second's change is not worth a new timer).
    if (wanted <= entry.deadline + 1_000) return;
    entry.timer.cancel();
    this.#arm(entry, wanted - now);
  }

  #arm(entry: Entry<TTask>, ms: number): void {
    const timeout = entry.timeout!;
    const clock = this.#clock!;
    entry.deadline = clock.now() + ms;
    entry.timer = clock.setTimeout(() => {
      // Once per attempt: a loop late again and again must not keep a hung attempt alive.
      if (clock.now() - entry.deadline > STALL_LATENESS_MS && !entry.extendedForStall) {
        entry.extendedForStall = true;
        this.#arm(entry, AFTER_STALL_MS);
      } else timeout.onTimeout(entry);
    }, ms);
  }

  /**
   * Ends the attempt of `taskId` running on `nodeId` (any node when omitted, for
   * a cancel) and, with `attempt`, only that attempt (a timer of an earlier one
   * must not end a later one). Answers the attempt to the first caller only.
   * When an attempt its node had begun ends, the oldest one waiting behind it
   * there begins at `now`.
   */
  settle(taskId: string, where: { nodeId?: string; attempt?: number }, now: number): (RunningAttempt & { task: TTask }) | undefined {
    const entry = this.#byTask.get(taskId);
    if (!entry) return undefined;
    if (where.nodeId !== undefined && entry.nodeId !== where.nodeId) return undefined;
    if (where.attempt !== undefined && entry.attempt !== where.attempt) return undefined;
    entry.timer?.cancel();
    this.#byTask.delete(taskId);
    const onNode = this.#byNode.get(entry.nodeId);
    if (onNode) {
      onNode.splice(onNode.indexOf(entry), 1);
      if (onNode.length === 0) this.#byNode.delete(entry.nodeId);
      const next = entry.begunAt === null ? undefined : onNode.find((other) => other.begunAt === null);
      if (next) this.#begin(next, now);
    }
    return entry;
  }

  /**
   * The node of `taskId`'s attempt came back on a new connection (`toNodeId`) and still holds it: the attempt
   * runs on there, its timer and progress as they were. False unless that attempt runs on `fromNodeId`.
   */
  move(where: { taskId: string; attempt: number; fromNodeId: string }, toNodeId: string): boolean {
    const entry = this.#byTask.get(where.taskId);
    if (!entry || entry.nodeId !== where.fromNodeId || entry.attempt !== where.attempt) return false;
    const from = this.#byNode.get(entry.nodeId)!;
    from.splice(from.indexOf(entry), 1);
    if (from.length === 0) this.#byNode.delete(entry.nodeId);
    entry.nodeId = toNodeId;
    entry.resumed = true;
    // Oldest first on the new node too: the attempts a node brings back come before any it was sent since.
    const onNode = this.#byNode.get(toNodeId);
    if (onNode) {
      const at = onNode.findIndex((other) => other.startedAt > entry.startedAt);
      onNode.splice(at === -1 ? onNode.length : at, 0, entry);
    } else this.#byNode.set(toNodeId, [entry]);
    return true;
  }

  /** An attempt that waited on its node begins: its timer starts again, without the time allowed for waiting. */
  #begin(entry: Entry<TTask>, now: number): void {
    entry.begunAt = now;
    const { timeout } = entry;
    if (!timeout || !this.#clock || !entry.timer) return;
    entry.timer.cancel();
    this.#arm(entry, timeout.ms - (timeout.waitMs ?? 0));
  }

  /** Cancels every timer (gateway shutdown); the attempts stay recorded. */
  close(): void {
    for (const entry of this.#byTask.values()) entry.timer?.cancel();
  }
}
