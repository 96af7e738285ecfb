/**
 * @module config/catalog-file
 *
 * The operator's additions to the catalog: checkpoints and LoRAs the network
 * knows by sha256, each with a name, a model family and a download link, kept
 * in a JSON file (`<data dir>/catalog.json` unless `--catalog` names another)
 * that `dan catalog add` writes and the gateway reads when it starts. An added
 * entry may not reuse a built-in or added name or sha256: a name must mean one
 * file on every node.
 *
 * @example
 * // catalog.json
 * { "entries": [{ "kind": "model", "name": "juggernautXL", "sha256": "…64 hex…", "family": "sdxl",
 *                 "download": "https://…/juggernautXL_v9.safetensors", "ref": "https://civitai.com/…" }] }
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { makeDirSync } from '../util/make-dir.js';
import { dirname, join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { builtInCatalog, type Catalog, type CatalogEntry, extendCatalog } from '../domain/catalog.js';
import { ModelFamilyField } from '../domain/families.js';
import { StartupError } from '../errors/startup-error.js';
import { withFileLock } from '../util/file-lock.js';

const Url = Type.String({ pattern: '^https?://\\S+$', maxLength: 2048 });

export const CatalogEntryField = Type.Object(
  {
    kind: Type.Union([Type.Literal('model'), Type.Literal('lora')]),
    name: Type.String({ minLength: 1, maxLength: 512, pattern: '^\\S(.*\\S)?$' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    family: ModelFamilyField,
    download: Url,
    /** Where the model is described (civitai, Hugging Face); the download link when not given. */
    ref: Type.Optional(Url),
  },
  { additionalProperties: false },
);

const CatalogFileSchema = Type.Object({ entries: Type.Array(CatalogEntryField, { maxItems: 100_000 }) }, { additionalProperties: false });
export type CatalogFileEntry = Static<typeof CatalogEntryField>;

/** The catalog file a gateway reads: the one given, else `catalog.json` in its data directory. */
export function catalogPathOf(config: { catalogFile: string | null; dataDir: string }): string {
  return config.catalogFile ?? join(config.dataDir, 'catalog.json');
}

/**
 * The entries of a catalog file; none when it does not exist, unless `required` (a file the operator named:
 * a typo must not pass for "no additions"). Throws a StartupError naming each problem.
 */
export async function readCatalogFile(path: string, required = false): Promise<CatalogFileEntry[]> {
  if (!existsSync(path)) {
    if (required) throw new StartupError(`catalog file ${path} does not exist (given with --catalog or DAN_CATALOG); add entries with \`dan catalog add --catalog ${path} …\``);
    return [];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new StartupError(`catalog file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const problems = [...Value.Errors(CatalogFileSchema, parsed)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
  if (problems.length > 0) throw new StartupError(`catalog file ${path} is invalid:\n  - ${problems.join('\n  - ')}`);
  const entries = (parsed as Static<typeof CatalogFileSchema>).entries;
  const collision = entries.map((entry, i) => collisionOf(entry, entries.slice(0, i))).find((problem) => problem !== null);
  if (collision) throw new StartupError(`catalog file ${path}: ${collision}`);
  return entries;
}

/** The network's catalog: the built-in one with the file's additions (`required`: see readCatalogFile). */
export async function loadCatalog(path: string, required = false): Promise<Catalog> {
  return extendCatalog(builtInCatalog, (await readCatalogFile(path, required)).map(toCatalogEntry));
}

export function toCatalogEntry(entry: CatalogFileEntry): CatalogEntry {
  return { kind: entry.kind, name: entry.name, family: entry.family, sha256: entry.sha256, ref: entry.ref ?? entry.download, download: entry.download };
}

/** Why `entry` cannot join the built-in entries and `added`, or null. */
export function collisionOf(entry: CatalogFileEntry, added: readonly CatalogFileEntry[]): string | null {
  const all = [...builtInCatalog.models, ...builtInCatalog.loras, ...added];
  const sameSha = all.find((e) => e.sha256 === entry.sha256);
  if (sameSha) return `sha256 ${entry.sha256} is already in the catalog as ${sameSha.kind} "${sameSha.name}"`;
  const sameName = all.find((e) => e.kind === entry.kind && e.name.toLowerCase() === entry.name.toLowerCase());
  if (sameName) return `${entry.kind} name "${entry.name}" is already in the catalog (sha256 ${sameName.sha256})`;
  return null;
}

/** Checks an entry as the file's schema does; the problems, or none. */
export function entryProblems(entry: unknown): string[] {
  return [...Value.Errors(CatalogEntryField, entry)].map((e) => `${e.path.slice(1) || 'entry'}: ${e.message}`);
}

/**
 * Changes the file's entries: reads them, and writes what `change` makes of them, one process at a time (a
 * lock file beside it: changes made in parallel all land) and atomically (a gateway starting meanwhile reads
 * the old file or the new one, never half). `change` may throw to refuse; the file is then left as it was.
 */
export async function changeCatalogFile(path: string, change: (entries: CatalogFileEntry[]) => CatalogFileEntry[]): Promise<void> {
  makeDirSync(dirname(path));
  await withFileLock(path, async () => {
    const entries = change(await readCatalogFile(path));
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify({ entries }, null, 2)}\n`);
    await rename(temporary, path);
  });
}
