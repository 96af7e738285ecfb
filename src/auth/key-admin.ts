/**
 * @module auth/key-admin
 *
 * Creating, listing, changing and revoking API keys: what `dan keys` and the
 * admin API (`/api/admin/keys`) do, in one place. A key's secret is returned
 * once, by `create`; the store keeps only its hash.
 */
import { DanError } from '../errors/dan-error.js';
import { type ApiKeyInfo, type ApiKeyRecord, defaultKeyLimits, type KeySettings, keyInfoOf, newApiKey } from './api-key.js';
import type { KeyStore } from './key-store.js';

export interface CreatedKey {
  key: ApiKeyInfo;
  /** The secret to give the client: shown now, never again. */
  secret: string;
}

export class KeyAdmin {
  readonly #store: KeyStore;
  readonly #now: () => number;
  readonly #changed: (key: ApiKeyRecord) => void;

  /** `changed` hears every key this admin writes (the gateway's key ring). */
  constructor(store: KeyStore, options: { now?: () => number; changed?: (key: ApiKeyRecord) => void } = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#changed = options.changed ?? (() => {});
  }

  async create(settings: KeySettings): Promise<CreatedKey> {
    const { name, ...limits } = settings;
    if (name === undefined) throw new DanError('DAN_ERR_REQUEST_INVALID_FIELD', 'name: is required (who the key is for)', { field: 'name' });
    const { record, secret } = newApiKey(name, { ...defaultKeyLimits, ...limits }, this.#now());
    await this.#store.add(record);
    this.#changed(record);
    return { key: keyInfoOf(record), secret };
  }

  async list(): Promise<ApiKeyInfo[]> {
    return (await this.#store.list()).map(keyInfoOf);
  }

  async get(id: string): Promise<ApiKeyInfo> {
    return keyInfoOf(await this.#existing(id));
  }

  /** Changes the settings given; the others stay. */
  async set(id: string, settings: KeySettings): Promise<ApiKeyInfo> {
    const current = await this.#existing(id);
    const { name, ...limits } = settings;
    const updated = await this.#store.update(id, { ...(name === undefined ? {} : { name }), limits: { ...current.limits, ...limits } });
    if (!updated) throw notFound(id);
    this.#changed(updated);
    return keyInfoOf(updated);
  }

  /** Revokes the key for good: its next request is refused. Revoking a revoked key changes nothing. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    await this.#existing(id);
    const revoked = await this.#store.revoke(id, this.#now());
    if (!revoked) throw notFound(id);
    this.#changed(revoked);
    return keyInfoOf(revoked);
  }

  async #existing(id: string): Promise<ApiKeyRecord> {
    const key = await this.#store.get(id);
    if (!key) throw notFound(id);
    return key;
  }
}

function notFound(id: string): DanError {
  return new DanError('DAN_ERR_KEY_NOT_FOUND', `no API key with id "${id}"; \`dan keys list\` or GET /api/admin/keys lists them`, { field: 'id' });
}
