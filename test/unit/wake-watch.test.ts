import { describe, expect, it } from 'vitest';
import { WakeWatch } from '../../src/util/wake-watch.js';

describe('WakeWatch', () => {
  it('counts a check two intervals late as a stall, and a merely slow loop as none', () => {
    const wake = new WakeWatch(1000, 0);
    expect(wake.tick(1000)).toBe(-Infinity);
    expect(wake.tick(2600)).toBe(-Infinity);
    expect(wake.tick(4700)).toBe(4700);
    expect(wake.tick(5700)).toBe(4700);
  });

  it('counts a stall before the first check, from when the checks were set going', () => {
    expect(new WakeWatch(1000, 0).tick(60_000)).toBe(60_000);
    expect(new WakeWatch(1000).tick(60_000)).toBe(-Infinity);
  });

  it('tells of a stall an event meets before the check that would notice it, without counting a check', () => {
    const wake = new WakeWatch(1000, 0);
    wake.tick(1000);
    // Woken at 30 s: a frame read first meets the stall already.
    expect(wake.awakeSinceAt(30_000)).toBe(30_000);
    expect(wake.awakeSinceAt(1500)).toBe(-Infinity);
    // The check, late, says the same.
    expect(wake.tick(30_010)).toBe(30_010);
  });
});
