/**
 * The wait tail over many seeds: `npm run bench:schedule-seeds`.
 *
 * One seed's longest wait is a single task out of 2,000, and it moves chaotically with small changes
 * to the policy: a change that helps seed 4 may hurt seed 2. Judging a change to the planner's rules
 * needs many seeds. This runs the standard trace's Poisson arrivals (80 % load) under DAN, warm and
 * cold, for each seed in a range. Per start it prints:
 * - how many seeds had a wait over 80 s (issue 9's target: none);
 * - the mean and the worst of the longest waits;
 * - the mean p99 and p50 wait;
 * - the share of ETAs within 25 %.
 * No positions are audited, so a seed takes about a second. Nothing is written to BENCHMARKS.md.
 *
 * Knobs: BENCH_SEEDS=1-30 (a range, or a list: 1,4,9)  BENCH_PLAN='{"urgentWaitFactor":1.5}' (as for
 * bench:schedule)
 */
import { planFromEnv } from './plan-from-env.js';
import { simulate } from './schedule-sim.js';
import { summarize } from './schedule-stats.js';
import { arrivalsOf, makeStandardTrace, STANDARD_TRACE } from './schedule-trace.js';

/** Issue 9's bound on any task's wait in the Poisson runs, seconds. */
const TAIL_TARGET_SECONDS = 80;

function seedsFromEnv(): number[] {
  const raw = process.env['BENCH_SEEDS'] ?? '1-30';
  const range = /^(\d+)-(\d+)$/.exec(raw);
  const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : raw.split(',').map(Number);
  if (seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s > 0)) throw new Error(`BENCH_SEEDS must be a range (1-30) or a list (1,4,9) of positive integers, got "${raw}"`);
  return seeds;
}

interface SeedFigures {
  seed: number;
  max: number;
  p99: number;
  p50: number;
  etaWithin: number;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function main(): void {
  const seeds = seedsFromEnv();
  const plan = planFromEnv();
  const byStart = { warm: [] as SeedFigures[], cold: [] as SeedFigures[] };
  for (const seed of seeds) {
    const trace = makeStandardTrace({ ...STANDARD_TRACE, seed });
    const tasks = arrivalsOf(trace, 'poisson');
    for (const start of ['warm', 'cold'] as const) {
      const summary = summarize(simulate('dan', trace.nodes, tasks, { primeEstimates: start === 'warm', seed, ...(plan ? { plan } : {}) }));
      byStart[start].push({ seed, max: summary.waitAll.max, p99: summary.waitAll.p99, p50: summary.waitAll.p50, etaWithin: summary.eta?.withinShare ?? 0 });
    }
    console.error(`seed ${seed}: warm max ${byStart.warm.at(-1)!.max.toFixed(0)} s, cold max ${byStart.cold.at(-1)!.max.toFixed(0)} s`);
  }
  const lines = [
    `Seeds ${seeds[0]}–${seeds.at(-1)} (${seeds.length}), Poisson at 80 %, DAN${plan ? `, BENCH_PLAN='${JSON.stringify(plan)}'` : ''}:`,
    '',
    `| start | seeds with a wait over ${TAIL_TARGET_SECONDS} s | longest wait, mean / worst | p99 wait, mean | p50 wait, mean | ETAs within 25 %, mean |`,
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [start, figures] of Object.entries(byStart)) {
    const over = figures.filter((f) => f.max > TAIL_TARGET_SECONDS);
    const overList = over.length > 0 ? ` (${over.map((f) => `${f.seed}: ${f.max.toFixed(0)} s`).join(', ')})` : '';
    lines.push(
      `| ${start} | ${over.length}${overList} | ${mean(figures.map((f) => f.max)).toFixed(1)} / ${Math.max(...figures.map((f) => f.max)).toFixed(0)} s | ${mean(figures.map((f) => f.p99)).toFixed(1)} s | ${mean(figures.map((f) => f.p50)).toFixed(1)} s | ${(100 * mean(figures.map((f) => f.etaWithin))).toFixed(1)} % |`,
    );
  }
  console.log(lines.join('\n'));
}

main();
