/**
 * Hostile requests for the API, as fast-check arbitraries: malformed JSON,
 * wrong types, huge and non-finite numbers, deep nesting, very long strings,
 * broken base64, bytes that are not images, images that declare huge
 * dimensions in a tiny file (decompression bombs), PNGs with broken chunks,
 * and valid bodies with one field replaced. Shared by the fuzz test
 * (test/fuzz/) and `npm run bench:fuzz`.
 */
import fc from 'fast-check';
import { pngBytes } from '../test/helpers/png-bytes.js';

export interface FuzzRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  /** The raw body (already serialized), or undefined for none. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A PNG of `width`×`height` whose pixel data is a few bytes: what a decompression bomb's header says. */
export function pngDeclaring(width: number, height: number, options: { breakCrc?: boolean } = {}): Buffer {
  return pngBytes(width, height, { pixels: 'few', ...options });
}

const hugeNumbers = fc.constantFrom('1e308', '-1e308', '1e999', '-0', '9007199254740993', '0.0000000000000000000001', '123456789012345678901234567890');

/** A JSON text nested `depth` deep. */
const deepJson = fc.integer({ min: 100, max: 5000 }).map((depth) => `${'['.repeat(depth)}1${']'.repeat(depth)}`);

const imageLike = fc.oneof(
  fc.constant(pngDeclaring(100_000, 100_000).toString('base64')),
  fc.constant(pngDeclaring(65_535, 65_535).toString('base64')),
  fc.constant(pngDeclaring(64, 64, { breakCrc: true }).toString('base64')),
  fc.constant(pngDeclaring(64, 64).toString('base64')),
  fc.constant(`data:image/png;base64,${pngDeclaring(40_000, 3).toString('base64')}`),
  fc.uint8Array({ minLength: 0, maxLength: 2048 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.string({ maxLength: 200 }),
  fc.constant('data:image/png;base64,!!!not base64!!!'),
  fc.constant(Buffer.from('GIF89a\x01\x00\x01\x00').toString('base64')),
  fc.constant(pngDeclaring(64, 64).subarray(0, 40).toString('base64')),
);

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.string({ minLength: 5_000, maxLength: 100_000 }),
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 2, 0.5, '', '0', 'NaN', 'Infinity', [], {}, [[[[[]]]]]),
  imageLike,
);

/** A body that is mostly `base` with some fields replaced, removed or added. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(base);
  return fc
    .record({
      replace: fc.subarray(keys, { maxLength: Math.min(3, keys.length) }),
      values: fc.array(oddValue, { minLength: 3, maxLength: 3 }),
      drop: fc.subarray(keys, { maxLength: Math.min(2, keys.length) }),
      extra: fc.option(fc.tuple(fc.string({ maxLength: 30 }), oddValue), { nil: undefined }),
    })
    .map(({ replace, values, drop, extra }) => {
      const body: Record<string, unknown> = { ...base };
      replace.forEach((key, i) => (body[key] = values[i]));
      for (const key of drop) delete body[key];
      if (extra) body[extra[0]] = extra[1];
      return body;
    });
}

/** A raw body: malformed JSON, non-JSON, deep nesting, huge numbers in JSON, or a (mutated) JSON object. */
function rawBody(base: Record<string, unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: mutated(base).map((b) => JSON.stringify(b)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.json() },
    { weight: 1, arbitrary: deepJson },
    { weight: 1, arbitrary: hugeNumbers.map((n) => `{"steps": ${n}, "width": ${n}, "model": "clarity"}`) },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":', '[1,2', 'null', '"str"', '{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {}}}', '\u0000\u0001') },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes).toString('latin1')) },
  );
}

const contentTypes = fc.constantFrom('application/json', 'application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'image/png', undefined);

const taskIds = fc.oneof(fc.uuid(), fc.string({ maxLength: 100 }), fc.constantFrom('..', '%00', '../../etc/passwd', 'x'.repeat(5000)));

/** Every endpoint with hostile input. `bodies`: a valid body of each kind, to mutate. */
export function hostileRequests(bodies: Record<'txt2img' | 'img2img' | 'interrogate' | 'upscale', Record<string, unknown>>, adminToken: string): fc.Arbitrary<FuzzRequest> {
  const submit = fc.constantFrom('txt2img', 'img2img', 'interrogate', 'upscale').chain((kind) =>
    fc.record({
      method: fc.constant('POST' as const),
      url: fc.constantFrom(`/api/sd/${kind}/async`, `/api/sd/${kind}`),
      body: rawBody(bodies[kind]),
      contentType: contentTypes,
      headers: fc.option(fc.record({ 'idempotency-key': fc.string({ maxLength: 300 }) }), { nil: undefined }),
    }),
  );
  const taskBody = fc.record({
    method: fc.constant('POST' as const),
    url: fc.constantFrom('/api/sd/task/status', '/api/sd/task/cancel'),
    body: rawBody({ taskId: '00000000-0000-4000-8000-000000000000' }),
    contentType: contentTypes,
  });
  const taskGet = taskIds.chain((id) => fc.constantFrom(`/api/sd/task/${encodeURIComponent(id)}`, `/api/sd/task/${encodeURIComponent(id)}/events`).map((url) => ({ method: 'GET' as const, url })));
  const admin = fc.record({
    method: fc.constantFrom('POST' as const, 'PATCH' as const, 'DELETE' as const, 'GET' as const),
    url: fc.oneof(fc.constant('/api/admin/keys'), fc.constant('/api/admin/node-tokens'), taskIds.map((id) => `/api/admin/keys/${encodeURIComponent(id)}`)),
    body: rawBody({ name: 'fuzz', maxTasks: 5, requestsPerMinute: 60, weight: 1, models: ['clarity'] }),
    contentType: contentTypes,
    headers: fc.constantFrom<Record<string, string>>({ authorization: `Bearer ${adminToken}` }, {}, { authorization: 'Bearer wrong' }),
  });
  const keyed = fc.record({
    method: fc.constant('GET' as const),
    url: fc.constantFrom('/api/keys/me', '/api/webhooks/deliveries', '/api/sd/supportedModelInfo', '/api/health', '/readyz'),
    headers: fc.oneof(fc.constant<Record<string, string>>({}), fc.string({ maxLength: 400 }).map((authorization) => ({ authorization: authorization.replace(/[\r\n]/g, '') }))),
  });
  // The compatible front doors: OpenAI's images API (JSON, and multipart edits) and the WebUI's.
  const openai = fc.oneof(
    fc.record({ method: fc.constant('POST' as const), url: fc.constant('/v1/images/generations'), body: rawBody({ prompt: 'a cat', model: 'clarity', size: '64x64', n: 1, steps: 4 }), contentType: contentTypes }),
    fc.record({
      method: fc.constant('POST' as const),
      url: fc.constantFrom('/v1/images/edits', '/v1/images/variations'),
      body: fc.oneof(
        fc.string({ maxLength: 400 }).map((text) => `--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n${text}\r\n--x--\r\n`),
        fc.uint8Array({ maxLength: 600 }).map((bytes) => `--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${Buffer.from(bytes).toString('latin1')}\r\n--x--\r\n`),
        fc.string({ maxLength: 300 }),
      ),
      contentType: fc.constantFrom('multipart/form-data; boundary=x', 'multipart/form-data', 'application/json'),
    }),
    taskIds.map((id) => ({ method: 'GET' as const, url: `/v1/images/files/${encodeURIComponent(id)}/0?expires=99999999999&signature=${encodeURIComponent(id)}` })),
  );
  const webui = fc.oneof(
    fc.record({ method: fc.constant('POST' as const), url: fc.constant('/sdapi/v1/txt2img'), body: rawBody({ prompt: 'a cat', steps: 4, width: 64, height: 64, override_settings: { sd_model_checkpoint: 'clarity' }, alwayson_scripts: {} }), contentType: contentTypes }),
    fc.record({ method: fc.constant('POST' as const), url: fc.constant('/sdapi/v1/img2img'), body: rawBody({ init_images: [bodies.img2img['init_image']], prompt: 'a cat', steps: 4, width: 64, height: 64, mask_blur: 4 }), contentType: contentTypes }),
    fc.record({ method: fc.constant('POST' as const), url: fc.constantFrom('/sdapi/v1/options', '/sdapi/v1/interrupt', '/sdapi/v1/extra-single-image', '/sdapi/v1/interrogate'), body: rawBody({ sd_model_checkpoint: 'clarity', image: bodies.upscale['image'] }), contentType: contentTypes }),
  );
  const parts: fc.WeightedArbitrary<FuzzRequest>[] = [
    { weight: 2, arbitrary: openai },
    { weight: 2, arbitrary: webui },
    { weight: 6, arbitrary: submit },
    { weight: 2, arbitrary: taskBody },
    { weight: 1, arbitrary: taskGet },
    { weight: 2, arbitrary: admin },
    { weight: 1, arbitrary: keyed },
  ];
  return fc.oneof(...parts);
}

/**
 * The error shape of an answer to `url`, by door: DAN's envelope `{code, error: "DAN_ERR_…", message}`,
 * OpenAI's `{error: {message, type, param, code}}` under `/v1/`, or the WebUI's under `/sdapi/` and
 * `/controlnet/` (FastAPI's 422 `{detail: [{loc, msg, type}]}`, or its exception body `{error, detail, …}`).
 */
export function errorShapeOf(url: string): RegExp {
  // A JSON string's first ten characters, escapes counted as one.
  const text = String.raw`(?:[^"\\]|\\.){10,}`;
  if (url.startsWith('/v1/')) return new RegExp(String.raw`^\{"error":\{"message":"${text}`);
  if (url.startsWith('/sdapi/') || url.startsWith('/controlnet/')) return new RegExp(String.raw`^\{"(detail":\[\{"loc":|error":"DAN_ERR_[A-Z_]+","detail":"${text})`);
  return new RegExp(String.raw`^\{"code":\d+,"error":"DAN_ERR_[A-Z_]+","message":"${text}`);
}
