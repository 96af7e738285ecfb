import { describe, expect, it } from 'vitest';
import { PACED_FROM_NODES, PassPacing } from '../../../src/gateway/pass-pacing.js';

describe('PassPacing: in a large fleet, passes leave the event loop most of its time', () => {
  it('never holds up a pass of a small fleet, however long passes take', () => {
    const pacing = new PassPacing();
    pacing.ran(5, 1000, PACED_FROM_NODES - 1);
    expect(pacing.waitMs(1000)).toBe(0);
  });

  it('in a large fleet, lets four times the typical pass go by after the last one ended', () => {
    const pacing = new PassPacing();
    pacing.ran(1, 1000, PACED_FROM_NODES);
    expect(pacing.waitMs(1000)).toBe(4);
    expect(pacing.waitMs(1003)).toBe(1);
    expect(pacing.waitMs(1004)).toBe(0);
    // The typical pass forgets slowly: one long pass moves it a tenth of the way (1 → 1.9 ms).
    pacing.ran(10, 2000, PACED_FROM_NODES);
    expect(pacing.waitMs(2000)).toBeCloseTo(7.6);
  });

  it('holds a pass up no longer than 20 ms, whatever the passes before took', () => {
    const pacing = new PassPacing();
    pacing.ran(100, 1000, 5000);
    expect(pacing.waitMs(1000)).toBe(20);
  });
});
