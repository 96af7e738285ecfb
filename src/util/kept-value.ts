/**
 * @module util/kept-value
 *
 * A value made once and kept in a file of the data directory, so that it
 * survives restarts: the generated public API key, the secret that signs image
 * URLs. `:memory:` (tests) keeps nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { makeDirSync } from './make-dir.js';
import { join } from 'node:path';

/** The value in `dataDir/file`, or `make()`'s, written there first (readable by the owner only). */
export function keptValue(dataDir: string, file: string, make: () => string): string {
  if (dataDir === ':memory:') return make();
  const path = join(dataDir, file);
  try {
    const stored = readFileSync(path, 'utf8').trim();
    if (stored) return stored;
  } catch {
    // first start: nothing kept yet
  }
  const value = make();
  makeDirSync(dataDir);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return value;
}

/** Keeps `value` in `dataDir/file` from now on (another process decided it: the gateways sharing a database). */
export function keepValue(dataDir: string, file: string, value: string): void {
  if (dataDir === ':memory:') return;
  makeDirSync(dataDir);
  writeFileSync(join(dataDir, file), `${value}\n`, { mode: 0o600 });
}
