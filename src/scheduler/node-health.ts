/**
 * @module scheduler/node-health
 *
 * Nodes that keep failing are set aside for a while, by node name (so a
 * reconnect does not clear the record): after `threshold` failed attempts in a
 * row a node gets no work for `baseMs`, doubling on each new set-aside up to
 * `maxMs`; a success clears the streak. Only failures that say something
 * about the node count (its WebUI failed or answered garbage, it timed out or
 * vanished), not a request its WebUI refused as invalid. Pure: the caller
 * passes the time.
 */

interface Record {
  streak: number;
  setAsides: number;
  until: number;
  lastReason: string;
}

export interface SetAside {
  until: number;
  reason: string;
}

export class NodeHealth {
  readonly #byName = new Map<string, Record>();
  readonly #threshold: number;
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(options: { threshold?: number; baseMs?: number; maxMs?: number } = {}) {
    this.#threshold = options.threshold ?? 3;
    this.#baseMs = options.baseMs ?? 60_000;
    this.#maxMs = options.maxMs ?? 15 * 60_000;
  }

  /** Records a failed attempt; returns the set-aside it caused, if any. */
  failed(name: string, reason: string, now: number): SetAside | null {
    const record = this.#byName.get(name) ?? { streak: 0, setAsides: 0, until: 0, lastReason: '' };
    record.streak += 1;
    record.lastReason = reason;
    this.#byName.set(name, record);
    if (record.streak < this.#threshold) return null;
    record.streak = 0;
    record.until = now + Math.min(this.#maxMs, this.#baseMs * 2 ** record.setAsides);
    record.setAsides += 1;
    return { until: record.until, reason };
  }

  succeeded(name: string): void {
    const record = this.#byName.get(name);
    if (record) record.streak = 0;
  }

  /** The current set-aside of a node, or null when it may take work. */
  setAside(name: string, now: number): SetAside | null {
    const record = this.#byName.get(name);
    return record && record.until > now ? { until: record.until, reason: record.lastReason } : null;
  }
}
