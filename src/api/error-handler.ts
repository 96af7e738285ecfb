/**
 * @module api/error-handler
 *
 * Turns anything a request can throw into the error envelope: our DanErrors
 * keep their id; Fastify's own errors (body too large, bad JSON, wrong media
 * type) get the matching catalog id; anything else is an internal error,
 * logged with its stack, answered without it.
 */
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorId } from '../errors/catalog.js';
import { DanError, toDanError } from '../errors/dan-error.js';
import { type ErrorBody, errorBodyOf } from './envelope.js';
import { httpStatusOf } from './error-answers.js';
import { waitsToBeTold } from './expect-continue.js';

function fromFastifyError(error: FastifyError, bodyLimitBytes: number, request: FastifyRequest): DanError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DanError('DAN_ERR_REQUEST_TOO_LARGE', `request body is larger than ${formatMiB(bodyLimitBytes)}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DanError('DAN_ERR_REQUEST_UNSUPPORTED_MEDIA', 'request body must be JSON; send `Content-Type: application/json`');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new DanError('DAN_ERR_REQUEST_INVALID_JSON', 'request body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // Fastify's own text names application/json, whatever the content type was (text/plain is parsed as JSON too).
      return new DanError('DAN_ERR_REQUEST_INVALID_JSON', 'request body is not valid JSON; send one JSON object');
  }
  // The client closed the connection while its body came (Node's "aborted"): nobody to answer, nothing of ours failed.
  if (error.code === 'ECONNRESET' && request.raw.destroyed) {
    request.log.info({ url: request.url }, 'client left before its request was read');
    return new DanError('DAN_ERR_REQUEST_INVALID_FIELD', 'the request body ended early: the client closed the connection', { field: 'body' });
  }
  // Multipart forms (the OpenAI-compatible API's edits): @fastify/multipart's limits and refusals.
  if (error.code?.startsWith('FST_') && error.statusCode === 413) {
    return new DanError('DAN_ERR_REQUEST_TOO_LARGE', `multipart form refused: ${error.message} (at most 2 files of ${formatMiB(bodyLimitBytes)}, 64 text fields of 64 KiB)`);
  }
  // busboy's own errors carry no code: known by their messages.
  if (error.code === 'FST_PROTO_VIOLATION' || error.code === 'FST_MP_PREMATURE_CLOSE' || /^(Unexpected end of|Malformed part header|Multipart: Boundary not found|Part terminated early|Missing Content-Type)/.test(error.message)) {
    return new DanError('DAN_ERR_REQUEST_INVALID_FIELD', `the multipart form cannot be read: ${error.message}`, { field: 'body' });
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) {
    return new DanError('DAN_ERR_REQUEST_INVALID_JSON', `request body is not valid JSON: ${error.message}`);
  }
  // The API description's file server (`/docs/static/*`) refusing a path outside its folder, one it cannot read (a
  // NUL byte, `//`, a backslash), or a file it cannot find: nothing there. Its refusals carry no code, some not
  // even a name of their own ('Error': "Forbidden"), so they are known by their route.
  if (error.code === undefined && FILE_REFUSALS.has(error.statusCode ?? 0) && request.routeOptions.url?.startsWith('/docs/') === true) {
    return new DanError('DAN_ERR_ROUTE_NOT_FOUND', 'no such file; the endpoints are listed at /docs (OpenAPI document: /openapi.json)');
  }
  return undefined;
}

/** The statuses a file server refuses a path with. */
const FILE_REFUSALS = new Set([400, 403, 404]);

/** `2 MiB`, `0.5 MiB`: a limit below 1 MiB must not read as 0. */
function formatMiB(bytes: number): string {
  return `${Number((bytes / 1048576).toFixed(bytes < 1048576 ? 3 : 1))} MiB`;
}

/** When a caller refused for its unfinished tasks or open streams is told to try again. */
const BUSY_RETRY_AFTER_SECONDS = 5;

/** Most a refused body is read (and thrown away) so that its sender gets to read the 413. */
const DRAIN_LIMIT_BYTES = 256 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Reads and discards the rest of a request body. Answering and closing while a
 * client is still sending makes its TCP stack drop our answer (the client sees
 * EPIPE or a reset instead of the 413), so we let it finish, within bounds.
 */
function drain(raw: IncomingMessage): Promise<void> {
  if (raw.complete || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT_BYTES) done();
    };
    const timer = setTimeout(done, DRAIN_TIMEOUT_MS);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.resume();
  });
}

/**
 * Errors whose detail is for the operator, not the client: logged in full (with
 * the stack), answered with a line that says what to do. A storage failure's
 * detail names the server's files.
 */
const HIDDEN_FROM_CLIENTS: Partial<Record<ErrorId, string>> = {
  DAN_ERR_INTERNAL: 'internal error; see the gateway log',
  DAN_ERR_STORE_UNAVAILABLE: 'the gateway cannot store tasks right now; try again shortly (the gateway log says why)',
};

/**
 * The envelope a client is told for `danError`: an operator's error (HIDDEN_FROM_CLIENTS) is logged
 * in full with `cause`'s stack and answered with a line that says what to do.
 */
export function clientErrorBodyOf(danError: DanError, cause: unknown, request: FastifyRequest): ErrorBody {
  const hidden = HIDDEN_FROM_CLIENTS[danError.id];
  if (hidden) request.log.error({ err: cause, error: danError.id }, danError.message);
  return { ...errorBodyOf(danError), message: hidden ?? danError.message };
}

/**
 * What a route's error is as a DanError, the connection readied for the answer: a body refused as too
 * large is read to its end first (its sender would not read the answer otherwise) and the connection
 * closed after. Shared by the error handlers of the API and of its front doors (api/openai).
 */
export async function toAnswerableError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, bodyLimitBytes: number): Promise<DanError> {
  const danError = error instanceof DanError ? error : (fromFastifyError(error, bodyLimitBytes, request) ?? toDanError(error));
  if (danError.id === 'DAN_ERR_REQUEST_TOO_LARGE') {
    if (!waitsToBeTold(request.raw)) await drain(request.raw);
    reply.header('connection', 'close');
  }
  // Every 429 says when to try again, as clients (the openai SDK among them) read it: the rate limit says its
  // own (api/auth.ts); a task budget or the streams open free up as tasks end, a few seconds apart.
  if (httpStatusOf(danError.id) === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(BUSY_RETRY_AFTER_SECONDS));
  return danError;
}

/**
 * A front door's own error shape (OpenAI's under `/v1/`, the WebUI's under `/sdapi/`): its routes set their
 * error handler themselves; this is for what no route answers (a path or method that does not exist, a
 * path that does not parse), so that its clients read every error of theirs alike.
 */
export interface DoorShape {
  prefix: string;
  send: (reply: FastifyReply, request: FastifyRequest, error: DanError) => FastifyReply;
}

const doorOf = (doors: readonly DoorShape[], url: string) => doors.find((door) => url.startsWith(door.prefix));

export function installErrorHandlers(app: FastifyInstance, bodyLimitBytes: number, doors: readonly DoorShape[] = []): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const danError = await toAnswerableError(error, request, reply, bodyLimitBytes);
    return reply.code(httpStatusOf(danError.id)).send(clientErrorBodyOf(danError, error, request));
  });
  // The methods each route path takes, to tell a wrong method (405) from a path that does not exist.
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const pattern = pathPattern(route.url);
    let entry = routes.find((r) => r.pattern.source === pattern.source);
    if (!entry) routes.push((entry = { pattern, methods: new Set() }));
    for (const method of [route.method].flat()) entry.methods.add(method);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // HEAD comes with every GET, OPTIONS with CORS (for every path): neither is a method to use instead.
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]))].filter((m) => m !== 'HEAD' && m !== 'OPTIONS' && m !== request.method);
    const door = doorOf(doors, path);
    if (allowed.length > 0) {
      const error = new DanError('DAN_ERR_METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(' or ')}, not ${request.method}`);
      reply.header('allow', allowed.join(', '));
      return door ? door.send(reply, request, error) : reply.code(405).send(errorBodyOf(error));
    }
    const error = new DanError('DAN_ERR_ROUTE_NOT_FOUND', `no endpoint ${request.method} ${path}; the endpoints are listed at /docs (OpenAPI document: /openapi.json)`);
    return door ? door.send(reply, request, error) : reply.code(404).send(errorBodyOf(error));
  });
}

/** A route's path as a pattern of the concrete paths it serves (`:param` one segment, `*` the rest). */
function pathPattern(url: string): RegExp {
  const escaped = url.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/:[^/]+/g, '[^/]+').replace(/\*/g, '.*')}$`);
}

/**
 * Answers what Node's HTTP server reports about a connection before a request reaches a route: a
 * request not received in full within `requestTimeoutMs` gets the API's envelope (408
 * `DAN_ERR_REQUEST_TIMEOUT`); anything else (a request that does not parse as HTTP) a 400 saying so,
 * with no error id: it never reached the API. The connection is closed either way.
 */
export function clientErrorAnswer(requestTimeoutMs: number) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const headersTooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const [status, reason] = timedOut ? [408, 'Request Timeout'] : headersTooLarge ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
    const body = timedOut
      ? JSON.stringify(errorBodyOf(new DanError('DAN_ERR_REQUEST_TIMEOUT', `the request was not received in full within ${Math.round(requestTimeoutMs / 1000)} s; the connection is closed`)))
      : headersTooLarge
        ? JSON.stringify(errorBodyOf(new DanError('DAN_ERR_REQUEST_TOO_LARGE', 'the request\'s headers are larger than this server takes (16 KiB in all); send shorter ones (a key, not a cookie jar)')))
        : JSON.stringify(errorBodyOf(new DanError('DAN_ERR_REQUEST_INVALID_FIELD', `the request is not valid HTTP (${error.code ?? error.message})`, { field: 'request' })));
    if (socket.writable) socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
    socket.destroy(error);
  };
}


/** The router's own refusals (Fastify's `frameworkErrors`) as the API's 400 envelope. */
export function routerErrorAnswer(doors: readonly DoorShape[] = []) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const message =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? 'a path segment is longer than 100 characters: no task or key id is that long'
        : `the path is not valid URL encoding (${error.code ?? error.message})`;
    const refusal = new DanError('DAN_ERR_REQUEST_INVALID_FIELD', message, { field: 'path' });
    const door = doorOf(doors, request.url);
    if (door) void door.send(reply, request, refusal);
    else void reply.code(400).send(errorBodyOf(refusal));
  };
}
