/**
 * @module api/json-body
 *
 * The API's JSON body parser. Fastify's own answers every refusal alike ("not
 * valid JSON"), whether the text does not parse or it holds a `__proto__` key
 * (refused: merged into an object, such a key would change its prototype).
 * This one says which, and for text that does not parse, what the JSON parser
 * found and where. Bodies are read as text within the app's body limit.
 */
import type { FastifyRequest } from 'fastify';
import { parse } from 'secure-json-parse';
import { DanError } from '../errors/dan-error.js';

export function parseJsonBody(_request: FastifyRequest, body: string | Buffer, done: (error: Error | null, value?: unknown) => void): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') return done(new DanError('DAN_ERR_REQUEST_INVALID_JSON', 'request body is empty; send a JSON object'));
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
