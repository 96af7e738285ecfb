/**
 * @module node/backends/a1111/discover
 *
 * Reads what an A1111-compatible WebUI offers from its listing routes (A.6, B.5)
 * and shapes it as `NodeCapabilities`; a Forge WebUI also lists its VAE and
 * text-encoder files (`/sdapi/v1/sd-modules`), which say it is Forge. Entries the WebUI lists in an unexpected
 * shape are skipped, so one odd file never takes a node off the network; a
 * listing that is not a list at all means the backend is not what we think it
 * is (DAN_ERR_BACKEND_BAD_RESPONSE). A checkpoint's family is its GPU owner's word, else what its
 * file's header says when the WebUI's path to it is on this machine (checkpoint-family.ts).
 *
 * @example
 * const snapshot = await discoverCapabilities(client, { maxPixels: 1024 * 1024, interrogators: ['clip'] });
 */
import type { ControlNetCapability, LoraCapability, ModelCapability } from '../../../domain/capabilities.js';
import { stripExtension } from '../../../domain/catalog.js';
import { declaredFamilyOf, isFluxModule, loraFamilyOfMetadata, type ModelFamily } from '../../../domain/families.js';
import { DanError } from '../../../errors/dan-error.js';
import type { BackendSnapshot } from '../../backend-driver.js';
import type { BackendClient } from '../backend-client.js';
import type { CheckpointFiles } from '../checkpoint-family.js';

export interface DiscoverOptions {
  /** Largest image (width × height) this GPU may be asked to make. */
  maxPixels: number;
  /** Interrogators to declare (A1111 has no route listing them). */
  interrogators: string[];
  /** Checkpoint families the GPU owner declared, by file name; A1111 tells none. */
  declaredFamilies?: ReadonlyMap<string, ModelFamily>;
  /** Reads the family of an undeclared checkpoint from its file (the paths the WebUI lists); none: not read. */
  checkpointFiles?: CheckpointFiles;
}

/** A checkpoint as the WebUI lists it, with its path on the WebUI's machine. */
interface ListedModel {
  model: ModelCapability;
  path: string;
}

type Entry = Record<string, unknown>;

/** Limits of the NodeCapabilities schema; longer names or lists would fail the hello. */
const MAX_NAME_CHARS = 512;
const MAX_LIST_ITEMS = 4096;
const MAX_LORAS = 16384;
const MAX_CONTROLNET_UNITS = 32;
/** What sd-webui-controlnet allows when its settings route is missing. */
const DEFAULT_CONTROLNET_UNITS = 3;
const SHA256_PATTERN = /^[0-9a-fA-F]{64}$/;

/**
 * What the WebUI offers; for Forge also `ownModules`: the modules its owner chose for SD models (a VAE,
 * `forge_additional_modules` of its settings); absent while the setting holds Flux's (the last task
 * was a Flux one: the owner's choice is the one read before).
 */
export async function discoverCapabilities(client: BackendClient, options: DiscoverOptions): Promise<BackendSnapshot & { ownModules?: string[] }> {
  // Asked first, alone: its 404 means "no API here", which deserves its own message.
  const models = await client.getOptional('/sdapi/v1/sd-models');
  if (models === undefined) {
    // Something answers, but not the API: A1111 serves /sdapi only when started with --api; or it is a ComfyUI.
    const comfy = await client.getOptional('/system_stats').catch(() => undefined);
    const problem =
      typeof comfy === 'object' && comfy !== null && 'system' in comfy
        ? `${client.baseUrl} is a ComfyUI, not an A1111-compatible WebUI: start the node with --comfyui ${client.baseUrl}`
        : `WebUI at ${client.baseUrl} has no API (404 on /sdapi/v1/sd-models); start it with --api`;
    throw new DanError('DAN_ERR_BACKEND_UNREACHABLE', problem);
  }
  const listed = parseEntries(models, '/sdapi/v1/sd-models', toListedModel).slice(0, MAX_LIST_ITEMS);
  const [checkpoints, loras, samplers, schedulers, upscalers, latentModes, settings, controlNet, modules] = await Promise.all([
    withFamilies(listed, options),
    // The built-in Lora extension can be disabled; its route then does not exist.
    client.getOptional('/sdapi/v1/loras'),
    client.get('/sdapi/v1/samplers'),
    // Added in 1.9; older builds list combined names ("DPM++ 2M Karras") as samplers.
    client.getOptional('/sdapi/v1/schedulers'),
    client.get('/sdapi/v1/upscalers'),
    client.get('/sdapi/v1/latent-upscale-modes'),
    client.get('/sdapi/v1/options'),
    discoverControlNet(client),
    // Forge's alone: the VAE and text-encoder files it loads beside a checkpoint (Flux's among them).
    client.getOptional('/sdapi/v1/sd-modules'),
  ]);
  const loaded = fieldOf(settings, '/sdapi/v1/options', 'sd_model_checkpoint');
  return {
    capabilities: {
      backend: { kind: 'a1111', version: null, ...(modules === undefined ? {} : { modules: parseNames(modules, '/sdapi/v1/sd-modules', ['model_name']) }) },
      models: checkpoints,
      loras: parseEntries(loras ?? [], '/sdapi/v1/loras', toLora).slice(0, MAX_LORAS),
      samplers: parseNames(samplers, '/sdapi/v1/samplers', ['name']),
      schedulers: parseNames(schedulers ?? [], '/sdapi/v1/schedulers', ['label', 'name']),
      upscalers: parseNames(upscalers, '/sdapi/v1/upscalers', ['name']),
      latentUpscaleModes: parseNames(latentModes, '/sdapi/v1/latent-upscale-modes', ['name']),
      controlNet,
      interrogators: uniqueNames(options.interrogators),
      maxPixels: options.maxPixels,
    },
    loadedModel: isName(loaded) ? loaded : null,
    ...ownModulesOf(modules === undefined ? undefined : fieldOf(settings, '/sdapi/v1/options', 'forge_additional_modules')),
  };
}

/** Forge's `forge_additional_modules` setting (paths) as file names; none while it holds Flux's. */
function ownModulesOf(value: unknown): { ownModules?: string[] } {
  if (value === undefined) return {};
  const names = (Array.isArray(value) ? value : []).filter(isName).map(baseName).filter(isName);
  return names.some(isFluxModule) ? {} : { ownModules: names };
}

/** The extension's models, modules and unit count, or null when it is not installed. */
async function discoverControlNet(client: BackendClient): Promise<ControlNetCapability | null> {
  const [models, modules, settings] = await Promise.all([
    client.getOptional('/controlnet/model_list'),
    client.getOptional('/controlnet/module_list'),
    client.getOptional('/controlnet/settings'),
  ]);
  if (models === undefined) return null;
  const unitCount = settings === undefined ? undefined : fieldOf(settings, '/controlnet/settings', 'control_net_unit_count');
  return {
    // "None" is the UI's empty choice, not a model.
    models: parseNames(fieldOf(models, '/controlnet/model_list', 'model_list'), '/controlnet/model_list', []).filter(
      (name) => name !== 'None',
    ),
    modules:
      modules === undefined
        ? []
        : parseNames(fieldOf(modules, '/controlnet/module_list', 'module_list'), '/controlnet/module_list', []),
    maxUnits: Number.isInteger(unitCount)
      ? Math.min(Math.max(unitCount as number, 0), MAX_CONTROLNET_UNITS)
      : DEFAULT_CONTROLNET_UNITS,
  };
}

function toListedModel(entry: Entry): ListedModel | null {
  const { title, model_name: modelName, filename, sha256 } = entry;
  if (!isName(title) || typeof filename !== 'string') return null;
  const fileName = baseName(filename);
  const name = isName(modelName) ? modelName : stripExtension(fileName);
  if (!isName(fileName) || !isName(name)) return null;
  return { model: { title, name, fileName, sha256: toSha256(sha256) }, path: filename };
}

/** Each checkpoint with its family when known: the GPU owner's declaration, else its file's header (only undeclared files are read). */
async function withFamilies(listed: readonly ListedModel[], options: DiscoverOptions): Promise<ModelCapability[]> {
  const declared = options.declaredFamilies ?? new Map<string, ModelFamily>();
  const declaredOf = (model: ModelCapability) => declaredFamilyOf(declared, model.fileName);
  const unread = listed.filter(({ model }) => declaredOf(model) === null).map(({ path }) => path);
  const read = (await options.checkpointFiles?.familiesOf(unread)) ?? new Map<string, ModelFamily | null>();
  return listed.map(({ model, path }) => {
    const family = declaredOf(model) ?? read.get(path) ?? null;
    return family ? { ...model, family } : model;
  });
}

function toLora(entry: Entry): LoraCapability | null {
  const { name, alias, path, metadata } = entry;
  if (!isName(name)) return null;
  const fileName = typeof path === 'string' && isName(baseName(path)) ? baseName(path) : name;
  // The file's own metadata (what it was trained on), which A1111 lists beside it.
  const family = typeof metadata === 'object' && metadata !== null ? loraFamilyOfMetadata(metadata as Entry) : null;
  // A1111 lists no file sha256 for LoRAs (only an "addnet" hash of the tensors).
  return { name, alias: isName(alias) ? alias : null, fileName, sha256: null, ...(family ? { family } : {}) };
}

function parseEntries<T>(listing: unknown, route: string, toItem: (entry: Entry) => T | null): T[] {
  const items: T[] = [];
  for (const entry of asList(listing, route)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const item = toItem(entry as Entry);
    if (item !== null) items.push(item);
  }
  return items;
}

/** Names from a list of strings (`keys` empty) or of objects (each of `keys` that holds a name). */
function parseNames(listing: unknown, route: string, keys: readonly string[]): string[] {
  const names: unknown[] = [];
  for (const entry of asList(listing, route)) {
    if (keys.length === 0) names.push(entry);
    else if (typeof entry === 'object' && entry !== null) names.push(...keys.map((key) => (entry as Entry)[key]));
  }
  return uniqueNames(names);
}

function uniqueNames(values: readonly unknown[]): string[] {
  return [...new Set(values.filter(isName))].slice(0, MAX_LIST_ITEMS);
}

function asList(listing: unknown, route: string): unknown[] {
  if (!Array.isArray(listing)) throw badListing(route, 'a list');
  return listing;
}

function fieldOf(value: unknown, route: string, key: string): unknown {
  return asObject(value, route)[key];
}

function asObject(value: unknown, route: string): Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badListing(route, 'an object');
  return value as Entry;
}

function badListing(route: string, expected: string): DanError {
  const problem = `WebUI's ${route} is not ${expected}; is this an A1111-compatible WebUI?`;
  return new DanError('DAN_ERR_BACKEND_BAD_RESPONSE', problem);
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_CHARS;
}

function toSha256(value: unknown): string | null {
  return typeof value === 'string' && SHA256_PATTERN.test(value) ? value.toLowerCase() : null;
}

/** The file name of a path written with either separator (WebUIs run on Windows too). */
function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}
