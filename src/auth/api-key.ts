/**
 * @module auth/api-key
 *
 * What an API key is: a secret the client sends (`sk-` and 48 random
 * alphanumerics, the original deployment's format, so its clients' checks
 * pass), known to the gateway only by its SHA-256 and by a public id
 * (`key_…`) that logs, tasks and the admin API use. Each key has its own
 * limits and the secret its webhooks are signed with.
 *
 * A SHA-256 is enough to store: a key is 285 bits of randomness, so there is
 * nothing to guess from its hash (a slow password hash guards short human
 * secrets, and would cost milliseconds per request).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` random characters of [A-Za-z0-9], without modulo bias. */
export function randomAlphanumeric(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: bytes above it would favour the first letters.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** A new secret API key: `sk-` and 48 random alphanumerics. */
export function generateApiKey(): string {
  return `sk-${randomAlphanumeric(48)}`;
}

/**
 * What a credential admits: an API key (`api`) calls the API; a node token (`node`) admits GPU
 * nodes. They share one store and one lookup, and neither is accepted for the other.
 */
export type CredentialKind = 'api' | 'node';

/** How each kind's secrets and ids begin. */
const PREFIXES = { api: { secret: 'sk-', id: 'key_' }, node: { secret: 'dnt-', id: 'nt_' } } as const satisfies Record<CredentialKind, { secret: string; id: string }>;

/** A new webhook signing secret, in the Standard Webhooks form: `whsec_` and base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The form a key is stored and looked up in: its SHA-256, hex. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether two hashes are equal, in time that does not depend on where they differ. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** What one key may do. */
export interface KeyLimits {
  /** Unfinished (queued or running) tasks at once; 0 = no limit. */
  maxTasks: number;
  /** Requests per minute to the API; 0 = no limit. */
  requestsPerMinute: number;
  /** Most pixels of an image made (width × height, after hires scaling); 0 = the gateway's limits only. */
  maxPixels: number;
  /** Most sampling steps (of the first pass and of the hires pass each); 0 = the gateway's limits only. */
  maxSteps: number;
  /**
   * Share of the GPUs when the network is busy, relative to other keys: a key of weight 2 is served
   * twice as much work as a key of weight 1 while both have tasks waiting. From 0.1 to 100.
   */
  weight: number;
  /** Checkpoints the key may use (names or hashes as clients send them); null = any. */
  models: string[] | null;
}

/** Limits of a key created without any given. */
export const defaultKeyLimits: Readonly<KeyLimits> = Object.freeze({
  maxTasks: 100,
  requestsPerMinute: 600,
  maxPixels: 0,
  maxSteps: 0,
  weight: 1,
  models: null,
});

/** Key settings to apply (create, or change): only those given change. */
export interface KeySettings extends Partial<KeyLimits> {
  name?: string;
}

export const WEIGHT_RANGE = { min: 0.1, max: 100 } as const;

/** One API key (or node token) as the gateway knows it. */
export interface ApiKeyRecord {
  /** Public id, `key_…` (`nt_…` for a node token): in logs, on tasks, in the admin API. */
  id: string;
  kind: CredentialKind;
  /** What the operator calls it (who it was given to). */
  name: string;
  /** The secret's first characters (`sk-AbCd`), to recognise a key without holding it. */
  prefix: string;
  /** SHA-256 of the secret, hex. */
  hash: string;
  /** Signs the key's webhooks (`whsec_…`). */
  webhookSecret: string;
  limits: KeyLimits;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms, or null while the key works. */
  revokedAt: number | null;
}

/** How many characters of a secret are kept to recognise it by. */
export const KEY_PREFIX_LENGTH = 7;

/** The most characters of a key (or token) a request's Authorization is read for: a longer one never matches. */
export const MAX_KEY_LENGTH = 256;

/**
 * A new key's record and its secret (shown once, never stored). A node token (`kind` 'node') has no
 * use for limits or a webhook secret: it gets the defaults, which nothing reads.
 */
export function newApiKey(name: string, limits: KeyLimits, now: number, kind: CredentialKind = 'api'): { record: ApiKeyRecord; secret: string } {
  const secret = `${PREFIXES[kind].secret}${randomAlphanumeric(48)}`;
  return {
    secret,
    record: {
      id: `${PREFIXES[kind].id}${randomAlphanumeric(12)}`,
      kind,
      name,
      prefix: secret.slice(0, KEY_PREFIX_LENGTH),
      hash: hashApiKey(secret),
      webhookSecret: generateWebhookSecret(),
      limits,
      createdAt: now,
      revokedAt: null,
    },
  };
}

/** A key as listed: everything but its hash (the secret itself is nowhere). */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash'>;

export function keyInfoOf(record: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...info } = record;
  return info;
}

/** A node token as listed: it has no limits or webhooks. */
export type NodeTokenInfo = Pick<ApiKeyRecord, 'id' | 'name' | 'prefix' | 'createdAt' | 'revokedAt'>;

export function nodeTokenInfoOf(info: ApiKeyInfo): NodeTokenInfo {
  return { id: info.id, name: info.name, prefix: info.prefix, createdAt: info.createdAt, revokedAt: info.revokedAt };
}
