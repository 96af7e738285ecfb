/**
 * @module node/backends/a1111/webui-client
 *
 * A small JSON-over-HTTP client for one A1111-compatible WebUI. It turns every
 * way a call can go wrong into a DanError the agent can classify:
 * - no answer (refused, reset, DNS, timeout) → DAN_ERR_BACKEND_UNREACHABLE
 * - HTTP 4xx → DAN_ERR_BACKEND_REJECTED (the WebUI's `detail`/`errors` in the message)
 * - HTTP 5xx → DAN_ERR_BACKEND_FAILED (e.g. `OutOfMemoryError: …`)
 * - a 2xx whose body is not JSON → DAN_ERR_BACKEND_BAD_RESPONSE
 * A caller's abort signal is not a failure: the call rejects with the signal's reason.
 *
 * @example
 * const client = new WebuiClient({ baseUrl: 'http://127.0.0.1:7860', auth: 'user:pass' });
 * const models = await client.get('/sdapi/v1/sd-models');
 */
import { DanError } from '../../../errors/dan-error.js';

const SECOND_MS = 1000;
/** Listings and small calls; a healthy WebUI answers them at once. */
const DEFAULT_TIMEOUT_MS = 30 * SECOND_MS;
/** Longest piece of a WebUI error text quoted in a message. */
const MAX_QUOTE_CHARS = 300;

export interface WebuiClientOptions {
  /** e.g. `http://127.0.0.1:7860` (a trailing slash is ignored). */
  baseUrl: string;
  /** HTTP Basic credentials as A1111's `--api-auth` takes them: `user:password`. */
  auth?: string;
  /** Timeout of a call that does not give its own. @defaultValue 30 s */
  defaultTimeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class WebuiClient {
  readonly baseUrl: string;
  readonly #authHeader: string | null;
  readonly #defaultTimeoutMs: number;

  constructor(options: WebuiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#authHeader = options.auth === undefined ? null : toBasicAuthHeader(options.auth);
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get(path: string, options: CallOptions = {}): Promise<unknown> {
    return this.#call('GET', path, undefined, options);
  }

  /** Like `get`, but a 404 (a route this WebUI build or its extensions lack) gives `undefined`. */
  getOptional(path: string, options: CallOptions = {}): Promise<unknown> {
    return this.#call('GET', path, undefined, { ...options, notFoundIsUndefined: true });
  }

  post(path: string, body: unknown, options: CallOptions = {}): Promise<unknown> {
    return this.#call('POST', path, body, options);
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    options: CallOptions & { notFoundIsUndefined?: boolean },
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const what = `${method} ${path}`;
    try {
      const init = { method, headers: this.#headers(body), body: toBody(body), signal };
      const response = await fetch(this.baseUrl + path, init);
      // The body is read under the same signal, so a stalled transfer also times out.
      const text = await response.text();
      if (response.status === 404 && options.notFoundIsUndefined) return undefined;
      return parseAnswer(what, response.status, text);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof DanError) throw error;
      const problem = timeout.aborted
        ? `did not answer ${what} within ${timeoutMs} ms`
        : `is unreachable (${what}: ${describeNetworkError(error)})`;
      throw new DanError('DAN_ERR_BACKEND_UNREACHABLE', `WebUI at ${this.baseUrl} ${problem}`, { cause: error });
    }
  }

  #headers(body: unknown): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#authHeader) headers['authorization'] = this.#authHeader;
    return headers;
  }
}

function toBody(body: unknown): string | undefined {
  return body === undefined ? undefined : JSON.stringify(body);
}

function toBasicAuthHeader(auth: string): string {
  if (!auth.includes(':')) throw new TypeError('WebUI auth must be "user:password", as A1111 --api-auth takes it');
  return `Basic ${Buffer.from(auth, 'utf8').toString('base64')}`;
}

function parseAnswer(what: string, status: number, text: string): unknown {
  if (status >= 200 && status < 300) {
    try {
      return JSON.parse(text);
    } catch (error) {
      const problem = `WebUI answered ${what} with non-JSON: ${quote(text)}`;
      throw new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', problem, { cause: error });
    }
  }
  const detail = describeErrorBody(text);
  if (status >= 400 && status < 500) {
    const hint = status === 401 ? ' (check the WebUI credentials given to the node)' : '';
    throw new DanError('DAN_ERR_BACKEND_REJECTED', `WebUI refused ${what} with HTTP ${status}${hint}: ${detail}`);
  }
  if (status >= 500) {
    throw new DanError('DAN_ERR_BACKEND_FAILED', `WebUI failed ${what} with HTTP ${status}: ${detail}`);
  }
  throw new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', `WebUI answered ${what} with HTTP ${status}: ${detail}`);
}

/**
 * The useful part of an A1111 error body: `{error, detail, errors}` (A.9), or
 * FastAPI's validation list `{detail: [{loc, msg}]}`; else the raw text.
 */
function describeErrorBody(text: string): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return quote(text);
  }
  if (typeof json !== 'object' || json === null) return quote(text);
  const { error, detail, errors } = json as { error?: unknown; detail?: unknown; errors?: unknown };
  const parts: string[] = [];
  if (typeof error === 'string' && error !== '' && error !== 'HTTPException') parts.push(error);
  if (typeof detail === 'string' && detail !== '') parts.push(detail);
  if (Array.isArray(detail)) parts.push(detail.map(describeValidationIssue).join('; '));
  if (typeof errors === 'string' && errors !== '' && errors !== detail) parts.push(errors);
  return quote(parts.length > 0 ? parts.join(': ') : text);
}

function describeValidationIssue(issue: unknown): string {
  if (typeof issue !== 'object' || issue === null) return String(issue);
  const { loc, msg } = issue as { loc?: unknown; msg?: unknown };
  const where = Array.isArray(loc) ? loc.join('.') : '';
  return where ? `${where}: ${String(msg)}` : String(msg);
}

/** Node's fetch hides the socket error (ECONNREFUSED, ENOTFOUND, …) in `cause`. */
function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (!(cause instanceof Error)) return error.message;
  const code = (cause as NodeJS.ErrnoException).code;
  // Dual-stack connects fail with an AggregateError whose message is empty.
  const text = cause.message || code || error.message;
  return code && !text.includes(code) ? `${code} ${text}` : text;
}

function quote(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > MAX_QUOTE_CHARS ? `${flat.slice(0, MAX_QUOTE_CHARS)}…` : flat;
}
