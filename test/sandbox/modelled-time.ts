/**
 * Runs a sandbox on a FakeClock and moves the clock through the modelled waits
 * the sandbox announces (`sandbox.jobs` emits 'wait' once a job's timer is
 * set), so that tests assert modelled durations exactly and spend no real time
 * waiting for them. Only the sandbox's clock is fake: its sockets and sharp
 * run for real, which is why a test waits for the announcement (an event)
 * before it moves the clock, instead of guessing when the request got there.
 */
import { startSandbox, type ModelledWait, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { FakeClock } from '../helpers/fake-clock.js';

export interface Finished<T> {
  value: T;
  /** Milliseconds of the clock from `since` to the moment the work settled. */
  ms: number;
  /** The waits the clock was moved through, in order. */
  waits: ModelledWait[];
}

export class ModelledTime {
  readonly clock = new FakeClock();
  /** Waits announced and not taken yet, oldest first. */
  readonly #unseen: ModelledWait[] = [];
  #wake = (): void => {};

  /** A sandbox on this clock whose waits this object hears of. */
  async start(options: Omit<SandboxOptions, 'clock'> = {}): Promise<Sandbox> {
    const sandbox = await startSandbox({ ...options, clock: this.clock });
    sandbox.jobs.on('wait', (wait) => {
      this.#unseen.push(wait);
      this.#wake();
    });
    return sandbox;
  }

  /** The oldest wait not taken yet, or the next to start; its timer is set when this resolves. */
  async nextWait(): Promise<ModelledWait> {
    const wait = await this.#take(new Promise<never>(() => {}));
    if (!wait) throw new Error('unreachable: taking without an end resolves only with a wait');
    return wait;
  }

  /**
   * Moves the clock to the end of the wait under way (one `nextWait` took), if
   * any, then of each wait that starts, until `work` settles. Only for work no
   * other job is queued behind: their waits would be run too, before the answer
   * to `work` crossed its socket.
   */
  async finish<T>(work: Promise<T>, since = this.clock.now()): Promise<Finished<T>> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    // Only the sandbox's job timers live on this clock and one job waits at a time:
    // a timer with no unseen wait is that of the wait taken last.
    if (this.#unseen.length === 0 && this.clock.pending > 0) await this.clock.next();
    const waits: ModelledWait[] = [];
    for (let wait = await this.#take(settled); wait; wait = await this.#take(settled)) {
      waits.push(wait);
      await this.clock.next();
    }
    return { value: await work, ms: this.clock.now() - since, waits };
  }

  /** The oldest unseen wait, waiting for one; undefined once `end` settles first. */
  async #take(end: Promise<unknown>): Promise<ModelledWait | undefined> {
    for (;;) {
      const wait = this.#unseen.shift();
      if (wait) return wait;
      const woken = new Promise<boolean>((resolve) => (this.#wake = () => resolve(true)));
      if (!(await Promise.race([woken, end.then(() => false)]))) return undefined;
    }
  }
}
