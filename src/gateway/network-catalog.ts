/**
 * @module gateway/network-catalog
 *
 * The catalog joined with what connected nodes offer right now: how request
 * values (sha256, names) resolve to resources, which names each list accepts,
 * and the "supported values" document. Rebuilt lazily after any node change, so
 * a request pays for a map lookup, not for a walk over every node.
 */
import type { RequestContext, RequestLimits } from '../domain/request-context.js';
import {
  catalogControlNetModels,
  controlNetFamilyOf,
  catalogHiresUpscalers,
  catalogInterrogators,
  builtInCatalog,
  type Catalog,
  catalogPreprocessors,
  catalogSamplers,
  catalogSchedulers,
  catalogUpscalers,
  type CatalogEntry,
  downloadStemOf,
  stripExtension,
  toNameKey,
} from '../domain/catalog.js';
import { type FamilyInfo, familyInfos, type ModelFamily } from '../domain/families.js';
import { loraRefOf, modelFamilyOf, modelRefOf } from '../domain/offering.js';
import type { ResourceRef } from '../domain/spec.js';
import type { NodeHub } from '../network/node-hub.js';
import type { NodeListing, OtherNodes } from './node-listing.js';

export interface ResourceInfo {
  name: string;
  /** The model family (`sd15`, `sdxl`, `flux`): the catalog's, else what a node detected or was told; null: unknown. */
  family: ModelFamily | null;
  /** Catalog sha256, or the node file's sha256 when known. */
  hash: string | null;
  /** Whether a connected node with a running WebUI has it. */
  available: boolean;
  /** How many such nodes. */
  nodes: number;
  download: string | null;
}

export interface NameInfo {
  name: string;
  available: boolean;
}

export interface ControlNetModelInfo extends NameInfo {
  /**
   * The family it is made for, as requests are checked against it (domain/catalog.ts `controlNetFamilyOf`:
   * the catalog's, else what its name says); null when its name says nothing.
   */
  family: ModelFamily | null;
}

export interface SupportedInfo {
  Models: ResourceInfo[];
  LoRAs: ResourceInfo[];
  Samplers: NameInfo[];
  HiresUpscalers: NameInfo[];
  Upscalers: NameInfo[];
  ControlNet: { models: ControlNetModelInfo[]; preprocessors: NameInfo[] };
  Interrogators: NameInfo[];
  Families: FamilyInfo[];
  nodes: { connected: number; ready: number };
}

interface Snapshot {
  context: RequestContext;
  info: SupportedInfo;
}

type NameKey = (name: string) => string;
const lowerCase: NameKey = (name) => name.toLowerCase();
/** The families, as every listing shows them (they change only with the code). */
const FAMILY_INFOS = familyInfos();

/** The names of all lists, first spelling kept, twins (by `key`) and "None" dropped. */
function unionBy(key: NameKey, ...lists: readonly (readonly string[])[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const list of lists) {
    for (const name of list) {
      if (seen.has(key(name)) || name === 'None') continue;
      seen.add(key(name));
      out.push(name);
    }
  }
  return out;
}

const union = (...lists: readonly (readonly string[])[]) => unionBy(lowerCase, ...lists);

function namesWith(all: readonly string[], available: readonly string[], key: NameKey = lowerCase): NameInfo[] {
  const live = new Set(available.map(key));
  return all.map((name) => ({ name, available: live.has(key(name)) }));
}

/** Legacy combined sampler names ("DPM++ 2M Karras") a node serves through its schedulers. */
function combinedSamplers(node: NodeListing): string[] {
  const caps = node.offering.capabilities;
  const labels = caps.schedulers.filter((s) => /^[A-Z]/.test(s) && s !== 'Automatic');
  return caps.samplers.flatMap((sampler) => labels.map((label) => `${sampler} ${label}`));
}

class ResourceIndex {
  readonly #byKey = new Map<string, ResourceRef>();
  readonly #info = new Map<string, ResourceInfo>();
  /** Files the catalog lists: their family is the catalog's, whatever nodes say. */
  readonly #catalogued = new Set<string>();
  /** Files the catalog does not list whose nodes told different families: of none, rather than the first one's. */
  readonly #disputed = new Set<string>();

  constructor(entries: readonly CatalogEntry[]) {
    for (const entry of entries) {
      const ref = { id: entry.sha256, name: entry.name };
      for (const key of [entry.sha256, entry.name, downloadStemOf(entry)]) this.#byKey.set(key.toLowerCase(), ref);
      this.#info.set(ref.id, { name: entry.name, family: entry.family, hash: entry.sha256, available: false, nodes: 0, download: entry.download });
      this.#catalogued.add(ref.id);
    }
  }

  /** Records a node file under all its names; the first claim of a key wins (catalog first). */
  add(ref: ResourceRef, keys: (string | null)[], sha256: string | null, ready: boolean, family: ModelFamily | null = null): void {
    for (const key of keys) if (key && !this.#byKey.has(key.toLowerCase())) this.#byKey.set(key.toLowerCase(), ref);
    if (!this.#byKey.has(ref.id.toLowerCase())) this.#byKey.set(ref.id.toLowerCase(), ref);
    const info = this.#info.get(ref.id) ?? { name: ref.name, family: null, hash: sha256, available: false, nodes: 0, download: null };
    // The nodes that know the family of a file the catalog does not list tell it; should two disagree (a file
    // misdeclared on one), it has none: unknown is held to no rule, a wrong family to the wrong ones.
    if (family !== null && !this.#catalogued.has(ref.id) && !this.#disputed.has(ref.id)) {
      if (info.family === null) info.family = family;
      else if (info.family !== family) {
        info.family = null;
        this.#disputed.add(ref.id);
      }
    }
    if (ready) {
      info.available = true;
      info.nodes += 1;
    }
    this.#info.set(ref.id, info);
  }

  resolve(value: string): ResourceRef | null {
    return this.#byKey.get(value.trim().toLowerCase()) ?? null;
  }

  familyOf(ref: ResourceRef): ModelFamily | null {
    return this.#info.get(ref.id)?.family ?? null;
  }

  list(): ResourceInfo[] {
    return [...this.#info.values()];
  }
}

export class NetworkCatalog {
  readonly #hub: NodeHub;
  readonly #limits: RequestLimits;
  readonly #others: OtherNodes | undefined;
  readonly #catalog: Catalog;
  #snapshot: Snapshot | null = null;
  /** `nodes()`, made again after a change. */
  #nodes: readonly NodeListing[] | null = null;

  /**
   * `catalog`: the network's (built-in entries and the operator's additions); `others`: the nodes of the other
   * gateways sharing the database, when there are (node-listing.ts).
   */
  constructor(hub: NodeHub, limits: RequestLimits, options: { catalog?: Catalog; others?: OtherNodes } = {}) {
    this.#hub = hub;
    this.#limits = limits;
    this.#others = options.others;
    this.#catalog = options.catalog ?? builtInCatalog;
    const others = options.others;
    const invalidate = () => {
      this.#snapshot = null;
      this.#nodes = null;
    };
    hub.on('node:changed', invalidate);
    hub.on('node:lost', invalidate);
    others?.onChange(invalidate);
  }

  /**
   * Every node of the network, once: this gateway's, then the other gateways' but those connected here (a
   * killed gateway's rows stay for seconds after its nodes came here).
   */
  nodes(): readonly NodeListing[] {
    if (this.#nodes) return this.#nodes;
    const here = [...this.#hub.sessions.values()];
    const identities = new Set(here.map((session) => session.identity));
    const elsewhere = [...(this.#others?.nodes() ?? [])].filter((node) => node.identity === null || !identities.has(node.identity));
    return (this.#nodes = [...here, ...elsewhere]);
  }

  requestContext(): RequestContext {
    return this.#current().context;
  }

  supportedInfo(): SupportedInfo {
    return this.#current().info;
  }

  /** The checkpoints some node with its WebUI up serves now, in the catalog's order. */
  servedModels(): ResourceInfo[] {
    return this.supportedInfo().Models.filter((model) => model.available);
  }

  /** Whether the network can run anything now, and if not why: the gateway being up is not enough. */
  servingState(): { canServe: boolean; problem: string | null } {
    const { connected, ready } = this.supportedInfo().nodes;
    const problem = ready > 0 ? null : connected === 0 ? 'no node is connected' : `${connected} node${connected === 1 ? ' is' : 's are'} connected, but none has its WebUI up`;
    return { canServe: problem === null, problem };
  }

  #current(): Snapshot {
    this.#snapshot ??= this.#build();
    return this.#snapshot;
  }

  #build(): Snapshot {
    const sessions = this.nodes();
    const ready = sessions.filter((s) => s.backendUp);
    const catalog = this.#catalog;
    const models = new ResourceIndex(catalog.models);
    const loras = new ResourceIndex(catalog.loras);
    for (const session of sessions) {
      const caps = session.offering.capabilities;
      for (const m of caps.models) {
        models.add(modelRefOf(m, catalog), [m.sha256, m.name, m.title, m.fileName, stripExtension(m.fileName)], m.sha256, session.backendUp, modelFamilyOf(m, catalog));
      }
      for (const l of caps.loras) {
        loras.add(loraRefOf(l, catalog), [l.sha256, l.name, l.alias, l.fileName, stripExtension(l.fileName)], l.sha256, session.backendUp, l.family ?? null);
      }
    }
    const caps = ready.map((s) => s.offering.capabilities);
    const offered = {
      samplers: union(...caps.map((c) => c.samplers), ...ready.map(combinedSamplers)),
      hires: unionBy(toNameKey, ...caps.map((c) => c.latentUpscaleModes), ...caps.map((c) => c.upscalers)),
      upscalers: unionBy(toNameKey, ...caps.map((c) => c.upscalers)),
      cnModels: union(...caps.map((c) => (c.controlNet?.models ?? []).map((t) => t.replace(/\s*\[[0-9a-fA-F]+\]$/, '')))),
      modules: union(...caps.map((c) => c.controlNet?.modules ?? [])),
      interrogators: union(...caps.map((c) => c.interrogators)),
    };
    const catalogCn = catalogControlNetModels.map((m) => m.name);
    const isOf = (m: (typeof catalogControlNetModels)[number], stem: string) => m.stems.some((s) => stem.toLowerCase().includes(s));
    const liveCn = catalogControlNetModels.filter((m) => offered.cnModels.some((stem) => isOf(m, stem))).map((m) => m.name);
    // A node's file that is a catalog entry is listed once, by the catalog's name (its own name is taken too).
    const offeredOnly = offered.cnModels.filter((stem) => !catalogControlNetModels.some((m) => isOf(m, stem)));
    const lists = {
      samplers: union(catalogSamplers, offered.samplers),
      schedulers: union(catalogSchedulers, ...caps.map((c) => c.schedulers.filter((s) => /^[A-Z]/.test(s)))),
      hiresUpscalers: unionBy(toNameKey, catalogHiresUpscalers, offered.hires),
      upscalers: unionBy(toNameKey, catalogUpscalers, offered.upscalers),
      controlNetModels: union(catalogCn, offered.cnModels),
      preprocessors: union(catalogPreprocessors.map((p) => p.name), offered.modules),
      interrogators: union(catalogInterrogators, offered.interrogators),
    };
    const context: RequestContext = {
      resolveModel: (value) => models.resolve(value),
      resolveLora: (value) => loras.resolve(value),
      familyOf: (kind, ref) => (kind === 'model' ? models : loras).familyOf(ref),
      ...lists,
      modelNames: models.list().map((m) => m.name),
      loraNames: loras.list().map((l) => l.name),
      limits: this.#limits,
    };
    const info: SupportedInfo = {
      Models: models.list(),
      LoRAs: loras.list(),
      // The long tail of legacy "sampler + scheduler" spellings stays accepted but unlisted.
      Samplers: namesWith(union(catalogSamplers, ...caps.map((c) => c.samplers)), offered.samplers),
      HiresUpscalers: namesWith(lists.hiresUpscalers, offered.hires, toNameKey),
      Upscalers: namesWith(lists.upscalers, offered.upscalers, toNameKey),
      ControlNet: {
        // Each with its family, so that a client offers only those that fit its checkpoint (a request with another is refused).
        models: namesWith(union(catalogCn, offeredOnly), [...liveCn, ...offeredOnly]).map(({ name, available }) => ({ name, family: controlNetFamilyOf(name), available })),
        preprocessors: namesWith(lists.preprocessors, offered.modules),
      },
      Interrogators: namesWith(lists.interrogators, offered.interrogators),
      Families: FAMILY_INFOS,
      nodes: { connected: sessions.length, ready: ready.length },
    };
    return { context, info };
  }
}
