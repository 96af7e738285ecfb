/**
 * @module store/sqlite/wal-checkpointer
 *
 * Checkpoints the SQLite write-ahead log from a worker thread. By default
 * SQLite checkpoints inside whichever commit pushes the WAL past 1,000 pages:
 * that commit copies the pages into the database file and fsyncs it, and with
 * better-sqlite3 (synchronous) this stalls the gateway's event loop for 5–15 ms
 * every few hundred tasks: the p99 of `npm run bench`. The gateway's own
 * connection therefore turns automatic checkpoints off, and this worker, with
 * a connection of its own, runs a PASSIVE checkpoint (it never blocks a
 * writer) on a timer.
 *
 * The worker is eval'd source rather than a file, so it runs the same way from
 * `dist/` and from the TypeScript sources under the test runner.
 *
 * `nextCheckpoint()` resolves when a checkpoint that started after the call has
 * finished, so a test can wait for the log to be reused instead of sleeping.
 * Requests carry a sequence number: the worker reports the highest one it had
 * received when a checkpoint began, so a checkpoint already under way (or
 * already reported, its message still in flight) never answers a later request.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints. @defaultValue 1 s */
const DEFAULT_INTERVAL_MS = 1_000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
let asked = 0;
let answered = 0;
const checkpoint = () => {
  const covers = asked;
  let error;
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    error = String(e && e.message || e);
    parentPort.postMessage({ error });
  }
  if (covers > answered) {
    answered = covers;
    parentPort.postMessage({ checkpointed: covers, failed: error });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (typeof message === 'number') {
    asked = Math.max(asked, message);
    return;
  }
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface WalCheckpointerOptions {
  /** The database file; it must exist (the gateway's connection created it). */
  file: string;
  intervalMs?: number | undefined;
  /** Told when one checkpoint fails (the next one tries again). */
  onCheckpointError?: (message: string) => void;
  /**
   * Told when the worker cannot start or dies: nothing checkpoints any more, so
   * the owner should turn SQLite's automatic checkpoints back on.
   */
  onGone: (error: Error) => void;
}

interface WorkerMessage {
  /** One checkpoint failed. */
  error?: string;
  /** A checkpoint finished that began after request number `checkpointed` (and every earlier one) was received. */
  checkpointed?: number;
  /** Set when that checkpoint failed. */
  failed?: string;
}

export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #stopping = false;
  #requests = 0;
  /** Why the worker is no longer there to ask, once it is not. */
  #gone: string | undefined;
  /** Callers of `nextCheckpoint`, by request number. */
  readonly #waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  constructor(options: WalCheckpointerOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file: options.file, intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS },
    });
    // A checkpointer alone must not keep the gateway's process alive.
    this.#worker.unref();
    this.#worker.on('message', (message: WorkerMessage) => {
      if (message.error) options.onCheckpointError?.(message.error);
      if (message.checkpointed !== undefined) this.#settle(message.checkpointed, message.failed);
    });
    let failure: Error | undefined;
    this.#worker.once('error', (error) => (failure = error));
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', (code) => {
        const gone = failure ?? new Error(`WAL checkpoint worker exited (${code})`);
        if (!this.#stopping) options.onGone(gone);
        this.#gone = this.#stopping ? 'the WAL checkpointer was stopped' : gone.message;
        this.#settle(Infinity, this.#gone);
        resolve();
      }),
    );
  }

  /** Resolves when a checkpoint that began after this call has finished; rejects if it failed or the worker is gone. */
  nextCheckpoint(): Promise<void> {
    if (this.#gone !== undefined) return Promise.reject(new Error(`WAL checkpoint failed: ${this.#gone}`));
    const request = ++this.#requests;
    return new Promise((resolve, reject) => {
      this.#waiting.set(request, { resolve, reject });
      this.#worker.postMessage(request);
    });
  }

  /** Answers the requests up to `request`. */
  #settle(request: number, failed: string | undefined): void {
    for (const [number, waiter] of this.#waiting) {
      if (number > request) continue;
      this.#waiting.delete(number);
      if (failed === undefined) waiter.resolve();
      else waiter.reject(new Error(`WAL checkpoint failed: ${failed}`));
    }
  }

  /** Stops the timer and closes the worker's connection. */
  async stop(): Promise<void> {
    this.#stopping = true;
    // Held until it has closed its connection: unref'd, a process with nothing else left to do would end
    // with this wait unsettled (exit code 13), and the store's own connection never closed.
    this.#worker.ref();
    this.#worker.postMessage('stop');
    await this.#exited;
  }
}
