import { describe, expect, it } from 'vitest';
import { ArrivalLog } from '../../../src/scheduler/arrival-log.js';

describe('ArrivalLog', () => {
  it('counts the units that arrived within a window before now', () => {
    const log = new ArrivalLog();
    log.add(1_000, 5);
    log.add(2_000, 7);
    log.add(10_000, 3);
    expect(log.unitsWithin(10_000, 1)).toBe(3);
    expect(log.unitsWithin(10_000, 8)).toBe(10);
    expect(log.unitsWithin(10_000, 60)).toBe(15);
    expect(log.unitsWithin(100_000, 60)).toBe(0);
  });

  it('counts an arrival older than the last one (a task read back after a restart) as at the last one', () => {
    const log = new ArrivalLog();
    log.add(50_000, 4);
    log.add(1_000, 6);
    expect(log.unitsWithin(50_000, 1)).toBe(10);
  });

  it('forgets arrivals older than ten minutes, however many came', () => {
    const log = new ArrivalLog();
    for (let i = 0; i < 5_000; i++) log.add(i, 1);
    log.add(20 * 60_000, 2);
    expect(log.unitsWithin(20 * 60_000, 3_600)).toBe(2);
  });
});
