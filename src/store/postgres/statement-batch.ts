/**
 * @module store/postgres/statement-batch
 *
 * Calls made at about the same time, run as one statement over arrays
 * (`unnest`): the starts of one scheduling pass, the results that arrive in
 * one turn of the event loop. A round trip and a commit per task were most of
 * the PostgreSQL store's cost at hundreds of tasks a second (bench:scale); the
 * SQLite store shares its commits the same way (sqlite-task-store.ts
 * `#inBatch`).
 */

interface Waiting<Item> {
  item: Item;
  resolve: (done: boolean) => void;
  reject: (error: unknown) => void;
}

export class StatementBatch<Item> {
  readonly #run: (items: readonly Item[]) => Promise<ReadonlySet<string>>;
  readonly #keyOf: (item: Item) => string;
  readonly #at: 'microtask' | 'turn';
  #waiting: Waiting<Item>[] = [];

  /**
   * `run` makes the statement for the items gathered and answers the keys (`keyOf`) of those it changed;
   * `at`: how long an item may wait for company (until the running code yields, or for the turn).
   */
  constructor(options: { run: (items: readonly Item[]) => Promise<ReadonlySet<string>>; keyOf: (item: Item) => string; at: 'microtask' | 'turn' }) {
    this.#run = options.run;
    this.#keyOf = options.keyOf;
    this.#at = options.at;
  }

  /** Resolves whether the statement changed this item's row; rejects as the statement did. */
  add(item: Item): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) {
        if (this.#at === 'microtask') queueMicrotask(() => void this.#flush());
        else setImmediate(() => void this.#flush());
      }
      this.#waiting.push({ item, resolve, reject });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = [];
    try {
      const changed = new Set(await this.#run(batch.map((w) => w.item)));
      // The same change asked twice made it once: the first asker's, as if they had come one after the other.
      for (const w of batch) w.resolve(changed.delete(this.#keyOf(w.item)));
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}
