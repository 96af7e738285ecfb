/**
 * @module auth/public-api-key
 *
 * The public API key: configured, or generated once and kept in the data
 * directory so clients that cached it keep working across restarts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateApiKey } from './api-key.js';

export function resolvePublicApiKey(configured: string | null, dataDir: string): string {
  if (configured) return configured;
  if (dataDir === ':memory:') return generateApiKey();
  const file = join(dataDir, 'public-api-key');
  try {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored) return stored;
  } catch {
    // first start: no key yet
  }
  const key = generateApiKey();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
