/**
 * A task store that fails on demand: it forwards to a real store, except the
 * operations a test has switched to failing, which reject as a full disk
 * would (DAN_ERR_STORE_UNAVAILABLE), changing nothing.
 */
import { DanError } from '../../src/errors/dan-error.js';
import type { TaskStore } from '../../src/store/task-store.js';

type Operation = Exclude<keyof TaskStore, 'close'>;

export class FailingStore implements TaskStore {
  readonly failing = new Set<Operation>();
  /** How many calls of each operation were refused. */
  readonly refused = new Map<Operation, number>();

  /** `cause`: what the refusals say went wrong (a real one names the store's files). */
  constructor(
    readonly inner: TaskStore,
    readonly cause = "ENOSPC: no space left on device (a test's full disk)",
  ) {}

  /** Refusals come a turn of the event loop late, as a database's answer would (after what that turn ran). */
  late = false;

  #call<T>(operation: Operation, run: () => Promise<T>): Promise<T> {
    if (!this.failing.has(operation)) return run();
    this.refused.set(operation, (this.refused.get(operation) ?? 0) + 1);
    const refusal = new DanError('DAN_ERR_STORE_UNAVAILABLE', `could not ${operation}: ${this.cause}`);
    if (this.late) return new Promise((_, reject) => setImmediate(() => reject(refusal)));
    return Promise.reject(refusal);
  }

  insert: TaskStore['insert'] = (...args) => this.#call('insert', () => this.inner.insert(...args));
  get: TaskStore['get'] = (...args) => this.#call('get', () => this.inner.get(...args));
  markRunning: TaskStore['markRunning'] = (...args) => this.#call('markRunning', () => this.inner.markRunning(...args));
  requeue: TaskStore['requeue'] = (...args) => this.#call('requeue', () => this.inner.requeue(...args));
  complete: TaskStore['complete'] = (...args) => this.#call('complete', () => this.inner.complete(...args));
  fail: TaskStore['fail'] = (...args) => this.#call('fail', () => this.inner.fail(...args));
  cancel: TaskStore['cancel'] = (...args) => this.#call('cancel', () => this.inner.cancel(...args));
  listUnfinished: TaskStore['listUnfinished'] = () => this.#call('listUnfinished', () => this.inner.listUnfinished());
  listRunningHere: TaskStore['listRunningHere'] = () => this.#call('listRunningHere', () => this.inner.listRunningHere());
  deleteFinishedBefore: TaskStore['deleteFinishedBefore'] = (at) => this.#call('deleteFinishedBefore', () => this.inner.deleteFinishedBefore(at));
  ping: TaskStore['ping'] = () => this.#call('ping', () => this.inner.ping());
  findIdempotent: TaskStore['findIdempotent'] = (...args) => this.#call('findIdempotent', () => this.inner.findIdempotent(...args));
  close = (): Promise<void> => this.inner.close();
}
