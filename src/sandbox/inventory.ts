/**
 * @module sandbox/inventory
 *
 * The offerings seen the way A1111 names them: checkpoint titles, hashes and the
 * aliases `override_settings.sd_model_checkpoint` accepts (A.7), LoRA names, and
 * the lookups the request checks need.
 */
import { createHash } from 'node:crypto';
import { stripExtension } from '../domain/catalog.js';
import type { ModelFamily } from '../domain/families.js';
import type { SandboxOfferings } from './offerings.js';

/** Where the fake WebUI pretends to live, unless its offerings name a `webuiDir`; only shows up in listings. */
export const FAKE_WEBUI_DIR = '/sandbox/stable-diffusion-webui';

export interface CheckpointRecord {
  fileName: string;
  /** `model_name` / `name_for_extra`: the file name without extension. */
  stem: string;
  sha256: string | null;
  /** `sha256[0:10]`, or null while the sha256 is unknown. */
  shorthash: string | null;
  /** `<fileName> [<shorthash>]`, or just the file name without a known hash. */
  title: string;
  /** Every exact string A1111's `checkpoint_aliases` maps to this checkpoint. */
  aliases: ReadonlySet<string>;
  /** Modelled seconds a load takes, when the offerings give this checkpoint its own. */
  loadSeconds?: number;
  /** A Flux UNet alone: black images unless Forge loaded its VAE and text encoders as modules. */
  needsModules?: boolean;
  /** Its family, for the time a step takes (time-model.ts): the offerings', else Flux's for a Flux UNet, else none (SD 1.5's). */
  family?: ModelFamily;
}

export interface LoraRecord {
  fileName: string;
  name: string;
  /** A stand-in for A1111's 12-hex "addnet" hash of the tensor data (we have no tensors). */
  shorthash: string;
  /** The file's metadata, as A1111 lists it. */
  metadata: Readonly<Record<string, string>>;
}

export interface Inventory {
  offerings: SandboxOfferings;
  /** The directory its listings' paths begin with. */
  webuiDir: string;
  checkpoints: readonly CheckpointRecord[];
  loras: readonly LoraRecord[];
}

export function createInventory(offerings: SandboxOfferings): Inventory {
  return {
    offerings,
    webuiDir: offerings.webuiDir ?? FAKE_WEBUI_DIR,
    checkpoints: offerings.models.map(toCheckpointRecord),
    loras: offerings.loras.map(({ fileName, metadata }) => ({
      fileName,
      name: stripExtension(fileName),
      shorthash: createHash('sha256').update(fileName).digest('hex').slice(0, 12),
      metadata: metadata ?? {},
    })),
  };
}

function toCheckpointRecord(model: { fileName: string; sha256: string | null; loadSeconds?: number; needsModules?: boolean; family?: ModelFamily }): CheckpointRecord {
  const stem = stripExtension(model.fileName);
  const sha256 = model.sha256?.toLowerCase() ?? null;
  const shorthash = sha256?.slice(0, 10) ?? null;
  const title = shorthash ? `${model.fileName} [${shorthash}]` : model.fileName;
  // The legacy 8-hex "old hash" alias is left out: it hashes file bytes we do not have.
  const aliases = [model.fileName, stem, title];
  if (sha256 && shorthash) aliases.push(sha256, shorthash, `${stem} [${shorthash}]`);
  const record: CheckpointRecord = { fileName: model.fileName, stem, sha256, shorthash, title, aliases: new Set(aliases) };
  if (model.loadSeconds !== undefined) record.loadSeconds = model.loadSeconds;
  if (model.needsModules) record.needsModules = true;
  const family = model.family ?? (model.needsModules ? 'flux' : undefined);
  if (family !== undefined) record.family = family;
  return record;
}

/** The checkpoint an exact A1111 alias names (no fuzzy matching, unlike some A1111 paths). */
export function findCheckpoint(inventory: Inventory, alias: string): CheckpointRecord | undefined {
  return inventory.checkpoints.find((c) => c.aliases.has(alias));
}

export function checkpointByFileName(inventory: Inventory, fileName: string): CheckpointRecord {
  const found = inventory.checkpoints.find((c) => c.fileName === fileName);
  if (!found) throw new Error(`sandbox: no checkpoint with file name ${fileName}`);
  return found;
}

/** By name or alias; the sandbox's LoRAs carry no `ss_output_name`, so both are the stem. */
export function findLora(inventory: Inventory, name: string): LoraRecord | undefined {
  return inventory.loras.find((l) => l.name === name);
}

export function isUpscaler(inventory: Inventory, name: string): boolean {
  return inventory.offerings.upscalers.includes(name);
}

export function isLatentUpscaleMode(inventory: Inventory, name: string): boolean {
  return inventory.offerings.latentUpscaleModes.includes(name);
}
