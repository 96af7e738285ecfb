/**
 * @module domain/offering
 *
 * A node's capabilities seen through the catalog: each model and LoRA file the
 * node has gets a stable identity (`ResourceRef`). A file is matched to a catalog
 * entry by sha256 when the node knows it; failing that, by the catalog name or by
 * the file name of the catalog's download link, case-insensitively (files keep
 * the names they were downloaded under, e.g. `koreandolllikeness_V10.safetensors`).
 * A file that matches no entry is still offered, under `local:<lower-case stem>`
 * (or its sha256), so operators can serve their own models.
 */
import type { LoraCapability, ModelCapability, NodeCapabilities } from './capabilities.js';
import { builtInCatalog, type Catalog, type CatalogEntry, downloadStemOf, stripExtension } from './catalog.js';
import type { ModelFamily } from './families.js';
import type { ResourceRef } from './spec.js';

export interface ModelOffer {
  ref: ResourceRef;
  /** What the backend takes for `sd_model_checkpoint` (ComfyUI: the model file as it lists it). */
  title: string;
  /** The model's family as the node declared it; null: unknown. */
  family: ModelFamily | null;
}

export interface LoraOffer {
  ref: ResourceRef;
  /** The name the backend's `<lora:NAME:W>` tag wants. */
  localName: string;
}

export interface NodeOffering {
  capabilities: NodeCapabilities;
  /** Keyed by `ResourceRef.id`. */
  models: ReadonlyMap<string, ModelOffer>;
  loras: ReadonlyMap<string, LoraOffer>;
}

interface FileLike {
  name: string;
  fileName: string;
  sha256: string | null;
}

/** Lower-case names under which a node file may be known. */
function namesOf(file: FileLike, extra: (string | null)[] = []): Set<string> {
  const names = [file.name, stripExtension(file.fileName), ...extra];
  return new Set(names.filter((n): n is string => !!n).map((n) => n.toLowerCase()));
}

/** The catalog entry a node file is, if any (sha256 first, then names). */
export function identifyFile(
  file: FileLike,
  entries: readonly CatalogEntry[],
  extraNames: (string | null)[] = [],
): CatalogEntry | undefined {
  const sha = file.sha256?.toLowerCase();
  if (sha) {
    const bySha = entries.find((e) => e.sha256 === sha);
    if (bySha) return bySha;
  }
  // A known sha256 that no entry has still falls through to names: the reference's
  // published hashes are not always the hash of the file behind its download link.
  const names = namesOf(file, extraNames);
  return entries.find((e) => names.has(e.name.toLowerCase()) || names.has(downloadStemOf(e).toLowerCase()));
}

function refOf(file: FileLike, entries: readonly CatalogEntry[], extraNames: (string | null)[] = []): ResourceRef {
  const entry = identifyFile(file, entries, extraNames);
  if (entry) return { id: entry.sha256, name: entry.name };
  const sha = file.sha256?.toLowerCase();
  return { id: sha ?? `local:${file.name.toLowerCase()}`, name: file.name };
}

export function modelRefOf(model: ModelCapability, catalog: Catalog = builtInCatalog): ResourceRef {
  return refOf(model, catalog.models);
}

/** A model file's family: the catalog's when the file is a catalog entry, else what the node says, else unknown. */
export function modelFamilyOf(model: ModelCapability, catalog: Catalog = builtInCatalog): ModelFamily | null {
  return identifyFile(model, catalog.models)?.family ?? model.family ?? null;
}

export function loraRefOf(lora: LoraCapability, catalog: Catalog = builtInCatalog): ResourceRef {
  return refOf(lora, catalog.loras, [lora.alias]);
}

/** Resolves a node's declared capabilities into catalog identities (the built-in catalog unless the network's is given). */
export function toNodeOffering(capabilities: NodeCapabilities, catalog: Catalog = builtInCatalog): NodeOffering {
  const models = new Map<string, ModelOffer>();
  for (const model of capabilities.models) {
    const ref = modelRefOf(model, catalog);
    if (!models.has(ref.id)) models.set(ref.id, { ref, title: model.title, family: modelFamilyOf(model, catalog) });
  }
  const loras = new Map<string, LoraOffer>();
  for (const lora of capabilities.loras) {
    const ref = loraRefOf(lora, catalog);
    if (!loras.has(ref.id)) loras.set(ref.id, { ref, localName: lora.name });
  }
  return { capabilities, models, loras };
}
