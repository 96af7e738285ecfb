/**
 * @module auth/public-api-key
 *
 * The public API key: configured, or generated once and kept in the data
 * directory so clients that cached it keep working across restarts.
 */
import { keptValue } from '../util/kept-value.js';
import { generateApiKey } from './api-key.js';

/** The file of the data directory that keeps a generated key. */
export const PUBLIC_API_KEY_FILE = 'public-api-key';

export function resolvePublicApiKey(configured: string | null, dataDir: string): string {
  return configured ?? keptValue(dataDir, PUBLIC_API_KEY_FILE, generateApiKey);
}
