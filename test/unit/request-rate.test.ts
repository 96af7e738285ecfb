/**
 * The per-caller request rate (auth/request-rate.ts) and whom an anonymous
 * request counts for (api/auth.ts addressOf): a window starts at a caller's
 * first request and ends a minute later, callers are counted apart, ended
 * windows are forgotten, and one IPv6 host's many addresses are one caller.
 */
import { describe, expect, it } from 'vitest';
import { addressOf } from '../../src/api/auth.js';
import { RequestRate } from '../../src/auth/request-rate.js';

function rateAt(start = 1_000_000) {
  const time = { now: start };
  return { time, rate: new RequestRate(() => time.now, 60_000) };
}

describe('RequestRate', () => {
  it('allows `limit` requests a window, then refuses until the window ends', () => {
    const { time, rate } = rateAt();
    expect([1, 2, 3].map(() => rate.take('kim', 3))).toEqual([
      { allowed: true, remaining: 2, resetMs: 60_000 },
      { allowed: true, remaining: 1, resetMs: 60_000 },
      { allowed: true, remaining: 0, resetMs: 60_000 },
    ]);
    time.now += 45_000;
    expect(rate.take('kim', 3)).toEqual({ allowed: false, remaining: 0, resetMs: 15_000 });
    time.now += 15_000;
    expect(rate.take('kim', 3)).toEqual({ allowed: true, remaining: 2, resetMs: 60_000 });
  });

  it('counts each caller apart, each with its own limit', () => {
    const { rate } = rateAt();
    rate.take('kim', 1);
    expect(rate.take('kim', 1).allowed).toBe(false);
    expect(rate.take('lee', 2).allowed).toBe(true);
    expect(rate.take('lee', 2).allowed).toBe(true);
    expect(rate.take('lee', 2).allowed).toBe(false);
  });

  it('forgets callers whose window ended, once a window, so memory follows the recent callers', () => {
    const { time, rate } = rateAt();
    for (let i = 0; i < 100; i++) rate.take(`10.0.0.${i}`, 5);
    expect(rate.size).toBe(100);
    time.now += 30_000;
    rate.take('late', 5);
    expect(rate.size).toBe(101);
    time.now += 30_000;
    rate.take('later', 5);
    // The 100 first windows ended; 'late' still runs, 'later' just began.
    expect(rate.size).toBe(2);
  });
});

describe('RequestRate at its cap', () => {
  it('keeps at most its cap of callers, dropping the oldest windows first', () => {
    const time = { now: 0 };
    const rate = new RequestRate(() => time.now, 60_000, 100);
    for (let i = 0; i < 100; i++) {
      rate.take(`caller-${i}`, 5);
      time.now += 10;
    }
    rate.take('newcomer', 5);
    expect(rate.size).toBeLessThanOrEqual(100);
    // The newest callers keep their count; the oldest were forgotten and start anew.
    expect(rate.take('caller-99', 2)).toMatchObject({ remaining: 0 });
    expect(rate.take('caller-0', 2)).toMatchObject({ remaining: 1 });
  });
});

describe('addressOf', () => {
  const of = (ip: string) => addressOf({ ip } as never);
  it('counts an IPv6 host by its /64, an IPv4 address (mapped or not) as itself', () => {
    expect(of('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(of('2001:0db8:0001:0002:ffff:eeee:dddd:cccc')).toBe('2001:db8:1:2::/64');
    expect(of('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(of('192.0.2.7')).toBe('192.0.2.7');
    expect(of('::1')).toBe('0:0:0:0::/64');
  });
});
