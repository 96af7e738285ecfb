/**
 * @module auth/caller
 *
 * Who is calling the API, as the gateway decides it once per request
 * (api/auth.ts) and every rule after reads it: whose task budget and request
 * rate a request counts against, which limits apply, and who may see a task.
 *
 * - A caller with a key of its own is that key: its limits, its tasks, its fair share.
 * - A caller without a key, or with the public key (`GET /api/user/public-api-key`),
 *   is anonymous: the gateway's anonymous limits, counted per client address (IPv6 by
 *   /64), so one busy script does not use up everyone's budget.
 * - With `--auth off` every caller is anonymous and nothing is limited (a private network).
 */
import type { ApiKeyRecord, KeyLimits } from './api-key.js';

/** `off`: keys are not read, nothing is limited. `optional`: anonymous callers get the anonymous limits. `required`: every call needs a key. */
export const AuthModes = ['off', 'optional', 'required'] as const;
export type AuthMode = (typeof AuthModes)[number];

export interface Caller {
  /** The key, or null for an anonymous caller. */
  key: ApiKeyRecord | null;
  /**
   * Whom tasks, budgets, request rates and fair shares are counted for: the key's id
   * (`key_…`), or `anon:<address>`. A task records it as its owner.
   */
  owner: string;
  limits: KeyLimits;
}

/** How an anonymous caller's owner begins. */
export const ANONYMOUS_PREFIX = 'anon:';

/** The anonymous caller from `address` (already normalised: IPv6 cut to its /64). */
export function anonymousCaller(address: string, limits: KeyLimits): Caller {
  return { key: null, owner: `${ANONYMOUS_PREFIX}${address}`, limits };
}

export function keyCaller(key: ApiKeyRecord): Caller {
  return { key, owner: key.id, limits: key.limits };
}

/**
 * Whether `caller` may see and cancel a task of `owner`: a key's tasks are its own (another
 * caller is told there is no such task); an anonymous task (or one stored before keys existed)
 * is anyone's who holds its id, which is unguessable.
 */
export function mayAccess(caller: Caller, owner: string | null): boolean {
  if (owner === null || owner.startsWith(ANONYMOUS_PREFIX)) return true;
  return caller.key?.id === owner;
}
