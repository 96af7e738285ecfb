import { describe, expect, it } from 'vitest';
import { resolveSampler } from '../../src/domain/samplers.js';

const samplers = ['DPM++ 2M', 'DPM++ SDE', 'Euler a'];
const schedulers = ['Automatic', 'automatic', 'Karras', 'karras'];

describe('resolveSampler', () => {
  it('uses a listed name as it is, with the node spelling', () => {
    expect(resolveSampler('euler a', samplers, schedulers)).toEqual({ sampler: 'Euler a', scheduler: null });
  });

  it('splits a legacy combined name into sampler and scheduler', () => {
    expect(resolveSampler('DPM++ SDE Karras', samplers, schedulers)).toEqual({ sampler: 'DPM++ SDE', scheduler: 'Karras' });
  });

  it('prefers an exact listing over splitting (pre-1.9 WebUIs list combined names)', () => {
    expect(resolveSampler('DPM++ SDE Karras', ['DPM++ SDE Karras', 'DPM++ SDE'], schedulers)).toEqual({ sampler: 'DPM++ SDE Karras', scheduler: null });
  });

  it('refuses a name the node cannot run', () => {
    expect(resolveSampler('DPM++ SDE Karras', samplers, [])).toBeNull();
    expect(resolveSampler('UniPC', samplers, schedulers)).toBeNull();
  });
});
