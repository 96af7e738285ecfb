/**
 * @module util/repeated-warning
 *
 * A warning that would repeat every second while something stays wrong (the
 * database away: the keys read again every second, nodes published every few
 * seconds): said when it starts, then at most once a minute with how often it
 * happened meanwhile, and a line when it stops. An outage of two minutes is a
 * few lines in the log, not hundreds.
 */
import type { Logger } from './logger.js';

const SAY_AGAIN_MS = 60_000;

export class RepeatedWarning {
  #since: number | null = null;
  #saidAt = 0;
  #unsaid = 0;

  /** `what`: the warning (`could not read the keys again`); `recovered`: said when it stops (`the keys are read again`). */
  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly recovered: string,
    private readonly now: () => number = Date.now,
  ) {}

  failed(error: unknown): void {
    const now = this.now();
    if (this.#since === null) {
      this.#since = now;
      this.#saidAt = now;
      this.#unsaid = 0;
      this.log.warn({ err: error }, this.what);
      return;
    }
    this.#unsaid += 1;
    if (now - this.#saidAt < SAY_AGAIN_MS) return;
    this.log.warn({ err: error, times: this.#unsaid, sinceSeconds: Math.round((now - this.#since) / 1000) }, `${this.what} (still; ${this.#unsaid} more times since it was last said)`);
    this.#saidAt = now;
    this.#unsaid = 0;
  }

  succeeded(): void {
    if (this.#since === null) return;
    this.log.info({ afterSeconds: Math.round((this.now() - this.#since) / 1000) }, this.recovered);
    this.#since = null;
  }
}
