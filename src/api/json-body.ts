/**
 * @module api/json-body
 *
 * The API's JSON body parser. Fastify's own answers every refusal alike ("not
 * valid JSON"), whether the text does not parse or it holds a `__proto__` key
 * (refused: merged into an object, such a key would change its prototype).
 * This one says which, and for text that does not parse, what the JSON parser
 * found and where. Bodies are read as text within the app's body limit, and one
 * made of millions of tiny values is refused before it is parsed.
 */
import type { FastifyRequest } from 'fastify';
import { parse } from 'secure-json-parse';
import { DanError } from '../errors/dan-error.js';

/**
 * More quotes and commas than any request of this API holds (a few hundred fields and list items; prompts of
 * at most 16,384 characters each): a body of millions of tiny values costs the event loop seconds to parse,
 * which one anonymous client could keep doing. Images are base64, which has neither.
 */
const MAX_JSON_SEPARATORS = 200_000;

/** How many of `char` `text` holds, counting no further than `limit` (native search skips long runs without). */
function countUpTo(text: string, char: string, limit: number): number {
  let count = 0;
  for (let at = text.indexOf(char); at !== -1 && count <= limit; at = text.indexOf(char, at + 1)) count += 1;
  return count;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes no body: an empty one sent as JSON is no body, not an error (the WebUI's interrupt and skip). */
    bodyless?: boolean;
  }
}

export function parseJsonBody(request: FastifyRequest, body: string | Buffer, done: (error: Error | null, value?: unknown) => void): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    if (request.routeOptions.config.bodyless === true) return done(null, undefined);
    return done(new DanError('DAN_ERR_REQUEST_INVALID_JSON', 'request body is empty; send a JSON object'));
  }
  const quotes = countUpTo(text, '"', MAX_JSON_SEPARATORS);
  if (quotes + countUpTo(text, ',', MAX_JSON_SEPARATORS - quotes) > MAX_JSON_SEPARATORS) {
    return done(new DanError('DAN_ERR_REQUEST_INVALID_JSON', `request body holds more than ${MAX_JSON_SEPARATORS} quotes and commas; no request of this API needs so many values`));
  }
  try {
    done(null, parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/forbidden prototype property/.test(message)) {
      return done(new DanError('DAN_ERR_REQUEST_INVALID_JSON', 'request body holds a "__proto__" key, or a "constructor" with a "prototype", which are refused; remove it'));
    }
    done(new DanError('DAN_ERR_REQUEST_INVALID_JSON', `request body is not valid JSON (${message}); send one JSON object`));
  }
}
