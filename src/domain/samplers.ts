/**
 * @module domain/samplers
 *
 * Sampler names across WebUI versions. A1111 before 1.9 listed combined names
 * ("DPM++ SDE Karras"); 1.9+ lists the sampler ("DPM++ SDE") and a separate
 * scheduler ("Karras"). A request may use either spelling; a node serves it when
 * it has the combined name, or the sampler plus a scheduler whose label or name
 * ends the requested name.
 */

export interface SamplerChoice {
  /** The sampler name exactly as the node lists it. */
  sampler: string;
  /** The scheduler label to send alongside, or null to let the backend choose. */
  scheduler: string | null;
}

/**
 * How a node with these samplers and schedulers runs the requested sampler, or
 * null when it cannot. Comparison ignores case; the node's own spelling is returned.
 *
 * @example
 * resolveSampler('DPM++ SDE Karras', ['DPM++ SDE', 'Euler a'], ['Automatic', 'Karras'])
 * // → { sampler: 'DPM++ SDE', scheduler: 'Karras' }
 */
export function resolveSampler(
  requested: string,
  samplers: readonly string[],
  schedulers: readonly string[],
): SamplerChoice | null {
  const wanted = requested.trim().toLowerCase();
  const exact = samplers.find((s) => s.toLowerCase() === wanted);
  if (exact) return { sampler: exact, scheduler: null };
  for (const scheduler of schedulers) {
    const suffix = ` ${scheduler.toLowerCase()}`;
    if (!wanted.endsWith(suffix)) continue;
    const base = wanted.slice(0, -suffix.length);
    const sampler = samplers.find((s) => s.toLowerCase() === base);
    if (sampler) return { sampler, scheduler };
  }
  return null;
}
