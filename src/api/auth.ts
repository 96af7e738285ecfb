/**
 * @module api/auth
 *
 * Who calls (auth/caller.ts), decided once per API request, and the request
 * rate each caller is held to.
 *
 * API keys travel in `Authorization`, as `Bearer <key>` or bare (the original
 * deployment's example clients send the bare key). An unknown or revoked key is
 * refused (401), not treated as anonymous: a client with a mistyped key should
 * hear so, not get another budget. Request rates are counted per caller in a
 * one-minute window (auth/request-rate.ts), answered with `RateLimit-*` headers
 * (the IETF draft's) and, past the limit, 429 `DAN_ERR_RATE_LIMITED` with `Retry-After`.
 */
import ipaddr from 'ipaddr.js';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyRecord, KeyLimits } from '../auth/api-key.js';
import { hashApiKey, MAX_KEY_LENGTH, sameHash } from '../auth/api-key.js';
import { anonymousCaller, type AuthMode, type Caller, keyCaller } from '../auth/caller.js';
import type { KeyRing } from '../auth/key-ring.js';
import { RequestRate } from '../auth/request-rate.js';
import { DanError } from '../errors/dan-error.js';


/** The key a request carries, or null. */
export function apiKeyOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  // "Bearer" alone (an empty key; the header value comes trimmed) is no key.
  const key = (basicPassword(header) ?? header.replace(/^Bearer(\s+|$)/i, '')).trim();
  return key.length === 0 ? null : key.slice(0, MAX_KEY_LENGTH);
}

/**
 * The password of `Basic base64(user:password)`: the key, for clients of a WebUI started with
 * `--api-auth` (and a DAN node's `--webui-auth`), which can only send a user and a password.
 */
function basicPassword(header: string): string | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

export interface AuthOptions {
  mode: AuthMode;
  keys: KeyRing;
  /** The key `GET /api/user/public-api-key` hands out: calling with it is calling anonymously. */
  publicApiKey: string;
  /** The limits of anonymous callers (each address its own budget). */
  anonymous: KeyLimits;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who calls; set for the API's routes (registerCallerAuth). */
    caller: Caller;
  }
}

/**
 * Whom an anonymous request counts for: its address, an IPv6 one cut to its /64 (one host's many
 * addresses are one caller). IPv4 needs no work; the IPv6 parse is a long regex, so only for IPv6.
 */
export function addressOf(request: FastifyRequest): string {
  const ip = request.ip;
  if (!ip.includes(':')) return ip;
  if (!ipaddr.isValid(ip)) return ip;
  const address = ipaddr.process(ip); // an IPv4-mapped IPv6 address is its IPv4 address
  if (address.kind() === 'ipv4') return address.toString();
  return `${(address as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64`;
}

/** Limits of everyone under `--auth off`: none of a caller's own. */
const UNLIMITED: KeyLimits = Object.freeze({ maxTasks: 0, requestsPerMinute: 0, maxPixels: 0, maxSteps: 0, weight: 1, models: null });

/**
 * The caller of `request` when it needs no key (anonymous, or `--auth off`), else the secret to look up;
 * throws 401 where a key is required. `publicKeyHash`: the public key's hash.
 */
function callerOrSecret(request: FastifyRequest, options: AuthOptions, publicKeyHash: string): Caller | { secret: string } {
  if (options.mode === 'off') return anonymousCaller(addressOf(request), UNLIMITED);
  const secret = apiKeyOf(request);
  // The public key is public: comparing against it needs no constant time.
  const isPublic = secret !== null && options.keys.hashOf(secret) === publicKeyHash;
  if (secret === null || isPublic) {
    if (options.mode === 'required') {
      throw new DanError(
        'DAN_ERR_AUTH_KEY_REQUIRED',
        isPublic ? 'this gateway does not take the public API key: send a key of your own (Authorization: Bearer <key>)' : 'this gateway takes requests only with an API key: send Authorization: Bearer <key>',
      );
    }
    return anonymousCaller(addressOf(request), options.anonymous);
  }
  return { secret };
}

/** The caller a found credential makes; throws 401 for none, a node token, or a revoked key. */
function keyedCaller(found: ApiKeyRecord | undefined): Caller {
  // A node token is not an API key: it gets the same answer as a made-up key.
  const key = found?.kind === 'api' ? found : undefined;
  if (!key) throw new DanError('DAN_ERR_AUTH_KEY_INVALID', 'the API key sent is not one this gateway knows; check it, or send none to call anonymously');
  if (key.revokedAt !== null) throw new DanError('DAN_ERR_AUTH_KEY_INVALID', `the API key ${key.prefix}… was revoked; ask the operator for a new one`);
  return keyCaller(key);
}

/**
 * Counts the request against its caller's rate and says so in the IETF draft's `RateLimit-*` headers;
 * past the rate, a 429 with `Retry-After`.
 */
function holdToRate(rate: RequestRate, caller: Caller, limit: number, reply: FastifyReply): void {
  const verdict = rate.take(caller.owner, limit);
  const resetSeconds = Math.ceil(verdict.resetMs / 1000);
  reply.header('ratelimit-limit', limit).header('ratelimit-remaining', verdict.remaining).header('ratelimit-reset', resetSeconds);
  if (verdict.allowed) return;
  reply.header('retry-after', resetSeconds);
  throw new DanError('DAN_ERR_RATE_LIMITED', `${caller.key ? 'this API key' : 'this address (no API key)'} may make ${limit} requests a minute; try again in ${resetSeconds} s`);
}

/**
 * Sets `request.caller` on every route of `app` (an encapsulated context: the API's routes, not
 * health or docs) and holds each caller to its requests per minute.
 */
export function registerCallerAuth(app: FastifyInstance, options: AuthOptions): void {
  app.decorateRequest('caller', null as unknown as Caller);
  const publicKeyHash = hashApiKey(options.publicApiKey);
  const rate = new RequestRate();
  // Under --auth off nobody has a rate of their own (the caller's limits are all 0).
  const admit = (request: FastifyRequest, reply: FastifyReply, caller: Caller): void => {
    request.caller = caller;
    const limit = caller.limits.requestsPerMinute;
    if (limit > 0) holdToRate(rate, caller, limit, reply);
  };
  // Settled in this turn when the key ring is current (`done` called at once): a promise per request was
  // a measurable part of a status answer. Only a lookup that needs the store returns a promise, which
  // Fastify's hook runner waits for. A throw is an answer (401) either way.
  const identify = (request: FastifyRequest, reply: FastifyReply, done: () => void): Promise<void> | undefined => {
    const first = callerOrSecret(request, options, publicKeyHash);
    if ('owner' in first) {
      admit(request, reply, first);
      done();
      return undefined;
    }
    const current = options.keys.findCurrent(first.secret);
    if (current) {
      admit(request, reply, keyedCaller(current));
      done();
      return undefined;
    }
    return options.keys.find(first.secret).then((found) => admit(request, reply, keyedCaller(found)));
  };
  app.addHook('onRequest', identify as unknown as onRequestHookHandler);
}
/**
 * How a request stands with the admin token: `off` when the gateway has none, `ok` when it sent it
 * (`Authorization: Bearer <token>`, compared by digest in constant time), else `wrong`.
 */
export function adminTokenCheck(adminToken: string | null): (request: FastifyRequest) => 'off' | 'ok' | 'wrong' {
  const tokenHash = adminToken === null ? null : hashApiKey(adminToken);
  return (request) => {
    if (tokenHash === null) return 'off';
    const sent = apiKeyOf(request);
    return sent !== null && sameHash(hashApiKey(sent), tokenHash) ? 'ok' : 'wrong';
  };
}
