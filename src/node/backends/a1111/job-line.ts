/**
 * @module node/backends/a1111/job-line
 *
 * The driver's runs in the order the WebUI runs them. A1111 runs one job at a
 * time behind its queue lock, and lets go of the lock before it encodes the
 * images it answers with (backends.md A.2, step 7): a request already waiting
 * on the lock starts at once, while the one before it is still being encoded
 * and sent. So the driver sends a run while the one before it is in flight,
 * and the GPU does not wait for that encoding, the answer's way to the node,
 * the result's way to the gateway and the next task's way back.
 *
 * A run waits in line before it is sent until the run just before it is seen
 * near its end on the WebUI (or has ended), and every run before that has
 * ended: of requests waiting on its lock together, A1111 does not say which it
 * takes next, and the job before is interrupted on a cancel only while nothing
 * was sent behind it (near its end, an interrupt could stop the next job). One
 * that must load another checkpoint waits for every run before it to end: the
 * load is timed alone, and must not change the weights under a run before it.
 */

/** A run's place in line, from `JobLine.join` until `leave`. */
export interface Place {
  /** Resolves once every run before it has ended: the WebUI runs this one now (or will at once). */
  readonly begun: Promise<void>;
  /**
   * Resolves once the runs before it have ended, all but the one just before it, and that one was seen
   * near its end (`nearEnd`): it may be sent to wait on the WebUI's lock, which it takes next.
   */
  readonly mayQueue: Promise<void>;
  /** Resolves once a run joined the line after it (the driver then watches for this one's end to near). */
  readonly followerJoined: Promise<void>;
  /** Resolves once it left the line. */
  readonly ended: Promise<void>;
  /** Whether some run was in line before it when it joined (else `begun` is at once). */
  readonly behind: boolean;
  /** The checkpoint the runs before it leave loaded; undefined with none before it. */
  readonly loadedBefore: string | null | undefined;
  /** Notes that its request was sent. */
  sent(): void;
  /** Notes that the WebUI was seen running its job near its end (it holds the lock, for a little while yet). */
  nearEnd(): void;
  /**
   * Whether a run after it was sent while it had not ended (even if that one has ended since): the WebUI
   * may already have begun that one (this one done with the lock, its answer on the way), and
   * `/sdapi/v1/interrupt` stops whichever job runs, so this run must not be interrupted (it was near its
   * end when that one was sent), nor its progress read from `/sdapi/v1/progress`.
   */
  followed(): boolean;
  /** Whether the run just before it left having failed (its checkpoint load may not have happened). */
  beforeFailed(): boolean;
  /** It ended (`ok`: answered; else failed or given up): the runs after it move up. */
  leave(ok: boolean): void;
}

interface Entry {
  ended: Promise<void>;
  end(): void;
  /** Resolves once it was seen near its end, or ended. */
  seenNearEnd: Promise<void>;
  /** A run joined the line after it. */
  markJoinedBehind(): void;
  /** A run after it was sent while it had not ended (it stays so, once that one is answered too). */
  followed: boolean;
  /** Left without an answer. */
  failed: boolean;
  /** The checkpoint loaded once it ran. */
  leaves: string | null;
}

export class JobLine {
  /** Runs joined and not left, first come first. */
  readonly #entries: Entry[] = [];

  /**
   * Takes the next place in line. `leaves`: the checkpoint loaded once the run is done, or undefined
   * for a run that loads none (it leaves what the runs before it left, or `loadedNow`).
   */
  join(leaves: string | null | undefined, loadedNow: string | null): Place {
    const ahead = [...this.#entries];
    const last = ahead.at(-1);
    const ended = settable();
    const seen = settable();
    const followed = settable();
    void ended.promise.then(seen.set);
    const entry: Entry = {
      ended: ended.promise,
      end: ended.set,
      seenNearEnd: seen.promise,
      markJoinedBehind: followed.set,
      followed: false,
      failed: false,
      leaves: leaves === undefined ? (last?.leaves ?? loadedNow) : leaves,
    };
    last?.markJoinedBehind();
    this.#entries.push(entry);
    const entries = this.#entries;
    const all = (promises: Promise<void>[]) => Promise.all(promises).then(() => undefined);
    return {
      begun: all(ahead.map((e) => e.ended)),
      mayQueue: all([...ahead.slice(0, -1).map((e) => e.ended), ...(last ? [last.seenNearEnd] : [])]),
      followerJoined: followed.promise,
      ended: ended.promise,
      behind: last !== undefined,
      loadedBefore: last?.leaves,
      sent: () => {
        for (const before of entries.slice(0, entries.indexOf(entry))) before.followed = true;
      },
      nearEnd: seen.set,
      followed: () => entry.followed,
      beforeFailed: () => last?.failed ?? false,
      leave: (ok) => {
        entry.failed = !ok;
        const index = entries.indexOf(entry);
        if (index >= 0) entries.splice(index, 1);
        entry.end();
      },
    };
  }
}

function settable(): { promise: Promise<void>; set: () => void } {
  let set = (): void => {};
  const promise = new Promise<void>((resolve) => (set = resolve));
  return { promise, set };
}

/** Waits for `promise` (its value, or its rejection), or rejects with the abort reason once `signal` aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
