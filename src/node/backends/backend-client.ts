/**
 * @module node/backends/backend-client
 *
 * A small JSON-over-HTTP client for one backend (an A1111-compatible WebUI, or
 * ComfyUI). It turns every way a call can go wrong into a DanError the agent
 * can classify:
 * - no answer (refused, reset, DNS, timeout) → DAN_ERR_BACKEND_UNREACHABLE
 * - HTTP 4xx → DAN_ERR_BACKEND_REJECTED (A1111's `detail`/`errors`, ComfyUI's `error.message`/`node_errors` in the message),
 *   except 408, 409 and 429 → DAN_ERR_BACKEND_FAILED (the request was fine: retried)
 * - HTTP 5xx → DAN_ERR_BACKEND_FAILED (e.g. `OutOfMemoryError: …`)
 * - a 2xx whose body is not JSON → DAN_ERR_BACKEND_BAD_RESPONSE
 * A caller's abort signal is not a failure: the call rejects with the signal's reason.
 *
 * @example
 * const client = new BackendClient({ baseUrl: 'http://127.0.0.1:7860', auth: 'user:pass' });
 * const models = await client.get('/sdapi/v1/sd-models');
 */
import { DanError } from '../../errors/dan-error.js';
import { NODE_ID_HEADER } from '../../protocol/node-id-header.js';

const SECOND_MS = 1000;
/** Listings and small calls; a healthy WebUI answers them at once. */
const DEFAULT_TIMEOUT_MS = 30 * SECOND_MS;
/** Longest piece of a WebUI error text quoted in a message. */
const MAX_QUOTE_CHARS = 300;

export interface BackendClientOptions {
  /** e.g. `http://127.0.0.1:7860` (a trailing slash is ignored). */
  baseUrl: string;
  /** HTTP Basic credentials as A1111's `--api-auth` takes them: `user:password`. */
  auth?: string;
  /** Timeout of a call that does not give its own. @defaultValue 30 s */
  defaultTimeoutMs?: number;
  /** What the backend is called in error messages. @defaultValue 'WebUI' */
  label?: string;
  /**
   * The id the node's gateway gave its connection, while it has one (protocol/node-id-header.ts), sent with
   * every request: a gateway of that network given as the node's WebUI by mistake tells from it that the
   * caller is one of its nodes, and refuses (HTTP 508).
   */
  nodeId?: () => string | undefined;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Body = { json: unknown } | { form: FormData } | undefined;
type Answer = 'json' | 'bytes';

export class BackendClient {
  readonly baseUrl: string;
  readonly label: string;
  readonly #authHeader: string | null;
  readonly #defaultTimeoutMs: number;
  readonly #nodeId: (() => string | undefined) | undefined;

  constructor(options: BackendClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.label = options.label ?? 'WebUI';
    this.#authHeader = options.auth === undefined ? null : toBasicAuthHeader(options.auth);
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#nodeId = options.nodeId;
  }

  get(path: string, options: CallOptions = {}): Promise<unknown> {
    return this.#call('GET', path, undefined, options);
  }

  /** Like `get`, but a 404 (a route this backend's build or its extensions lack) gives `undefined`. */
  getOptional(path: string, options: CallOptions = {}): Promise<unknown> {
    return this.#call('GET', path, undefined, { ...options, notFoundIsUndefined: true });
  }

  /** A file the backend serves (ComfyUI's `/view`), as bytes. */
  async getBytes(path: string, options: CallOptions = {}): Promise<Buffer> {
    return (await this.#call('GET', path, undefined, { ...options, answer: 'bytes' })) as Buffer;
  }

  post(path: string, body: unknown, options: CallOptions = {}): Promise<unknown> {
    return this.#call('POST', path, { json: body }, options);
  }

  /** A multipart form (ComfyUI's `/upload/image`); the answer is JSON. */
  postForm(path: string, form: FormData, options: CallOptions = {}): Promise<unknown> {
    return this.#call('POST', path, { form }, options);
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    body: Body,
    options: CallOptions & { notFoundIsUndefined?: boolean; answer?: Answer },
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const what = `${method} ${path}`;
    try {
      const init = { method, headers: this.#headers(body), body: toBody(body), signal };
      // A kept-alive connection the backend closed meanwhile (the machine slept, the WebUI restarted) fails at
      // once when reused: a read is asked again, on a new connection. A generation is not: it may have begun.
      const response = await fetch(this.baseUrl + path, init).catch((error: unknown) => {
        if (method !== 'GET' || signal.aborted || !isStaleConnection(error)) throw error;
        return fetch(this.baseUrl + path, init);
      });
      if (response.status === 404 && options.notFoundIsUndefined) {
        await response.body?.cancel();
        return undefined;
      }
      // The body is read under the same signal, so a stalled transfer also times out.
      if (options.answer === 'bytes' && response.ok) return Buffer.from(await response.arrayBuffer());
      return parseAnswer(this.label, what, response.status, await response.text());
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof DanError) throw error;
      const problem = timeout.aborted
        ? `did not answer ${what} within ${timeoutMs} ms`
        : `is unreachable (${what}: ${describeNetworkError(error)})`;
      throw new DanError('DAN_ERR_BACKEND_UNREACHABLE', `${this.label} at ${this.baseUrl} ${problem}`, { cause: error });
    }
  }

  /** The credentials header to send (the websocket of a ComfyUI behind a proxy needs it too); none without credentials. */
  authHeaders(): Record<string, string> {
    return this.#authHeader ? { authorization: this.#authHeader } : {};
  }

  #headers(body: Body): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    // A form sets its own content type, with the boundary.
    if (body !== undefined && 'json' in body) headers['content-type'] = 'application/json';
    if (this.#authHeader) headers['authorization'] = this.#authHeader;
    const nodeId = this.#nodeId?.();
    if (nodeId !== undefined) headers[NODE_ID_HEADER] = nodeId;
    return headers;
  }
}

function toBody(body: Body): string | FormData | undefined {
  if (body === undefined) return undefined;
  return 'form' in body ? body.form : JSON.stringify(body.json);
}

function toBasicAuthHeader(auth: string): string {
  if (!auth.includes(':')) throw new TypeError('WebUI auth must be "user:password", as A1111 --api-auth takes it');
  return `Basic ${Buffer.from(auth, 'utf8').toString('base64')}`;
}

function parseAnswer(label: string, what: string, status: number, text: string): unknown {
  if (status >= 200 && status < 300) {
    // ComfyUI answers /interrupt and /queue with an empty 200.
    if (text === '') return null;
    try {
      return JSON.parse(text);
    } catch (error) {
      const problem = `${label} answered ${what} with non-JSON: ${quote(text)}`;
      throw new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', problem, { cause: error });
    }
  }
  const detail = describeErrorBody(text);
  // The answer as it came, for a driver that reads more of it than the message says (ComfyUI's node_errors).
  const cause = { status, body: parseQuietly(text) };
  // Not this request's fault, and not for good: a WebUI that timed the request out, or one behind a DAN gateway
  // (another network used as the WebUI) that cancelled it with the caller's other tasks, or is rate-limiting.
  if (status === 408 || status === 409 || status === 429) {
    throw new DanError('DAN_ERR_BACKEND_FAILED', `${label} could not complete ${what} now (HTTP ${status}): ${detail}`, { cause });
  }
  // A DAN gateway that is this node's own (api/a1111 `DAN_ERR_NODE_LOOP`): no WebUI to run tasks on here, as
  // if none answered. The node says it has no backend (with this message) and sends no task back in.
  if (status === 508) throw new DanError('DAN_ERR_BACKEND_UNREACHABLE', `${label} refused ${what} (HTTP 508): ${detail}`, { cause });
  if (status >= 400 && status < 500) {
    const hint = status === 401 ? ` (check the ${label} credentials given to the node)` : '';
    throw new DanError('DAN_ERR_BACKEND_REJECTED', `${label} refused ${what} with HTTP ${status}${hint}: ${detail}`, { cause });
  }
  if (status >= 500) {
    throw new DanError('DAN_ERR_BACKEND_FAILED', `${label} failed ${what} with HTTP ${status}: ${detail}`, { cause });
  }
  throw new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', `${label} answered ${what} with HTTP ${status}: ${detail}`);
}

/**
 * The useful part of an error body: A1111's `{error, detail, errors}` (A.9),
 * FastAPI's validation list `{detail: [{loc, msg}]}`, or ComfyUI's
 * `{error: {message, details}, node_errors}`; else the raw text.
 */
function describeErrorBody(text: string): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return quote(text);
  }
  if (typeof json !== 'object' || json === null) return quote(text);
  const { error, detail, errors, node_errors: nodeErrors } = json as { error?: unknown; detail?: unknown; errors?: unknown; node_errors?: unknown };
  const parts: string[] = [];
  if (typeof error === 'string' && error !== '' && error !== 'HTTPException') parts.push(error);
  if (typeof error === 'object' && error !== null) parts.push(...describeComfyError(error, nodeErrors));
  if (typeof detail === 'string' && detail !== '') parts.push(detail);
  if (Array.isArray(detail)) parts.push(detail.map(describeValidationIssue).join('; '));
  if (typeof errors === 'string' && errors !== '' && errors !== detail) parts.push(errors);
  return quote(parts.length > 0 ? parts.join(': ') : text);
}

function parseQuietly(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** ComfyUI's `{message, details}` and, per node, `class_type` and its errors' `message: details`. */
function describeComfyError(error: object, nodeErrors: unknown): string[] {
  const { message, details } = error as { message?: unknown; details?: unknown };
  const parts = [typeof message === 'string' ? message : 'error'];
  const perNode = typeof nodeErrors === 'object' && nodeErrors !== null ? Object.entries(nodeErrors) : [];
  for (const [id, entry] of perNode) {
    const { class_type: classType, errors } = (entry ?? {}) as { class_type?: unknown; errors?: unknown };
    const lines = Array.isArray(errors) ? errors.map((e: { message?: unknown; details?: unknown }) => `${String(e?.message)}: ${String(e?.details)}`) : [];
    parts.push(`node ${id} (${String(classType)}): ${lines.join('; ')}`);
  }
  if (perNode.length === 0 && typeof details === 'string' && details !== '') parts.push(details);
  return parts;
}

function describeValidationIssue(issue: unknown): string {
  if (typeof issue !== 'object' || issue === null) return String(issue);
  const { loc, msg } = issue as { loc?: unknown; msg?: unknown };
  const where = Array.isArray(loc) ? loc.join('.') : '';
  return where ? `${where}: ${String(msg)}` : String(msg);
}

/** Node's fetch hides the socket error (ECONNREFUSED, ENOTFOUND, …) in `cause`. */
/** A connection that was closed under a request (undici's "other side closed", a reset), not a backend that is away. */
function isStaleConnection(error: unknown): boolean {
  const code = error instanceof Error && error.cause instanceof Error ? (error.cause as NodeJS.ErrnoException).code : undefined;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

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
