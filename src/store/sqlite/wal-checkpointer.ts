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
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
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

export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #stopping = false;

  constructor(options: WalCheckpointerOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file: options.file, intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS },
    });
    // A checkpointer alone must not keep the gateway's process alive.
    this.#worker.unref();
    this.#worker.on('message', (message: { error?: string }) => {
      if (message.error) options.onCheckpointError?.(message.error);
    });
    let failure: Error | undefined;
    this.#worker.once('error', (error) => (failure = error));
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', (code) => {
        if (!this.#stopping) options.onGone(failure ?? new Error(`WAL checkpoint worker exited (${code})`));
        resolve();
      }),
    );
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
