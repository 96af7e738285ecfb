/**
 * @module node/held-answers
 *
 * What a node holds for the gateway across a dropped connection (protocol 4), besides the tasks it
 * runs: answers (result or failure frames) made while no connection was up, and answers sent that may
 * not have arrived. A connection delivers in order, so an answer surely arrived once the gateway answered
 * a ping sent after it; until then it is kept, and named again if the connection drops first.
 *
 * The hello after a drop names what the node holds (`claims`); the welcome says which of those the
 * gateway still waits for (`takeUp`): those answers are sent again, the rest dropped. Pairs of task and
 * attempt throughout: a task may come back to the node as a later attempt after failing on it.
 */
import { MAX_HELD } from '../protocol/messages.js';

/** An answer (result or failure frame) for one attempt of a task. */
export interface Answer {
  taskId: string;
  attempt: number;
  frame: string | Buffer;
}

/** One attempt a hello names. */
export interface Claim {
  taskId: string;
  attempt: number;
}

/** What to do after a welcome (`takeUp`): answers to send again, attempts that run on, and attempts the gateway wants that the node no longer holds. */
export interface TakeUp {
  send: Answer[];
  /** Running attempts to keep (the others are given up). */
  keep: Set<string>;
  /** Attempts the welcome resumed that the node holds nothing of any more (given up as its grace ended): to be answered with a failure. */
  lost: Claim[];
}

/** One attempt of one task, as a map key. */
const keyOf = (claim: Claim): string => `${claim.attempt}:${claim.taskId}`;

export class HeldAnswers {
  /** Answers made while no connection was welcomed. */
  readonly #unsent = new Map<string, Answer>();
  /** Answers sent on this connection, each with the number of pings sent before it, oldest first. */
  readonly #unconfirmed: (Answer & { pingsBefore: number })[] = [];
  /** Pings sent and answered on this connection; a pong answers the oldest ping not yet answered. */
  readonly #pings = { sent: 0, answered: 0 };
  /** What the last hello named: the welcome's `resumed` is matched against these attempts. */
  #named = new Map<string, number>();

  /** Answers held that the gateway may still want. */
  get size(): number {
    return this.#unsent.size + this.#unconfirmed.length;
  }

  /** A new connection was welcomed: its pings count from 0 (answers of the old one were taken up first). */
  connectionOpened(): void {
    this.#pings.sent = 0;
    this.#pings.answered = 0;
  }

  pingSent(): void {
    this.#pings.sent += 1;
  }

  /** A pong: answers sent before the ping it answers surely arrived. */
  pongReceived(): void {
    this.#pings.answered = Math.min(this.#pings.answered + 1, this.#pings.sent);
    const pending = this.#unconfirmed.findIndex((answer) => answer.pingsBefore >= this.#pings.answered);
    this.#unconfirmed.splice(0, pending === -1 ? this.#unconfirmed.length : pending);
  }

  /** An answer handed to an open, welcomed connection. */
  sent(answer: Answer): void {
    this.#unconfirmed.push({ ...answer, pingsBefore: this.#pings.sent });
  }

  /** An answer made while no connection is welcomed: kept for the next welcome. */
  keep(answer: Answer): void {
    this.#unsent.set(keyOf(answer), answer);
  }

  /**
   * The attempts to name in a hello: the running ones (`running`, which come first and are never left
   * out), then answers not surely received, newest first, up to what a hello may name.
   */
  claims(running: Iterable<Claim>): Claim[] {
    // One attempt per task, the latest: a task the node runs again (it failed here before) is past the earlier one.
    const named = new Map<string, number>();
    for (const { taskId, attempt } of running) named.set(taskId, Math.max(attempt, named.get(taskId) ?? 0));
    const answers = [...this.#unconfirmed, ...this.#unsent.values()].reverse();
    for (const { taskId, attempt } of answers) {
      if (named.size >= MAX_HELD && !named.has(taskId)) continue;
      named.set(taskId, Math.max(attempt, named.get(taskId) ?? 0));
    }
    this.#named = named;
    return [...named].map(([taskId, attempt]) => ({ taskId, attempt }));
  }

  /**
   * The welcome named `resumed` (task ids of the last hello's claims): the answers of those attempts are
   * to be sent again, their running attempts kept; every other answer is dropped. `running`: the attempts
   * the node runs now.
   */
  takeUp(resumed: readonly string[], runningNow: Iterable<Claim>): TakeUp {
    const running = [...runningNow];
    const answers = [...this.#unconfirmed.splice(0), ...this.#unsent.values()];
    this.#unsent.clear();
    const named = this.#named;
    this.#named = new Map();
    const taken: TakeUp = { send: [], keep: new Set(), lost: [] };
    for (const taskId of resumed) {
      // The attempt the hello named of it; a task id it did not name is none of this node's.
      const attempt = named.get(taskId);
      if (attempt === undefined) continue;
      const answer = answers.find((a) => a.taskId === taskId && a.attempt === attempt);
      if (answer) taken.send.push(answer);
      else if (running.some((c) => c.taskId === taskId && c.attempt === attempt)) taken.keep.add(taskId);
      else taken.lost.push({ taskId, attempt });
    }
    return taken;
  }

  /**
   * The node gave up what it held (its grace ended). What the last hello named is kept: a welcome still
   * to come for it learns from `takeUp` which of those the node no longer holds.
   */
  clear(): void {
    this.#unsent.clear();
    this.#unconfirmed.length = 0;
  }
}
