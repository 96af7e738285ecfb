/**
 * @module webhooks/webhook-sender
 *
 * One try of one webhook: a POST of a JSON body with its signed headers, to the
 * address the host name resolves to now, refused before connecting when that
 * address is private (address-policy.ts) and not allowed. Redirects are not
 * followed (a 3xx is a failed try), as Standard Webhooks advises; a receiver has
 * `timeoutMs` to answer; its body is read and dropped.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPrivateAddress, literalAddressOf } from './address-policy.js';

export interface SendOptions {
  /** Let webhooks reach loopback, private and link-local addresses (`--webhook-allow-private`). */
  allowPrivate: boolean;
  /** The whole try's time limit. @defaultValue 10 s */
  timeoutMs?: number;
  /** Aborts the try (gateway shutdown). */
  signal?: AbortSignal;
}

export interface TryResult {
  ok: boolean;
  /** The receiver's HTTP status, or null when it gave none (refused, unreachable, timed out). */
  status: number | null;
  /** Why the try failed, for the delivery log; null when it succeeded. */
  error: string | null;
}

const USER_AGENT = 'DAN-Webhooks/0.2 (+https://www.standardwebhooks.com)';

class RefusedAddress extends Error {}

/** A DNS lookup that refuses a name resolving to an address webhooks may not reach. */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const refused = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      if (refused) {
        const message = `${hostname} resolves to ${refused.address}, a private or local address; webhooks may not reach it (the gateway's --webhook-allow-private allows it)`;
        return callback(new RefusedAddress(message), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`${hostname} has no address`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

/** POSTs `body` to `url` with `headers`; never throws. */
export function sendWebhook(url: string, headers: Record<string, string>, body: Buffer, options: SendOptions): Promise<TryResult> {
  const target = new URL(url);
  const literal = literalAddressOf(target.hostname);
  if (literal !== null && !options.allowPrivate && isPrivateAddress(literal)) {
    return Promise.resolve({ ok: false, status: null, error: `${literal} is a private or local address; webhooks may not reach it` });
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const requestOptions: RequestOptions = {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': USER_AGENT },
    timeout: options.timeoutMs ?? 10_000,
    lookup: guardedLookup(options.allowPrivate),
  };
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    // One deadline for the whole try, DNS and a slowly dripping answer included: `timeout` alone only
    // notices a socket gone quiet, and one slow receiver must not hold the others' deliveries.
    const deadline = setTimeout(() => request.destroy(new Error(`no complete answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    deadline.unref();
    // The signal outlives the try (the outbox's, for every delivery): its listener goes when the try ends, or
    // it would keep the try's request, and so its body (images), for the life of the gateway.
    const onAbort = () => request.destroy(new Error('the gateway is shutting down'));
    const settle = (result: TryResult) => {
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const request = send(target, requestOptions, (response) => {
      const status = response.statusCode ?? null;
      // The answer's body is not needed: the first 64 KiB are read and dropped, then the try ends.
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > 64 * 1024) response.destroy();
      });
      const done = () => {
        const ok = status !== null && status >= 200 && status < 300;
        settle({ ok, status, error: ok ? null : `the receiver answered ${status}` });
      };
      response.once('end', done);
      response.once('close', done);
      response.once('error', (error) => settle({ ok: false, status, error: `reading the answer failed: ${error.message}` }));
    });
    request.once('timeout', () => request.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    request.once('error', (error) => settle({ ok: false, status: null, error: error instanceof RefusedAddress ? error.message : `could not deliver: ${error.message}` }));
    request.end(body);
  });
}
