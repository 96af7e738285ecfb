/** `BENCH_SEEDS`: the seeds a multi-seed benchmark runs, a range (`1-30`) or a list (`1,4,9`). */
export function seedsFromEnv(fallback: string): number[] {
  const raw = process.env['BENCH_SEEDS'] ?? fallback;
  const range = /^(\d+)-(\d+)$/.exec(raw);
  const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : raw.split(',').map(Number);
  if (seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s > 0)) throw new Error(`BENCH_SEEDS must be a range (1-30) or a list (1,4,9) of positive integers, got "${raw}"`);
  return seeds;
}
