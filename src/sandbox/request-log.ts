/**
 * @module sandbox/request-log
 *
 * Every POST to `/sdapi` and `/controlnet` (ComfyUI flavour: its job routes), in arrival order, with the status it
 * got and its body, so tests can assert what a driver actually sent. Base64
 * payloads are replaced by `<base64 N bytes>` to keep the log small.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  /** The parsed JSON body with long base64 strings replaced; null when it did not parse. */
  body: unknown;
}

const LOGGED_PREFIXES = ['/sdapi/', '/controlnet/'];
const MIN_REDACTED_CHARS = 64;
const BASE64 = /^(data:[\w/.+-]+;base64,)?([A-Za-z0-9+/]+={0,2})$/;

/** Long base64 strings (optionally a data: URL) → `<base64 N bytes>`, N the decoded length. */
function redactBase64(value: unknown): unknown {
  if (typeof value === 'string') {
    const match = value.length > MIN_REDACTED_CHARS ? BASE64.exec(value) : null;
    const payload = match?.[2];
    if (!payload) return value;
    const padding = payload.endsWith('==') ? 2 : payload.endsWith('=') ? 1 : 0;
    return `<base64 ${Math.floor((payload.length * 3) / 4) - padding} bytes>`;
  }
  if (Array.isArray(value)) return value.map(redactBase64);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactBase64(v)]));
  }
  return value;
}

export class RequestLog {
  readonly #entries: RecordedRequest[] = [];
  readonly #prefixes: readonly string[];

  /** @param prefixes paths whose POSTs are logged; the default is the A1111 flavour's. */
  constructor(prefixes: readonly string[] = LOGGED_PREFIXES) {
    this.#prefixes = prefixes;
  }

  readonly #pending = new WeakMap<FastifyRequest, RecordedRequest>();

  /** Hooks onto `app`; `onRejected` is told of every logged request answered with ≥ 400. */
  attach(app: FastifyInstance, onRejected: () => void): void {
    app.addHook('onRequest', async (request) => {
      const path = request.url.split('?')[0] ?? request.url;
      if (request.method !== 'POST' || !this.#prefixes.some((p) => path.startsWith(p))) return;
      const entry = { method: request.method, path, status: 0, body: null };
      this.#entries.push(entry);
      this.#pending.set(request, entry);
    });
    app.addHook('onResponse', async (request, reply) => {
      const entry = this.#pending.get(request);
      if (!entry) return;
      entry.status = reply.statusCode;
      entry.body = request.body === undefined ? null : redactBase64(request.body);
      if (reply.statusCode >= 400) onRejected();
    });
  }

  /** Answered requests, oldest first (copies: callers may not edit the log). */
  entries(): RecordedRequest[] {
    return this.#entries.filter((e) => e.status !== 0).map((e) => ({ ...e }));
  }
}
