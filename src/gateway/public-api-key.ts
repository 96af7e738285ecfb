/**
 * @module gateway/public-api-key
 *
 * The public API key: configured, or generated once and kept in the data
 * directory so clients that cached it keep working across restarts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `sk-` and 48 random alphanumerics, the original deployment's key format. */
export function generateApiKey(): string {
  const bytes = randomBytes(48);
  return `sk-${[...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('')}`;
}

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
