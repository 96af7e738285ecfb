/**
 * @module cli/keys-command
 *
 * `dan keys create|list|set|revoke` (API keys) and `dan nodes token
 * create|list|revoke` (node tokens, one per GPU owner), managed on the gateway's
 * store (`--data`, the gateway's data directory) from its machine. A running
 * gateway sees the change at its next request (store/sqlite/sqlite-key-store.ts).
 * The settings go through the same parser as the admin API's, so both take
 * the same values and say the same things about wrong ones.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ApiKeyInfo, type KeyLimits, type KeySettings, type NodeTokenInfo, nodeTokenInfoOf } from '../auth/api-key.js';
import { KeyAdmin } from '../auth/key-admin.js';
import { parseKeySettings } from '../api/requests/key-settings-request.js';
import { DanError } from '../errors/dan-error.js';
import { catalogPathOf, loadCatalog } from '../config/catalog-file.js';
import { builtInCatalog } from '../domain/catalog.js';
import { StartupError } from '../errors/startup-error.js';
import { openStores } from '../store/open-stores.js';
import { commaList } from '../util/comma-list.js';
import { type CommandOutput, processOutput } from './command-output.js';

export interface KeyFlags {
  data?: string;
  /** The gateways' PostgreSQL database, when their keys are kept there. */
  database?: string;
  json?: boolean;
  name?: string;
  maxTasks?: number;
  rpm?: number;
  maxPixels?: number;
  maxSteps?: number;
  weight?: number;
  /** Comma-separated checkpoints, or `any`. */
  models?: string;
}


/** The flags as the settings object the admin API takes. */
function settingsOf(flags: KeyFlags): KeySettings {
  const body: Record<string, unknown> = {};
  if (flags.name !== undefined) body['name'] = flags.name;
  if (flags.maxTasks !== undefined) body['maxTasks'] = flags.maxTasks;
  if (flags.rpm !== undefined) body['requestsPerMinute'] = flags.rpm;
  if (flags.maxPixels !== undefined) body['maxPixels'] = flags.maxPixels;
  if (flags.maxSteps !== undefined) body['maxSteps'] = flags.maxSteps;
  if (flags.weight !== undefined) body['weight'] = flags.weight;
  if (flags.models !== undefined) body['models'] = flags.models.trim() === 'any' ? null : commaList(flags.models);
  try {
    return parseKeySettings(body);
  } catch (error) {
    throw asStartupError(error);
  }
}

/** A refusal of the operator's input, printed as `dan: …` without a stack. Flags are named as on the command line. */
function asStartupError(error: unknown): unknown {
  if (!(error instanceof DanError)) return error;
  const flag: Record<string, string> = { requestsPerMinute: '--rpm', maxTasks: '--max-tasks', maxPixels: '--max-pixels', maxSteps: '--max-steps', weight: '--weight', models: '--models', name: '--name' };
  // `models[1]: …` names the flag `--models` too.
  const field = error.field?.replace(/\[\d+\]$/, '');
  const named = field !== undefined && flag[field] !== undefined && error.message.startsWith(`${error.field}:`);
  return new StartupError(named ? `${flag[field]}${error.message.slice(error.field!.length)}` : error.message);
}

/**
 * Opens the key store in `--database`, or else in `--data`. Where `--data` holds none (a mistyped
 * directory, most likely), a command that makes a key (`makes`) makes the store and says so, for a gateway
 * started there later; the others refuse, rather than leave an empty store behind.
 */
async function withKeys<T>(flags: KeyFlags, output: CommandOutput, work: (admin: KeyAdmin) => Promise<T>, makes = false): Promise<T> {
  const dataDir = flags.data ?? process.env['DAN_DATA'] ?? './data';
  const database = flags.database ?? process.env['DATABASE_URL'] ?? null;
  const existed = database !== null || existsSync(join(dataDir, 'tasks.sqlite'));
  if (!existed && !makes) throw new StartupError(`no key store in ${dataDir} (it has no tasks.sqlite): pass the gateway's --data directory, or its --database`);
  const stores = await openStores({ database, dataDir }, { listenForKeys: false });
  if (!existed) output.note(`dan: no store was at ${stores.name.replace(/^SQLite /, '')}; made a new one. Pass the gateway's --data directory if that is not it.`);
  try {
    return await work(new KeyAdmin(stores.keys));
  } catch (error) {
    throw asStartupError(error);
  } finally {
    await stores.close();
  }
}

export function describeLimits(limits: KeyLimits): string {
  return [
    limits.maxTasks === 0 ? 'any number of unfinished tasks' : `${limits.maxTasks} unfinished tasks`,
    limits.requestsPerMinute === 0 ? 'no request limit' : `${limits.requestsPerMinute} requests/min`,
    limits.maxPixels === 0 ? 'any image size the gateway allows' : `images up to ${limits.maxPixels} pixels`,
    limits.maxSteps === 0 ? 'any steps the gateway allows' : `up to ${limits.maxSteps} steps`,
    `weight ${limits.weight}`,
    limits.models === null ? 'any checkpoint' : `checkpoints ${limits.models.join(', ')}`,
  ].join(', ');
}

function describeKey(key: ApiKeyInfo): string {
  const state = key.revokedAt === null ? 'active' : `revoked ${new Date(key.revokedAt).toISOString()}`;
  return `${key.id}  ${JSON.stringify(key.name)}  ${key.prefix}…  ${state}\n  ${describeLimits(key.limits)}`;
}

export async function keysCreate(flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  const settings = settingsOf(flags);
  if (settings.name === undefined) throw new StartupError('--name: is required (who the key is for)');
  const created = await withKeys(flags, output, (admin) => admin.create(settings), true);
  await noteUncatalogued(flags, created.key.limits.models, output);
  if (flags.json) return output.out(JSON.stringify({ ...created.key, secret: created.secret }));
  output.out(describeKey(created.key));
  output.out(`  secret:         ${created.secret}`);
  output.out(`  webhook secret: ${created.key.webhookSecret}`);
  output.note('The secret is shown only now: the gateway keeps its hash. Give it to the client as `Authorization: Bearer <secret>`.');
}

export async function keysList(flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  const keys = await withKeys(flags, output, (admin) => admin.list());
  if (flags.json) return output.out(JSON.stringify(keys));
  if (keys.length === 0) return output.note('no API keys yet; make one with `dan keys create --name <who>`');
  for (const key of keys) output.out(describeKey(key));
}

export async function keysSet(id: string, flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  const settings = settingsOf(flags);
  if (Object.keys(settings).length === 0) throw new StartupError('nothing to change: give at least one of --name, --max-tasks, --rpm, --max-pixels, --max-steps, --weight, --models');
  const key = await withKeys(flags, output, (admin) => admin.set(id, settings));
  if (settings.models !== undefined) await noteUncatalogued(flags, key.limits.models, output);
  output.out(flags.json ? JSON.stringify(key) : describeKey(key));
}

/**
 * Says which of a key's checkpoints the catalog (built in, and --data's catalog.json) does not name: a
 * typo, most likely, though a node may offer a file of that name. Not refused: the key may be made first.
 */
async function noteUncatalogued(flags: KeyFlags, models: readonly string[] | null, output: CommandOutput): Promise<void> {
  if (models === null) return;
  const catalog = await loadCatalog(catalogPathOf({ catalogFile: null, dataDir: flags.data ?? process.env['DAN_DATA'] ?? './data' })).catch(() => builtInCatalog);
  const known = new Set(catalog.models.map((entry) => entry.name));
  const unknown = models.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    output.note(`dan: the catalog has no checkpoint ${unknown.map((name) => JSON.stringify(name)).join(', ')}: the key can use one only if a node offers a model of that name (catalog: ${[...known].join(', ')})`);
  }
}

export async function keysRevoke(id: string, flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  const key = await withKeys(flags, output, (admin) => admin.revoke(id));
  output.out(flags.json ? JSON.stringify(key) : describeKey(key));
}

function describeToken(token: NodeTokenInfo): string {
  const state = token.revokedAt === null ? 'active' : `revoked ${new Date(token.revokedAt).toISOString()}`;
  return `${token.id}  ${JSON.stringify(token.name)}  ${token.prefix}…  ${state}`;
}

export async function nodeTokensCreate(flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  if (flags.name === undefined) throw new StartupError('--name: is required (whose nodes the token admits)');
  const { name } = settingsOf({ name: flags.name });
  const created = await withKeys(flags, output, (admin) => admin.create({ name }, 'node'), true);
  const token = nodeTokenInfoOf(created.key);
  if (flags.json) return output.out(JSON.stringify({ ...token, secret: created.secret }));
  output.out(describeToken(token));
  output.out(`  secret: ${created.secret}`);
  output.note('The secret is shown only now. On each GPU machine of this owner: dan node --gateway <url> --token <secret>');
}

export async function nodeTokensList(flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  const tokens = (await withKeys(flags, output, (admin) => admin.list('node'))).map(nodeTokenInfoOf);
  if (flags.json) return output.out(JSON.stringify(tokens));
  if (tokens.length === 0) return output.note('no node tokens yet; make one with `dan nodes token create --name <owner>`');
  for (const token of tokens) output.out(describeToken(token));
}

export async function nodeTokensRevoke(id: string, flags: KeyFlags, output: CommandOutput = processOutput): Promise<void> {
  const token = nodeTokenInfoOf(await withKeys(flags, output, (admin) => admin.revoke(id, 'node')));
  output.out(flags.json ? JSON.stringify(token) : describeToken(token));
}
