/**
 * @module auth/key-ring
 *
 * The gateway's index of the keys that work: secret hash → key, in memory, so
 * that checking a key costs a hash and a map lookup, not a query. It follows
 * the store: changes made through the gateway (the admin API) are applied at
 * once; changes made by another process (`dan keys revoke` on the same store)
 * are noticed by the store's change mark at the next request and read again.
 */
import { type ApiKeyRecord, hashApiKey, sameHash } from './api-key.js';
import type { KeyStore } from './key-store.js';

export class KeyRing {
  readonly #store: KeyStore;
  /** Every key by hash, revoked ones too (a revoked key gets its own message). */
  #byHash = new Map<string, ApiKeyRecord>();
  #mark = Number.NaN;
  #reading: Promise<void> | null = null;

  constructor(store: KeyStore) {
    this.#store = store;
  }

  /** Reads every key from the store. */
  async load(): Promise<void> {
    this.#mark = this.#store.changeMark();
    const keys = await this.#store.list();
    this.#byHash = new Map(keys.map((key) => [key.hash, key]));
  }

  /** The key whose secret this is (revoked or not), or undefined for a secret no key has. */
  async find(secret: string): Promise<ApiKeyRecord | undefined> {
    if (this.#store.changeMark() !== this.#mark) await this.#reload();
    const hash = hashApiKey(secret);
    const key = this.#byHash.get(hash);
    // The map compares strings, which may stop at the first differing character; the stored hash is
    // compared again in constant time, so no timing tells how close a guess came.
    return key && sameHash(key.hash, hash) ? key : undefined;
  }

  /** A key changed through this gateway: applied at once. */
  changed(key: ApiKeyRecord): void {
    this.#byHash.set(key.hash, key);
  }

  #reload(): Promise<void> {
    this.#reading ??= this.load().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }
}
