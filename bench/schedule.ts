/**
 * The scheduler benchmark: `npm run bench:schedule`.
 *
 * The standard trace of the scheduler issue (8 nodes of three speeds, 2,000
 * tasks from 5 API keys) in a discrete-event simulation: node times follow the
 * sandbox's time model for the A1111 request each node would really receive,
 * and the real `Scheduler` is driven exactly as the gateway's dispatcher
 * drives it. Two arrival patterns (all at once, Poisson at 80 % of capacity),
 * each under DAN's scheduler and under the original deployment's FIFO
 * round-robin; on the Poisson arrivals, also references for the wait tail
 * with switches free (schedule-ideal.ts). A run takes seconds; nothing waits
 * for real.
 *
 * Knobs (environment), for tuning runs:
 *   BENCH_SEED=1  BENCH_TASKS=2000  BENCH_LOAD=0.8  BENCH_SWITCH_SECONDS=8
 *   BENCH_PATTERN=both|burst|poisson  BENCH_POLICY=both|dan|baseline
 *   BENCH_POSITION_CHECKS=2   positions per event also asked of Scheduler.position
 *   BENCH_START=both|warm|cold  DAN's runs: warm = each node reports the speed it measured on
 *                             its own tasks when it connects (protocol `measured`: a running
 *                             network); cold = no node has run a task yet, speeds are learned.
 *                             Targets are judged on warm runs; cold ones are shown beside them.
 *   BENCH_WRITE=1|0           write BENCHMARKS.md (default: only for the standard trace)
 *   BENCH_JSON=path           also write the figures as JSON
 *   BENCH_PLAN='{"maxSkipSeconds":30}'  planner settings (PlanOptions) other than the defaults
 */
import { writeFileSync } from 'node:fs';
import { idealRuns } from './schedule-ideal.js';
import { planFromEnv } from './plan-from-env.js';
import { type BenchReport, type ReportedRun, type Start, Starts, toMarkdown } from './schedule-report.js';
import { writeBenchSection } from './benchmarks-file.js';
import { type PolicyName, PolicyNames, simulate } from './schedule-sim.js';
import { summarize } from './schedule-stats.js';
import { type ArrivalPattern, ArrivalPatterns } from './schedule-tasks.js';
import { arrivalsOf, makeStandardTrace, STANDARD_TRACE, type TraceOptions } from './schedule-trace.js';

const STANDARD = STANDARD_TRACE;

function numberFromEnv(name: string, fallback: number, options: { zeroAllowed?: boolean } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  const ok = Number.isFinite(value) && (value > 0 || (options.zeroAllowed === true && value === 0));
  if (!ok) throw new Error(`${name} must be a ${options.zeroAllowed ? 'non-negative' : 'positive'} number, got "${raw}"`);
  return value;
}

function choiceFromEnv<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name] ?? 'both';
  if (raw === 'both') return [...all];
  if (!all.includes(raw as T)) throw new Error(`${name} must be both or one of ${all.join(', ')}, got "${raw}"`);
  return [raw as T];
}

function commandLine(options: TraceOptions, patterns: readonly ArrivalPattern[], policies: readonly PolicyName[], starts: readonly Start[]): string {
  const env = [
    starts.length === 1 ? `BENCH_START=${starts[0]}` : '',
    options.seed !== STANDARD.seed ? `BENCH_SEED=${options.seed}` : '',
    options.taskCount !== STANDARD.taskCount ? `BENCH_TASKS=${options.taskCount}` : '',
    options.load !== STANDARD.load ? `BENCH_LOAD=${options.load}` : '',
    options.switchSeconds !== STANDARD.switchSeconds ? `BENCH_SWITCH_SECONDS=${options.switchSeconds}` : '',
    patterns.length === 1 ? `BENCH_PATTERN=${patterns[0]}` : '',
    policies.length === 1 ? `BENCH_POLICY=${policies[0]}` : '',
  ].filter(Boolean);
  return [...env, 'npm run bench:schedule'].join(' ');
}

function main(): void {
  const started = performance.now();
  const options: TraceOptions = {
    ...STANDARD,
    seed: Math.trunc(numberFromEnv('BENCH_SEED', STANDARD.seed)),
    taskCount: Math.trunc(numberFromEnv('BENCH_TASKS', STANDARD.taskCount)),
    load: numberFromEnv('BENCH_LOAD', STANDARD.load),
    switchSeconds: numberFromEnv('BENCH_SWITCH_SECONDS', STANDARD.switchSeconds, { zeroAllowed: true }),
  };
  const patterns = choiceFromEnv('BENCH_PATTERN', ArrivalPatterns);
  const policies = choiceFromEnv('BENCH_POLICY', PolicyNames);
  const positionChecksPerEvent = Math.trunc(numberFromEnv('BENCH_POSITION_CHECKS', 2, { zeroAllowed: true }));
  const starts = choiceFromEnv('BENCH_START', Starts);
  const plan = planFromEnv();
  const trace = makeStandardTrace(options);
  console.error(`seed ${options.seed}: ${options.taskCount} tasks on ${trace.nodes.length} nodes`);
  const runs: ReportedRun[] = [];
  for (const pattern of patterns) {
    const tasks = arrivalsOf(trace, pattern);
    for (const policy of policies) {
      for (const start of policy === 'dan' ? starts : (['cold'] as const)) {
        const primeEstimates = start === 'warm';
        const result = simulate(policy, trace.nodes, tasks, { auditPositions: policy === 'dan', positionChecksPerEvent, seed: options.seed, primeEstimates, ...(plan ? { plan } : {}) });
        runs.push({ pattern, policy, start, summary: summarize(result), positions: result.positions, cpuSeconds: result.wallMs / 1000 });
        console.error(`  ${pattern} / ${policy}${policy === 'dan' ? ` (${start})` : ''}: ${(result.wallMs / 1000).toFixed(1)} s`);
      }
    }
  }
  const command = [plan ? `BENCH_PLAN='${JSON.stringify(plan)}'` : '', commandLine(options, patterns, policies, starts)].filter(Boolean).join(' ');
  const ideal = patterns.includes('poisson') ? idealRuns(trace, arrivalsOf(trace, 'poisson')) : [];
  const report: BenchReport = { trace, runs, ideal, cpuSeconds: (performance.now() - started) / 1000, command };
  const section = toMarkdown(report);
  console.log(section);
  const standard = command === 'npm run bench:schedule';
  const asked = process.env['BENCH_WRITE'];
  const write = asked === undefined ? standard : asked === '1';
  if (write) writeBenchSection('schedule', section);
  const why = asked === undefined ? 'not the standard trace; BENCH_WRITE=1 forces' : 'BENCH_WRITE=0';
  console.error(write ? 'written to BENCHMARKS.md' : `BENCHMARKS.md left as is (${why})`);
  const json = process.env['BENCH_JSON'];
  if (json) writeFileSync(json, JSON.stringify(runs, (_key, value: unknown) => (value instanceof Map ? Object.fromEntries(value) : value), 2));
}

main();
