/**
 * The scheduler with model families of different step costs: `npm run bench:schedule-families`.
 *
 * The standard trace of bench:schedule (8 nodes of three speeds, 2,000 tasks, 8 checkpoints by Zipf
 * popularity), its checkpoints now of three families: SD 1.5, SDXL and Flux.1 (the nodes that hold a
 * Flux.1 model are Forge WebUIs), and every GPU taking a Flux.1 step at `BENCH_FLUX_COST` SD 1.5 steps
 * at the same size (10 by default: twice the gateway's first guess of 5, as a GPU without fp8 or with
 * offloading does) and an SDXL step at its guess. Each seed runs all at once and Poisson at 80 % of
 * capacity, warm and cold, with the step costs priced three ways:
 * - `learned`: DAN as it runs, first guesses corrected by what nodes that run several families measure;
 * - `priors`: the first guesses alone;
 * - `flat`: every family's step as SD 1.5's (DAN before it priced families).
 * Per way it prints the makespan against the bound (all at once), the waits and the share of ETAs within
 * 25 % (Poisson), and how well a run's predicted time matched (median error). Nothing waits for real.
 *
 * Knobs: BENCH_SEEDS=1-5 (a range or a list)  BENCH_FLUX_COST=10  BENCH_WRITE=1|0 (default: write BENCHMARKS.md
 * for the standard run only)
 */
import { writeBenchSection } from './benchmarks-file.js';
import { seedsFromEnv } from './seeds-from-env.js';
import type { FamilyCostsMode } from './schedule-policies.js';
import { simulate } from './schedule-sim.js';
import { summarize } from './schedule-stats.js';
import { arrivalsOf, holdingsBoundSeconds, makeStandardTrace, STANDARD_TRACE } from './schedule-trace.js';
import type { ModelFamily } from '../src/domain/families.js';
import { DEFAULT_STEP_COSTS } from '../src/sandbox/time-model.js';

/** The checkpoints' families, most popular first: about 60 % of tasks SD 1.5, 16 % SDXL, 24 % Flux.1. */
const FAMILIES: readonly ModelFamily[] = ['sd15', 'flux', 'sdxl', 'sd15', 'flux', 'sdxl', 'sd15', 'sd15'];
const MODES: readonly FamilyCostsMode[] = ['learned', 'priors', 'flat'];

function fluxCostFromEnv(): number {
  const raw = process.env['BENCH_FLUX_COST'] ?? '10';
  const cost = Number(raw);
  if (!Number.isFinite(cost) || cost <= 0) throw new Error(`BENCH_FLUX_COST must be a positive number, got "${raw}"`);
  return cost;
}

interface Figures {
  makespanOverBound: number;
  p50: number;
  p99: number;
  max: number;
  etaWithin: number;
  runError: number;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function main(): void {
  const seeds = seedsFromEnv('1-5');
  const fluxCost = fluxCostFromEnv();
  const stepCosts = { ...DEFAULT_STEP_COSTS, flux: fluxCost };
  const figures = new Map<string, Figures[]>();
  for (const seed of seeds) {
    const trace = makeStandardTrace({ ...STANDARD_TRACE, seed, families: FAMILIES, stepCosts });
    const bound = holdingsBoundSeconds(trace);
    for (const start of ['warm', 'cold'] as const) {
      for (const familyCosts of MODES) {
        const options = { primeEstimates: start === 'warm', seed, familyCosts };
        const burst = summarize(simulate('dan', trace.nodes, arrivalsOf(trace, 'burst'), options));
        const poisson = summarize(simulate('dan', trace.nodes, arrivalsOf(trace, 'poisson'), options));
        if (burst.anomalies + poisson.anomalies + burst.violations + poisson.violations > 0) throw new Error(`seed ${seed} ${start} ${familyCosts}: tasks lost or run where they cannot (${JSON.stringify([burst.anomalies, poisson.anomalies, burst.violations, poisson.violations])})`);
        const key = `${start} ${familyCosts}`;
        figures.set(key, [
          ...(figures.get(key) ?? []),
          {
            makespanOverBound: burst.makespanSeconds / bound,
            p50: poisson.waitAll.p50,
            p99: poisson.waitAll.p99,
            max: poisson.waitAll.max,
            etaWithin: poisson.eta?.withinShare ?? 0,
            runError: poisson.eta?.medianRunErrorShare ?? NaN,
          },
        ]);
      }
    }
    console.error(`seed ${seed} done`);
  }
  const command = [process.env['BENCH_SEEDS'] ? `BENCH_SEEDS=${process.env['BENCH_SEEDS']}` : '', process.env['BENCH_FLUX_COST'] ? `BENCH_FLUX_COST=${fluxCost}` : '', 'npm run bench:schedule-families'].filter(Boolean).join(' ');
  const lines = [
    '## Model families of different step costs (simulation)',
    '',
    `\`${command}\`: the standard trace's fleet and tasks, seeds ${seeds[0]}–${seeds.at(-1)}, its checkpoints SD 1.5, SDXL and Flux.1 (about 60 / 16 / 24 % of tasks); every GPU takes a Flux.1 step at ${fluxCost} SD 1.5 steps (the gateway first guesses ${DEFAULT_STEP_COSTS.flux}), an SDXL step at ${DEFAULT_STEP_COSTS.sdxl}. Step costs priced as DAN does (learned), by the first guesses alone (priors), or every family as SD 1.5 (flat: DAN before). Means over the seeds.`,
    '',
    '| start | step costs | all at once: makespan / bound | Poisson 80 %: wait p50 / p99 / max | ETAs within 25 % | run time predicted, median error |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [key, list] of figures) {
    const [start, mode] = key.split(' ');
    lines.push(
      `| ${start} | ${mode} | ${mean(list.map((f) => f.makespanOverBound)).toFixed(3)} | ${mean(list.map((f) => f.p50)).toFixed(1)} / ${mean(list.map((f) => f.p99)).toFixed(1)} / ${mean(list.map((f) => f.max)).toFixed(1)} s | ${(100 * mean(list.map((f) => f.etaWithin))).toFixed(1)} % | ${(100 * mean(list.map((f) => f.runError))).toFixed(1)} % |`,
    );
  }
  const section = lines.join('\n');
  console.log(section);
  const asked = process.env['BENCH_WRITE'];
  const write = asked === undefined ? command === 'npm run bench:schedule-families' : asked === '1';
  if (write) writeBenchSection('schedule-families', section);
  console.error(write ? 'written to BENCHMARKS.md' : 'BENCHMARKS.md left as is');
}

main();
