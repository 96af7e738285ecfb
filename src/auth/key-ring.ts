/**
 * @module auth/key-ring
 *
 * The gateway's index of credentials (API keys and node tokens): secret hash →
 * record, in memory, so that checking one costs a hash and a map lookup, not a
 * query. It follows the store: changes made through the gateway (the admin
 * API) are applied at once; changes made by another process (`dan keys revoke`
 * on the same store) are noticed by the store's change mark, at an API
 * request's lookup or by `refresh()`, which the gateway runs every second so
 * that a revoked node token's nodes are disconnected without waiting for a
 * request. Listeners hear every change.
 */
import { timingSafeEqual } from 'node:crypto';
import { type ApiKeyRecord, type CredentialKind, hashApiKey } from './api-key.js';
import type { KeyStore } from './key-store.js';

/** How often the store's change mark is looked at, at most. */
const CHECK_EVERY_MS = 200;
/** Secrets whose hash is remembered. */
const HASHES_KEPT = 10_000;

export class KeyRing {
  readonly #store: KeyStore;
  /** Every credential by hash, revoked ones too (a revoked one gets its own message). */
  #byHash = new Map<string, ApiKeyRecord>();
  #byId = new Map<string, ApiKeyRecord>();
  #mark = Number.NaN;
  #reading: Promise<void> | null = null;
  #checkedAt = Number.NEGATIVE_INFINITY;
  readonly #hashes = new Map<string, { hex: string; bytes: Buffer }>();
  /** Each loaded credential's digest as bytes, for the constant-time compare. */
  readonly #storedDigests = new WeakMap<ApiKeyRecord, Buffer>();
  readonly #listeners = new Set<() => void>();

  readonly #checkEveryMs: number;

  /** `checkEveryMs`: how often, at most, the store's change mark is looked at. @defaultValue 200 ms */
  constructor(store: KeyStore, options: { checkEveryMs?: number } = {}) {
    this.#store = store;
    this.#checkEveryMs = options.checkEveryMs ?? CHECK_EVERY_MS;
  }

  /** Reads every credential from the store. */
  async load(): Promise<void> {
    // Taken before the read (a change during it is read again next time), kept only once the read worked.
    const mark = this.#store.changeMark();
    const keys = await this.#store.list();
    this.#mark = mark;
    this.#byHash = new Map(keys.map((key) => [key.hash, key]));
    this.#byId = new Map(keys.map((key) => [key.id, key]));
    for (const listener of this.#listeners) listener();
  }

  /**
   * Reads the store again if another process changed it since; resolves once the ring is current.
   * Looks at the store's change mark at most every `CHECK_EVERY_MS`: a pragma per request was a few
   * percent of a status answer's time, and a key revoked from the command line is refused a moment later.
   */
  refresh(force = false): Promise<void> {
    const now = performance.now();
    if (!force && now - this.#checkedAt < this.#checkEveryMs) return this.#reading ?? Promise.resolve();
    this.#checkedAt = now;
    if (this.#store.changeMark() === this.#mark) return this.#reading ?? Promise.resolve();
    this.#reading ??= this.load().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  /**
   * The credential whose secret this is (revoked or not), read after a refresh; undefined for a secret
   * none has. A secret the ring does not know makes it look at the store at once: a key made a moment
   * ago by `dan keys create` works at its first request.
   */
  async find(secret: string): Promise<ApiKeyRecord | undefined> {
    try {
      await this.refresh();
    } catch (error) {
      // The store does not answer (its database is gone for a while): a key the ring knows is served as it
      // was last read, so tasks held in memory can still be asked for; an unknown one cannot be told.
      const known = this.findLoaded(secret);
      if (known) return known;
      throw error;
    }
    const key = this.findLoaded(secret);
    if (key) return key;
    await this.refresh(true);
    return this.findLoaded(secret);
  }

  /**
   * The credential with this secret when the ring need not look at the store first (it looked within
   * `checkEveryMs`, no reload under way) and knows it; else undefined: then `find`.
   */
  findCurrent(secret: string): ApiKeyRecord | undefined {
    if (this.#reading !== null || performance.now() - this.#checkedAt >= this.#checkEveryMs) return undefined;
    return this.findLoaded(secret);
  }

  /** `find` from what is loaded now, without looking at the store (at most a refresh interval behind). */
  findLoaded(secret: string): ApiKeyRecord | undefined {
    const sent = this.#digestOf(secret);
    const key = this.#byHash.get(sent.hex);
    if (!key) return undefined;
    // The map compares strings, which may stop at the first differing character; the stored digest is
    // compared again in constant time, so no timing tells how close a guess came. Both digests are kept
    // as bytes: decoding them from hex on every request was a measurable part of a keyed status answer.
    let stored = this.#storedDigests.get(key);
    if (!stored) this.#storedDigests.set(key, (stored = Buffer.from(key.hash, 'hex')));
    return timingSafeEqual(stored, sent.bytes) ? key : undefined;
  }

  /** The SHA-256 of a secret, hex, as credentials are stored and looked up. */
  hashOf(secret: string): string {
    return this.#digestOf(secret).hex;
  }

  /**
   * The SHA-256 of a secret sent lately, remembered: hashing on every request of a busy client was a few
   * percent of a status answer's time. At most `HASHES_KEPT` (then forgotten all at once).
   */
  #digestOf(secret: string): { hex: string; bytes: Buffer } {
    let digest = this.#hashes.get(secret);
    if (digest === undefined) {
      if (this.#hashes.size >= HASHES_KEPT) this.#hashes.clear();
      const hex = hashApiKey(secret);
      digest = { hex, bytes: Buffer.from(hex, 'hex') };
      this.#hashes.set(secret, digest);
    }
    return digest;
  }

  /** The credential with this id, as loaded. */
  byId(id: string): ApiKeyRecord | undefined {
    return this.#byId.get(id);
  }

  /** Whether a credential of `kind` that works (not revoked) exists. */
  hasActive(kind: CredentialKind): boolean {
    for (const key of this.#byHash.values()) if (key.kind === kind && key.revokedAt === null) return true;
    return false;
  }

  /** A credential changed through this gateway: applied at once. */
  changed(key: ApiKeyRecord): void {
    this.#byHash.set(key.hash, key);
    this.#byId.set(key.id, key);
    for (const listener of this.#listeners) listener();
  }

  /** Called after every change the ring takes in. */
  onChange(listener: () => void): void {
    this.#listeners.add(listener);
  }
}
