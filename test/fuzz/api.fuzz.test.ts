/**
 * Property-based fuzzing of every endpoint through the real app (inject):
 * whatever a request holds (bench/fuzz-inputs.ts: malformed JSON, wrong types,
 * huge and non-finite numbers, deep nesting, long strings, broken base64,
 * non-images, decompression bombs, broken PNG chunks, mutated valid bodies),
 * the answer is never a 5xx, and every refusal is the error envelope with a
 * message. A longer run over real sockets with memory figures is
 * `npm run bench:fuzz`.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorShapeOf, hostileRequests } from '../../bench/fuzz-inputs.js';
import type { TaskKind } from '../../src/domain/spec.js';
import { createInjectApp, type InjectApp } from '../helpers/inject-app.js';
import { validBodies } from '../api/route-bodies.js';

const ADMIN = 'fuzz-admin-token-0123456789';
let app: InjectApp;
let bodies: Record<TaskKind, Record<string, unknown>>;
let ticker: NodeJS.Timeout;

beforeAll(async () => {
  bodies = await validBodies();
  app = await createInjectApp({ adminToken: ADMIN, bodyLimitBytes: 4 * 1024 * 1024, syncTimeoutMs: 1 });
  app.world.connect('node-0');
  // Sync submits that get through wait on the world's clock for their sync timeout: keep it moving.
  ticker = setInterval(() => void app.world.clock.advance(1000), 5);
});

afterAll(async () => {
  clearInterval(ticker);
  await app.close();
});

describe('hostile requests', () => {
  it('never get a 5xx; every refusal has its door\'s error shape, naming what is wrong', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostileRequests(bodies, ADMIN), async (request) => {
        const response = await app.app.inject({
          method: request.method,
          url: request.url,
          ...(request.body === undefined ? {} : { payload: request.body }),
          headers: { ...(request.contentType ? { 'content-type': request.contentType } : {}), ...request.headers },
        });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        // A valid request to a door that waits for its tasks ends its wait here at once (the sync timeout is
        // 0): its 504 DAN_ERR_WAIT_TIMEOUT is that door's 202, not a failure.
        const waitEnded = response.statusCode === 504 && response.body.includes('"DAN_ERR_WAIT_TIMEOUT"');
        if (!waitEnded) expect(response.statusCode, `${request.method} ${request.url} ${response.body.slice(0, 300)}`).toBeLessThan(500);
        // Each door's own shape (DAN's envelope, OpenAI's, the WebUI's), with a message that says something.
        if (response.statusCode >= 400) expect(response.body, `${request.method} ${request.url}`).toMatch(errorShapeOf(request.url));
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 600), seed: Number(process.env['FUZZ_SEED'] ?? 20261204) },
    );
    // The run reached the parsers and beyond, not only the door: refusals of several kinds, and some work accepted.
    expect([...statuses.keys()].filter((s) => s >= 400 && s < 500).length).toBeGreaterThanOrEqual(4);
    expect((statuses.get(200) ?? 0) + (statuses.get(202) ?? 0)).toBeGreaterThan(0);
  }, 60_000);
});
