/**
 * What a gateway sharing a database publishes of its nodes for the others' dashboards: each listing once,
 * and again only when it changed or its row came back without it.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { publishNodes } from '../../src/gateway/node-publishing.js';
import type { NodeHub } from '../../src/network/node-hub.js';
import type { NodeRoster } from '../../src/store/postgres/node-roster.js';

interface Listing {
  id: string;
  running: number;
}

function world() {
  const sessions = new Map<string, object>();
  const hub = Object.assign(new EventEmitter(), { sessions }) as unknown as NodeHub;
  const written: string[][] = [];
  const roster = {
    ownCount: vi.fn<() => Promise<number>>(async () => sessions.size),
    publish: vi.fn<() => Promise<void>>(async () => {}),
    withdraw: vi.fn<() => Promise<void>>(async () => {}),
    publishListings: vi.fn<(listings: { id: string; json: string }[]) => Promise<void>>(async (listings) => {
      written.push(listings.map((l) => l.json));
    }),
  };
  const listings: Listing[] = [];
  const timer = publishNodes(hub, roster as unknown as NodeRoster, { now: () => 0, logger: pino({ level: 'silent' }), listings: () => listings });
  const session = (id: string) => ({ id, name: id, offeringVersion: 0, backendUp: true, offering: { capabilities: {} } });
  return { hub, sessions, roster, written, listings, timer, session };
}

describe('publishing node listings', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes a listing when it first appears and when it changes, not every tick', async () => {
    const w = world();
    w.sessions.set('a', w.session('a'));
    w.sessions.set('b', w.session('b'));
    w.listings.push({ id: 'a', running: 0 }, { id: 'b', running: 0 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.written).toEqual([['{"id":"a","running":0}', '{"id":"b","running":0}']]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.written.at(-1)).toEqual([]);
    w.listings[1]!.running = 1;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.written.at(-1)).toEqual(['{"id":"b","running":1}']);
    clearInterval(w.timer);
  });

  it('writes it again after a failed write, and after the row was published anew (the leader had dropped it)', async () => {
    const w = world();
    w.sessions.set('a', w.session('a'));
    w.listings.push({ id: 'a', running: 0 });
    w.roster.publishListings.mockRejectedValueOnce(new Error('database away'));
    await vi.advanceTimersByTimeAsync(5_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.written).toEqual([['{"id":"a","running":0}']]);
    // The leader dropped a's row: this gateway counts fewer rows than nodes and publishes a again.
    w.roster.ownCount.mockResolvedValueOnce(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.roster.publish).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.written.at(-1)).toEqual(['{"id":"a","running":0}']);
    clearInterval(w.timer);
  });
});
