/**
 * @module auth/public-api-key
 *
 * The public API key: configured, or generated once and kept in the data
 * directory so clients that cached it keep working across restarts.
 */
import { keptValue } from '../util/kept-value.js';
import { generateApiKey } from './api-key.js';

export function resolvePublicApiKey(configured: string | null, dataDir: string): string {
  return configured ?? keptValue(dataDir, 'public-api-key', generateApiKey);
}
