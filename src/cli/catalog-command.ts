/**
 * @module cli/catalog-command
 *
 * `dan catalog add|list|remove`: the operator's additions to the catalog
 * (config/catalog-file.ts), checkpoints and LoRAs named by sha256 with a name,
 * a family and a download link. Gateways read the file when they start; several
 * gateways sharing a database should be given the same file.
 */
import { familyTraits, ModelFamilies } from '../domain/families.js';
import { builtInCatalog } from '../domain/catalog.js';
import { StartupError } from '../errors/startup-error.js';
import { type CommandOutput, processOutput } from './command-output.js';
import { type CatalogFileEntry, catalogPathOf, collisionOf, entryProblems, readCatalogFile, changeCatalogFile } from '../config/catalog-file.js';

export interface CatalogFlags {
  data?: string;
  catalog?: string;
  sha256?: string;
  family?: string;
  download?: string;
  ref?: string;
  json?: boolean;
}


function pathOf(flags: CatalogFlags, env: NodeJS.ProcessEnv = process.env): string {
  return catalogPathOf({ catalogFile: flags.catalog ?? env['DAN_CATALOG'] ?? null, dataDir: flags.data ?? env['DAN_DATA'] ?? './data' });
}

/** What each field must be, in the words of the command's arguments. */
const FIELD_PROBLEMS: Record<string, string> = {
  kind: 'the kind must be model or lora',
  name: 'the name must be 1 to 512 characters, without spaces at either end',
  sha256: "--sha256 must be the whole file's sha256: 64 hex digits",
  family: `--family must be one of ${ModelFamilies.join(', ')}`,
  download: '--download must be an http(s) URL',
  ref: '--ref must be an http(s) URL',
};

const RESTART = 'gateways read the catalog when they start: restart them to use it';

export async function catalogAdd(kind: string, name: string, flags: CatalogFlags, output: CommandOutput = processOutput): Promise<void> {
  const path = pathOf(flags);
  const entry = {
    kind,
    name,
    sha256: flags.sha256?.toLowerCase(),
    family: flags.family,
    download: flags.download,
    ...(flags.ref === undefined ? {} : { ref: flags.ref }),
  };
  const problems = new Set(entryProblems(entry).map((problem) => FIELD_PROBLEMS[problem.split(':')[0]!] ?? problem));
  if (problems.size > 0) throw new StartupError(`cannot add to the catalog:\n  - ${[...problems].join('\n  - ')}`);
  await changeCatalogFile(path, (added) => {
    const collision = collisionOf(entry as CatalogFileEntry, added);
    if (collision) throw new StartupError(`cannot add to the catalog: ${collision}`);
    return [...added, entry as CatalogFileEntry];
  });
  output.out(`added ${kind} ${name} (${familyTraits[entry.family as keyof typeof familyTraits].label}) to ${path}`);
  output.note(RESTART);
}

export async function catalogList(flags: CatalogFlags, output: CommandOutput = processOutput): Promise<void> {
  const path = pathOf(flags);
  const added = await readCatalogFile(path);
  const rows = [
    ...[...builtInCatalog.models, ...builtInCatalog.loras].map((e) => ({ ...e, source: 'built-in' })),
    ...added.map((e) => ({ ...e, source: path })),
  ];
  if (flags.json) {
    output.out(JSON.stringify(rows.map(({ kind, name, family, sha256, download, source }) => ({ kind, name, family, sha256, download, source })), null, 2));
    return;
  }
  for (const row of rows) output.out(`${row.kind.padEnd(5)}  ${row.name.padEnd(36)}  ${familyTraits[row.family].label.padEnd(13)}  ${row.sha256.slice(0, 12)}  ${row.source}`);
}

export async function catalogRemove(nameOrSha: string, flags: CatalogFlags, output: CommandOutput = processOutput): Promise<void> {
  const path = pathOf(flags);
  const key = nameOrSha.toLowerCase();
  let removed = 0;
  await changeCatalogFile(path, (added) => {
    const matching = added.filter((e) => e.sha256 === key || e.name.toLowerCase() === key);
    if (new Set(matching.map((e) => e.kind)).size > 1) {
      throw new StartupError(`${nameOrSha} names a model and a LoRA; remove the one meant by its sha256 (${matching.map((e) => `${e.kind} ${e.sha256}`).join(', ')})`);
    }
    const kept = added.filter((e) => !matching.includes(e));
    removed = added.length - kept.length;
    if (removed === 0) {
      const builtIn = [...builtInCatalog.models, ...builtInCatalog.loras].some((e) => e.sha256 === key || e.name.toLowerCase() === key);
      throw new StartupError(builtIn ? `${nameOrSha} is a built-in catalog entry; only added ones can be removed` : `${nameOrSha} is not in ${path}`);
    }
    return kept;
  });
  output.out(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'} from ${path}`);
  output.note(RESTART);
}
