import { describe, expect, it } from 'vitest';
import { OverheadMeter } from '../../src/gateway/overhead-meter.js';

describe('OverheadMeter', () => {
  it('has no figures before the first sample', () => {
    expect(new OverheadMeter().summary()).toEqual({ dispatch: null, relay: null });
  });

  it('gives percentiles of the samples of each kind', () => {
    const meter = new OverheadMeter();
    for (let ms = 1; ms <= 100; ms++) meter.dispatched(ms);
    meter.relayed(2.5);
    expect(meter.summary()).toEqual({
      dispatch: { samples: 100, p50: 50, p95: 95, p99: 99, max: 100 },
      relay: { samples: 1, p50: 2.5, p95: 2.5, p99: 2.5, max: 2.5 },
    });
  });

  it('keeps only the latest samples', () => {
    const meter = new OverheadMeter(10);
    for (let i = 0; i < 10; i++) meter.dispatched(1000);
    for (let i = 0; i < 10; i++) meter.dispatched(1);
    expect(meter.summary().dispatch).toEqual({ samples: 10, p50: 1, p95: 1, p99: 1, max: 1 });
  });
});
