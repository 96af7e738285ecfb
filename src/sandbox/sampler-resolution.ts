/**
 * @module sandbox/sampler-resolution
 *
 * `get_sampler_and_scheduler` of A1111 1.9+ (backends.md A.5), minus its silent
 * fallback: an unknown sampler is a 400 "Sampler not found" here instead of
 * quietly running "DPM++ 2M", and an unknown scheduler is refused instead of
 * becoming "Automatic".
 */
import { defaultSchedulerOf, schedulerTraitsOf } from './a1111-tables.js';
import { httpException, strictError, type Loc } from './http-errors.js';
import type { Inventory } from './inventory.js';

export interface ResolvedSampler {
  sampler: string;
  /** The label infotexts show as "Schedule type". */
  schedulerLabel: string;
}

interface SchedulerEntry {
  name: string;
  label: string;
  spellings: readonly string[];
}

function schedulerEntries(inventory: Inventory): SchedulerEntry[] {
  return inventory.offerings.schedulers.map(({ name, label }) => ({
    name,
    label,
    spellings: [label, name, ...(schedulerTraitsOf(name, label).aliases ?? [])],
  }));
}

/**
 * @example
 * resolveSampler(inventory, { samplerName: 'DPM++ 2M Karras' }, ['body', 'sampler_name'])
 * // → { sampler: 'DPM++ 2M', schedulerLabel: 'Automatic' } (Karras is its default)
 */
export function resolveSampler(
  inventory: Inventory,
  requested: { samplerName: string; scheduler: string | null },
  loc: { scheduler: Loc },
): ResolvedSampler {
  const entries = schedulerEntries(inventory);
  let scheduler = entries[0];
  if (requested.scheduler !== null) {
    scheduler = entries.find((e) => e.spellings.includes(requested.scheduler ?? ''));
    if (!scheduler) {
      const known = entries.map((e) => e.label).join(', ');
      throw strictError(loc.scheduler, `unknown scheduler "${requested.scheduler}"; use a name or label of /sdapi/v1/schedulers: ${known}`);
    }
  }
  const split = splitLegacyName(inventory, requested.samplerName, entries);
  if (!split) throw httpException(400, 'Sampler not found');
  if (split.scheduler) scheduler = split.scheduler;
  if (!scheduler || defaultSchedulerOf(split.sampler) === scheduler.name) {
    scheduler = entries.find((e) => e.name === 'automatic') ?? entries[0];
  }
  return { sampler: split.sampler, schedulerLabel: scheduler?.label ?? 'Automatic' };
}

/** "DPM++ SDE Karras" → DPM++ SDE + Karras, only when both halves are known. */
function splitLegacyName(
  inventory: Inventory,
  name: string,
  entries: readonly SchedulerEntry[],
): { sampler: string; scheduler?: SchedulerEntry } | undefined {
  const samplers = inventory.offerings.samplers;
  if (samplers.includes(name)) return { sampler: name };
  for (const entry of entries) {
    const spelling = entry.spellings.find((s) => name.endsWith(` ${s}`));
    if (!spelling) continue;
    const base = name.slice(0, -(spelling.length + 1));
    if (samplers.includes(base)) return { sampler: base, scheduler: entry };
  }
  return undefined;
}
