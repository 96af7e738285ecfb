/**
 * @module api/turn-admission
 *
 * At most a few POST requests (submits, uploads, the front doors) go on to have their body read and be
 * handled in each turn of the event loop; the others wait, in the order they came, for the next turns.
 * Requests without a body (GET: status polls, the dashboard), the small POSTs of routes marked `readAtOnce`
 * (a status asked by POST, a cancel, the WebUI's interrupt and skip) and requests refused by the checks made
 * before a body is read (a wrong key, a rate limit, the address's bodies on their way: onRequest hooks)
 * never wait. A request whose client hangs up while it waits is dropped unread when its turn comes.
 *
 * Why: a turn handles every request that came in during the turn before. A client keeping 64 submits in
 * flight had the gateway take all 64 in one turn, a submit costing about 0.6 ms of its main thread (reading
 * and checking the body, the store's insert, the queue, the answer with an ETA): turns of 40–100 ms, in
 * which results from nodes and status polls waited. Eight a turn, measured over 1,000 fake nodes with
 * 20,000 tasks submitted that way (bench:fleet, alternated runs): the event loop's p99 while submitting
 * 37 and 42 ms against 70 and 58 ms, at 1,340 and 1,640 submits a second against 1,300 and 1,350; four a
 * turn gave 27 and 37 ms; sixteen, no gain (BENCHMARKS.md, decision 0013). Session 33 alternated four
 * against eight again: the flood's p99 29 and 30 ms against 35 and 34 ms at 1,000 nodes, 28 and 30 against
 * 29 and 43 at 10 nodes, but the fleet taken at its own pace (the paced run) 17–24 ms against 12–15 ms, with
 * fewer tasks held ready (72–84 % against 94 %): eight it stayed. But that bench ran its client at the gateway's
 * priority (session 35 found it and lowered the client and the fleet, as other machines would be). Alternated
 * again then, five pairs: the flood's p99 14–20 ms with four against 22–27 ms with eight, at 1,340–1,710 submits a
 * second against 1,160–1,780; the paced run 7.5–10 ms against 5–9.7 ms, tasks held ready alike (89–94 %, once
 * 80 %): four it is.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../util/logger.js';

/** Requests with a body let through per turn of the event loop (see the module's comment). */
export const BODIES_PER_TURN = 4;

/** Lets `perTurn` callers go on per turn of the event loop, the rest in later turns in the order they came. */
export class TurnAdmission {
  #admitted = 0;
  #turnDue = false;
  readonly #waiting: (() => void)[] = [];
  /** Where the waiting start in `#waiting` (taken from the front without shifting the array). */
  #head = 0;

  constructor(
    readonly perTurn: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Calls `go` now if this turn has room and nobody waits, else in a later turn. */
  admit(go: () => void): void {
    this.#turnSoon();
    if (this.#admitted < this.perTurn && this.waiting === 0) {
      this.#admitted += 1;
      go();
      return;
    }
    this.#waiting.push(go);
  }

  /** How many wait for a later turn. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /** The next turn starts its count again (`setImmediate`: after this turn's I/O, before the next turn's). */
  #turnSoon(): void {
    if (this.#turnDue) return;
    this.#turnDue = true;
    setImmediate(() => this.#nextTurn());
  }

  #nextTurn(): void {
    this.#turnDue = false;
    this.#admitted = 0;
    while (this.#admitted < this.perTurn && this.waiting > 0) {
      const go = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = NO_ONE;
      this.#admitted += 1;
      try {
        go();
      } catch (error) {
        this.onError(error);
      }
    }
    if (this.waiting === 0) {
      this.#waiting.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && 2 * this.#head > this.#waiting.length) {
      this.#waiting.splice(0, this.#head);
      this.#head = 0;
    }
    // Those let through now count against the next turn's new requests too: its count starts again after it.
    if (this.waiting > 0 || this.#admitted > 0) this.#turnSoon();
  }
}

const NO_ONE = (): void => undefined;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A small request answered at once (a status, a cancel): it never waits behind requests with a body. */
    readAtOnce?: boolean;
  }
}

/**
 * Holds POST requests, after the checks made before a body is read, to `perTurn` a turn (0: no limit).
 * Returns the admission (how many wait: `dan_http_requests_waiting`), or undefined with no limit.
 */
export function admitBodiesInTurns(app: FastifyInstance, log: Logger, perTurn = BODIES_PER_TURN): TurnAdmission | undefined {
  if (perTurn <= 0) return undefined;
  const admission = new TurnAdmission(perTurn, (error) => log.error({ err: error }, 'a request let through in a later turn failed'));
  // preParsing: after the onRequest hooks (keys, rate limits, the address's bodies on their way), before the body is read.
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (request.method !== 'POST' || request.routeOptions.config.readAtOnce === true) {
      done(null, payload);
      return;
    }
    admission.admit(() => {
      try {
        done(null, payload);
      } catch (error) {
        // Let through in a later turn, outside Fastify's own hook call: answer it here, or nobody would.
        log.error({ err: error }, 'a request let through in a later turn failed');
        if (!reply.sent) void reply.send(error);
      }
    });
  });
  return admission;
}
