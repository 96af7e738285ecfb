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
 * With `BENCH_JITTER=n`, each seed is also run n more times with every arrival moved later by under
 * 10 ms (its own random stream): the same trace as far as any client or clock could tell. How far a
 * seed's longest wait moves under that is how much of it is the policy and how much is chance; the
 * share of all runs over 80 s is a figure that does not hinge on one unlucky run.
 *
 * Knobs: BENCH_SEEDS=1-30 (a range, or a list: 1,4,9)  BENCH_PLAN='{"urgentWaitFactor":1.5}' (as for
 * bench:schedule)  BENCH_JITTER=6 (runs per seed beside the exact one; 0 by default)
 */
import { planFromEnv } from './plan-from-env.js';
import { seedsFromEnv } from './seeds-from-env.js';
import { createRandom, Streams } from './schedule-random.js';
import { simulate } from './schedule-sim.js';
import { summarize } from './schedule-stats.js';
import type { SimTask } from './schedule-tasks.js';
import { arrivalsOf, makeStandardTrace, STANDARD_TRACE } from './schedule-trace.js';

/** Issue 9's bound on any task's wait in the Poisson runs, seconds. */
const TAIL_TARGET_SECONDS = 80;
/** A jittered run moves each arrival later by less than this. */
const JITTER_MS = 10;

function jitterFromEnv(): number {
  const raw = process.env['BENCH_JITTER'] ?? '0';
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 0) throw new Error(`BENCH_JITTER must be a whole number of runs per seed (0 or more), got "${raw}"`);
  return runs;
}

/** `tasks` with each arrival moved later by under `JITTER_MS`, in arrival order. */
function jittered(tasks: readonly SimTask[], seed: number, run: number): SimTask[] {
  const random = createRandom(seed * 1000 + run, Streams.jitter);
  return tasks.map((t) => ({ ...t, arrivalMs: t.arrivalMs + random.next() * JITTER_MS })).sort((a, b) => a.arrivalMs - b.arrivalMs);
}

interface SeedFigures {
  seed: number;
  max: number;
  p99: number;
  p50: number;
  etaWithin: number;
  /** Whether some small key's p95 wait is over the big key's (fair order should keep them under it). */
  smallOverBig: boolean;
  /** The longest wait of each jittered run. */
  jitteredMax: number[];
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function main(): void {
  const seeds = seedsFromEnv('1-30');
  const jitterRuns = jitterFromEnv();
  const plan = planFromEnv();
  const byStart = { warm: [] as SeedFigures[], cold: [] as SeedFigures[] };
  for (const seed of seeds) {
    const trace = makeStandardTrace({ ...STANDARD_TRACE, seed });
    const tasks = arrivalsOf(trace, 'poisson');
    for (const start of ['warm', 'cold'] as const) {
      const run = (list: readonly SimTask[]) => summarize(simulate('dan', trace.nodes, list, { primeEstimates: start === 'warm', seed, ...(plan ? { plan } : {}) }));
      const summary = run(tasks);
      const jitteredMax = Array.from({ length: jitterRuns }, (_, i) => run(jittered(tasks, seed, i + 1)).waitAll.max);
      const big = summary.waitByKey.get('key-big');
      const smallOverBig = big !== undefined && [...summary.waitByKey].some(([key, spread]) => key !== 'key-big' && spread.p95 > big.p95);
      byStart[start].push({ seed, max: summary.waitAll.max, p99: summary.waitAll.p99, p50: summary.waitAll.p50, etaWithin: summary.eta?.withinShare ?? 0, smallOverBig, jitteredMax });
    }
    const spread = (f: SeedFigures) => (jitterRuns > 0 ? ` (jittered ${Math.min(...f.jitteredMax).toFixed(0)}–${Math.max(...f.jitteredMax).toFixed(0)} s)` : '');
    console.error(`seed ${seed}: warm max ${byStart.warm.at(-1)!.max.toFixed(0)} s${spread(byStart.warm.at(-1)!)}, cold max ${byStart.cold.at(-1)!.max.toFixed(0)} s${spread(byStart.cold.at(-1)!)}`);
  }
  const lines = [
    `Seeds ${seeds[0]}–${seeds.at(-1)} (${seeds.length}), Poisson at 80 %, DAN${plan ? `, BENCH_PLAN='${JSON.stringify(plan)}'` : ''}:`,
    '',
    `| start | seeds with a wait over ${TAIL_TARGET_SECONDS} s | longest wait, mean / worst | p99 wait, mean | p50 wait, mean | ETAs within 25 %, mean | seeds where a small key's p95 wait is over the big key's |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [start, figures] of Object.entries(byStart)) {
    const over = figures.filter((f) => f.max > TAIL_TARGET_SECONDS);
    const overList = over.length > 0 ? ` (${over.map((f) => `${f.seed}: ${f.max.toFixed(0)} s`).join(', ')})` : '';
    lines.push(
      `| ${start} | ${over.length}${overList} | ${mean(figures.map((f) => f.max)).toFixed(1)} / ${Math.max(...figures.map((f) => f.max)).toFixed(0)} s | ${mean(figures.map((f) => f.p99)).toFixed(1)} s | ${mean(figures.map((f) => f.p50)).toFixed(1)} s | ${(100 * mean(figures.map((f) => f.etaWithin))).toFixed(1)} % | ${figures.filter((f) => f.smallOverBig).length} |`,
    );
  }
  if (jitterRuns > 0) lines.push('', ...jitterLines(byStart, jitterRuns));
  console.log(lines.join('\n'));
}

/** The jittered runs: per start, the share of all runs over the target, and how far one seed's longest wait moved. */
function jitterLines(byStart: Record<string, SeedFigures[]>, jitterRuns: number): string[] {
  const lines = [
    `With ${jitterRuns} more runs per seed, each arrival moved later by under ${JITTER_MS} ms:`,
    '',
    `| start | runs with a wait over ${TAIL_TARGET_SECONDS} s | seeds with some run over ${TAIL_TARGET_SECONDS} s | longest wait, mean of all runs | widest spread of one seed's longest wait |`,
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [start, figures] of Object.entries(byStart)) {
    const all = figures.flatMap((f) => [f.max, ...f.jitteredMax]);
    const over = all.filter((max) => max > TAIL_TARGET_SECONDS).length;
    const seedsOver = figures.filter((f) => [f.max, ...f.jitteredMax].some((max) => max > TAIL_TARGET_SECONDS)).length;
    const widest = figures
      .map((f) => ({ seed: f.seed, low: Math.min(f.max, ...f.jitteredMax), high: Math.max(f.max, ...f.jitteredMax) }))
      .reduce((a, b) => (b.high - b.low > a.high - a.low ? b : a));
    lines.push(
      `| ${start} | ${over} of ${all.length} (${((100 * over) / all.length).toFixed(0)} %) | ${seedsOver} of ${figures.length} | ${mean(all).toFixed(1)} s | seed ${widest.seed}: ${widest.low.toFixed(0)}–${widest.high.toFixed(0)} s |`,
    );
  }
  return lines;
}

main();
