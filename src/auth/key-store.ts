/**
 * @module auth/key-store
 *
 * The storage port for API keys. Keys live with the tasks (the SQLite adapter
 * keeps them in `tasks.sqlite`), so `dan keys` run on the gateway's machine and
 * the gateway's admin API change the same keys.
 *
 * Another process may change keys while the gateway runs (`dan keys revoke`):
 * `changeMark()` says, cheaply and synchronously, whether it may have done so
 * since the last call; the gateway's key ring reads the keys again when it does.
 */
import type { ApiKeyRecord, KeyLimits } from './api-key.js';

export interface KeyChanges {
  name?: string;
  limits?: KeyLimits;
}

export interface KeyStore {
  add(record: ApiKeyRecord): Promise<void>;
  /** Every key, revoked ones too, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** Changes a key's name or limits; undefined when there is no such key. */
  update(id: string, changes: KeyChanges): Promise<ApiKeyRecord | undefined>;
  /** Revokes a key (at once; for good); undefined when there is no such key. A revoked key stays revoked. */
  revoke(id: string, at: number): Promise<ApiKeyRecord | undefined>;
  /** A value that differs from the last call's when another process may have changed the keys since. */
  changeMark(): number;
}
