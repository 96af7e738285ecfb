/**
 * @module auth/key-admin
 *
 * Creating, listing, changing and revoking API keys and node tokens: what
 * `dan keys`, `dan nodes token` and the admin API (`/api/admin/keys`,
 * `/api/admin/node-tokens`) do, in one place. A secret is returned once, by
 * `create`; the store keeps only its hash. Each operation takes the kind it
 * works on: an API key's id given where a node token's is expected is not found.
 */
import { DanError } from '../errors/dan-error.js';
import { type ApiKeyInfo, type ApiKeyRecord, type CredentialKind, defaultKeyLimits, type KeySettings, keyInfoOf, newApiKey } from './api-key.js';
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

  /** A new API key (`kind` 'api'), or a node token ('node': only its name counts). */
  async create(settings: KeySettings, kind: CredentialKind = 'api'): Promise<CreatedKey> {
    const { name, ...limits } = settings;
    if (name === undefined) throw new DanError('DAN_ERR_REQUEST_INVALID_FIELD', `name: is required (who the ${NOUN[kind]} is for)`, { field: 'name' });
    const { record, secret } = newApiKey(name, { ...defaultKeyLimits, ...limits }, this.#now(), kind);
    await this.#store.add(record);
    this.#changed(record);
    return { key: keyInfoOf(record), secret };
  }

  async list(kind: CredentialKind = 'api'): Promise<ApiKeyInfo[]> {
    return (await this.#store.list()).filter((key) => key.kind === kind).map(keyInfoOf);
  }

  async get(id: string, kind: CredentialKind = 'api'): Promise<ApiKeyInfo> {
    return keyInfoOf(await this.#existing(id, kind));
  }

  /** Changes an API key's settings given; the others stay. */
  async set(id: string, settings: KeySettings): Promise<ApiKeyInfo> {
    const current = await this.#existing(id, 'api');
    const { name, ...limits } = settings;
    const updated = await this.#store.update(id, { ...(name === undefined ? {} : { name }), limits: { ...current.limits, ...limits } });
    if (!updated) throw notFound(id, 'api');
    this.#changed(updated);
    return keyInfoOf(updated);
  }

  /**
   * Revokes a key for good: its next request is refused (a node token's nodes are disconnected).
   * Revoking a revoked one changes nothing.
   */
  async revoke(id: string, kind: CredentialKind = 'api'): Promise<ApiKeyInfo> {
    await this.#existing(id, kind);
    const revoked = await this.#store.revoke(id, this.#now());
    if (!revoked) throw notFound(id, kind);
    this.#changed(revoked);
    return keyInfoOf(revoked);
  }

  async #existing(id: string, kind: CredentialKind): Promise<ApiKeyRecord> {
    const key = await this.#store.get(id);
    if (!key || key.kind !== kind) throw notFound(id, kind);
    return key;
  }
}

const NOUN = { api: 'key', node: 'node token' } as const satisfies Record<CredentialKind, string>;
const LISTED_BY = { api: '`dan keys list` or GET /api/admin/keys', node: '`dan nodes token list` or GET /api/admin/node-tokens' } as const satisfies Record<CredentialKind, string>;

function notFound(id: string, kind: CredentialKind): DanError {
  return new DanError('DAN_ERR_KEY_NOT_FOUND', `no ${kind === 'api' ? 'API key' : 'node token'} with id "${id}"; ${LISTED_BY[kind]} lists them`, { field: 'id' });
}
