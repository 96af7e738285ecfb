/**
 * Requests with a body are let through a few per turn of the event loop (api/turn-admission.ts); the rest wait
 * their turn, in order, and nothing is lost.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { admitBodiesInTurns, TurnAdmission } from '../../src/api/turn-admission.js';
import { RecordingLogger } from '../helpers/fake-nodes.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('TurnAdmission', () => {
  it('lets through so many a turn, the others in later turns in the order they came', async () => {
    const admission = new TurnAdmission(2, (error) => {
      throw error;
    });
    const went: number[] = [];
    for (let i = 0; i < 5; i++) admission.admit(() => went.push(i));
    expect(went).toEqual([0, 1]);
    expect(admission.waiting).toBe(3);
    await nextTurn();
    expect(went).toEqual([0, 1, 2, 3]);
    // A newcomer while some wait goes behind them.
    admission.admit(() => went.push(5));
    await nextTurn();
    expect(went).toEqual([0, 1, 2, 3, 4, 5]);
    expect(admission.waiting).toBe(0);
    // Once a turn has passed with room, a newcomer goes at once.
    await nextTurn();
    admission.admit(() => went.push(6));
    expect(went).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('counts those let through from the waiting against the turn that follows', async () => {
    const admission = new TurnAdmission(2, (error) => {
      throw error;
    });
    const went: number[] = [];
    for (let i = 0; i < 4; i++) admission.admit(() => went.push(i));
    await nextTurn();
    expect(went).toEqual([0, 1, 2, 3]);
    // Two went this turn from the waiting: a newcomer now waits for the next.
    admission.admit(() => went.push(4));
    expect(went).toEqual([0, 1, 2, 3]);
    await nextTurn();
    expect(went).toEqual([0, 1, 2, 3, 4]);
  });

  it('puts one that comes while the waiting are let through behind them', async () => {
    const admission = new TurnAdmission(2, (error) => {
      throw error;
    });
    const went: string[] = [];
    admission.admit(() => went.push('a'));
    admission.admit(() => went.push('b'));
    admission.admit(() => {
      went.push('c');
      // Admitted while the turn lets the waiting through: there is room in the turn, but d and e were first.
      admission.admit(() => went.push('x'));
    });
    admission.admit(() => went.push('d'));
    admission.admit(() => went.push('e'));
    await nextTurn();
    await nextTurn();
    expect(went).toEqual(['a', 'b', 'c', 'd', 'e', 'x']);
  });

  it('keeps the order over thousands waiting', async () => {
    const admission = new TurnAdmission(500, (error) => {
      throw error;
    });
    const went: number[] = [];
    for (let i = 0; i < 3000; i++) admission.admit(() => went.push(i));
    const waiting = [admission.waiting];
    while (admission.waiting > 0) {
      await nextTurn();
      waiting.push(admission.waiting);
    }
    // Its list is cut down past 1,024 taken from its front (the third turn here): nothing lost or run twice.
    expect(waiting).toEqual([2500, 2000, 1500, 1000, 500, 0]);
    expect(went).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });

  it("reports a caller that throws when let through later, and lets the next through all the same", async () => {
    const errors: unknown[] = [];
    const admission = new TurnAdmission(1, (error) => errors.push(error));
    const went: string[] = [];
    admission.admit(() => went.push('first'));
    admission.admit(() => {
      throw new Error('broken');
    });
    admission.admit(() => went.push('third'));
    await nextTurn();
    await nextTurn();
    expect(went).toEqual(['first', 'third']);
    expect(errors).toEqual([new Error('broken')]);
  });
});

describe('admitBodiesInTurns', () => {
  let app: FastifyInstance;
  /** The bodies the POST route got, in the order its handler ran. */
  let handled: number[];
  afterEach(() => app.close());

  /** An app whose POST route says in which turn its handler ran (a counter a chain of `setImmediate` moves). */
  async function appCountingTurns(perTurn: number) {
    app = Fastify();
    handled = [];
    admitBodiesInTurns(app, new RecordingLogger(), perTurn);
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn += 1;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    app.addHook('onClose', async () => {
      ticking = false;
    });
    app.post('/work', async (request) => {
      const got = (request.body as { n: number }).n;
      handled.push(got);
      return { turn, got };
    });
    app.post('/status', { config: { readAtOnce: true } }, async () => ({ turn }));
    app.get('/look', async () => ({ turn }));
    await app.ready();
    return app;
  }

  it('reads and answers every request with a body, at most so many in a turn', async () => {
    await appCountingTurns(2);
    const answers = await Promise.all(Array.from({ length: 7 }, (_, n) => app.inject({ method: 'POST', url: '/work', payload: { n } })));
    const bodies = answers.map((a) => a.json<{ turn: number; got: number }>());
    expect(answers.every((a) => a.statusCode === 200)).toBe(true);
    // Each request's own body, handled in the order they came.
    expect(bodies.map((b) => b.got)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const perTurn = new Map<number, number>();
    for (const b of bodies) perTurn.set(b.turn, (perTurn.get(b.turn) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(2);
    expect(perTurn.size).toBeGreaterThanOrEqual(4);
  });

  it('does not hold requests without a body, nor those of a route read at once', async () => {
    await appCountingTurns(1);
    const posts = Array.from({ length: 6 }, (_, n) => app.inject({ method: 'POST', url: '/work', payload: { n } }));
    const look = await app.inject({ method: 'GET', url: '/look' });
    const status = await app.inject({ method: 'POST', url: '/status', payload: { taskId: 't' } });
    const last = Math.max(...(await Promise.all(posts)).map((a) => a.json<{ turn: number }>().turn));
    // Sent after six POSTs let through one a turn, both are answered before the last of them.
    expect(look.json<{ turn: number }>().turn).toBeLessThan(last);
    expect(status.json<{ turn: number }>().turn).toBeLessThan(last);
  });

  it('holds nothing with a limit of 0', async () => {
    await appCountingTurns(0);
    const answers = await Promise.all(Array.from({ length: 6 }, (_, n) => app.inject({ method: 'POST', url: '/work', payload: { n } })));
    const turns = new Set(answers.map((a) => a.json<{ turn: number }>().turn));
    expect(turns.size).toBe(1);
  });
});
