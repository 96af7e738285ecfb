/**
 * `BENCH_PLAN`: planner settings other than the defaults, for tuning runs of bench:schedule and
 * bench:schedule-seeds, checked so that a mistyped name is not silently a run with the defaults.
 */
import type { PlanOptions } from '../src/scheduler/plan-types.js';

const PLAN_KEYS: readonly (keyof PlanOptions)[] = ['affinityWindow', 'maxSkipSeconds', 'fallbackWindow', 'coveredSwitches', 'shortfallLoads', 'switchAgeWeight', 'urgentWaitFactor', 'urgentGapSeconds', 'longPoleSeconds'];

export function planFromEnv(): PlanOptions | undefined {
  const raw = process.env['BENCH_PLAN'];
  if (raw === undefined || raw === '') return undefined;
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null) throw new Error('BENCH_PLAN must be a JSON object');
  for (const [key, value] of Object.entries(parsed)) {
    if (!PLAN_KEYS.includes(key as keyof PlanOptions)) throw new Error(`BENCH_PLAN: unknown setting "${key}" (allowed: ${PLAN_KEYS.join(', ')})`);
    if (typeof value !== 'number' || !(value >= 0)) throw new Error(`BENCH_PLAN: ${key} must be a non-negative number`);
  }
  return parsed;
}
