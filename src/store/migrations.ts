/**
 * @module store/migrations
 *
 * Numbered, append-only `.sql` files under `migrations/<dialect>/` (NNNN_name.sql).
 * A released migration is never edited; a change is a new file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StartupError } from '../errors/startup-error.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** `migrations/` at the package root, whether running from src/ or dist/. */
const migrationsRoot = fileURLToPath(new URL('../../migrations/', import.meta.url));

export function loadMigrations(dialect: 'sqlite' | 'postgres'): Migration[] {
  const dir = `${migrationsRoot}${dialect}/`;
  return readdirSync(dir)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(dir + file, 'utf8'),
    }));
}

/** The operator's to fix (upgrade, or another --data), so a StartupError: printed without a stack. */
export class SchemaTooNewError extends StartupError {
  override readonly name = 'SchemaTooNewError';
  constructor(dbVersion: number, codeVersion: number, elsewhere = 'point --data at another directory') {
    super(`the task database is at schema version ${dbVersion}, but this DAN knows versions up to ${codeVersion}; upgrade DAN, or ${elsewhere}`);
  }
}
