/**
 * @module cli/gc-tuning
 *
 * When V8 starts a major garbage collection in the gateway's process. By
 * default it starts incremental marking once the old generation's free room
 * is no larger than the young generation. A busy gateway's young generation
 * grows to its 16 MiB cap (every answer with images allocates its base64 in
 * young chunks), and the old generation's room (~24 MiB over ~15 MiB live)
 * then always looks short: V8 ran a full mark-compact every ~20 tasks of 512²
 * images, ~50 per 1,000 tasks, each with marking steps of up to 16 ms on the
 * event loop and more on the helper threads, all for ~8 MiB of young garbage
 * a scavenge would have freed anyway.
 *
 * These two V8 settings start marking by how full the old generation is
 * instead: a task-scheduled start at 70 % of its limit, an immediate one past
 * 90 %. They are read each time V8 checks, so they can be set after start
 * (the young generation's size cannot). Measured with `npm run bench` at
 * 512²: mark-compacts 52 → 5 per 1,000 tasks, GC time 749 → 148 ms, and the
 * event loop's wait for a core 2.98 → 1.28 s (BENCHMARKS.md).
 *
 * An operator who starts node with their own `--incremental-marking-*`
 * flags keeps them.
 */
import { setFlagsFromString } from 'node:v8';

export const GC_FLAGS = ['--incremental-marking-soft-trigger=70', '--incremental-marking-hard-trigger=90'] as const;

/** Sets `GC_FLAGS` unless node was started with either; returns the flags set. */
export function tuneGarbageCollection(execArgv: readonly string[] = process.execArgv): string[] {
  const own = (flag: string) => execArgv.some((arg) => arg.replaceAll('_', '-').startsWith(flag.slice(0, flag.indexOf('='))));
  if (GC_FLAGS.some(own)) return [];
  for (const flag of GC_FLAGS) setFlagsFromString(flag);
  return [...GC_FLAGS];
}
