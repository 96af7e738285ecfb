/**
 * `/readyz`'s problems: a store that does not answer within a second is said to be so at once (a probe
 * times out otherwise), and nothing of its address or its error reaches the unauthenticated answer.
 */
import { describe, expect, it } from 'vitest';
import { readinessProblems } from '../../src/gateway/readiness.js';

describe('readinessProblems', () => {
  it('is empty when the store answers and a node can serve', async () => {
    expect(await readinessProblems({ ping: async () => {} }, null)).toEqual([]);
  });

  it('says the store does not answer, without its address, when it fails or does not answer in time', async () => {
    const failing = { ping: () => Promise.reject(new Error('database postgres://dan:secret@db.internal:5432/dan: Connection terminated')) };
    expect(await readinessProblems(failing, null)).toEqual(['the task store does not answer; the gateway log says why']);
    // A ping that never ends: answered once its time is up (else this test would never end).
    const hanging = { ping: () => new Promise<void>(() => {}) };
    expect(await readinessProblems(hanging, 'no node is connected', 50)).toEqual(['the task store does not answer; the gateway log says why', 'no node is connected']);
  });
});
