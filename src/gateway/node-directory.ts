/**
 * @module gateway/node-directory
 *
 * The connected nodes as operators need to see them (`GET /api/nodes`, later
 * the dashboard): what they run, whether they take work (WebUI up, not
 * draining, not set aside for failing), and the speed the gateway has
 * measured. Names, not the addresses or owners of GPU donors. A narrow read
 * interface, so that the HTTP edge never reaches into the hub or the scheduler.
 */
import type { BackendKind } from '../domain/capabilities.js';
import type { NodeOffering } from '../domain/offering.js';
import type { NodeHub } from '../network/node-hub.js';
import type { NodeSession } from '../network/node-session.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { Clock } from '../util/clock.js';
import type { NetworkActivity } from './network-activity.js';

export interface NodeListItem {
  id: string;
  name: string;
  /** `reconnecting`: its connection dropped; its tasks wait for it to come back (`--resume-grace-s`). */
  state: 'ready' | 'busy' | 'webui-down' | 'draining' | 'set-aside' | 'reconnecting';
  slots: number;
  /** Tasks it holds ready beyond its slots. */
  prefetch: number;
  /** Tasks sent to it and not yet answered: running, and held ready. */
  running: number;
  loadedModel: string | null;
  models: string[];
  /** Measured it/s at 512² (null until the first result). */
  itPerSecond: number | null;
  /** Measured seconds every task takes besides its steps (HTTP, VAE, encoding); null until the first result. */
  fixedSeconds: number | null;
  /** Measured seconds of a typical checkpoint load (null until the node loads one). */
  switchSeconds: number | null;
  /** Measured seconds a load of each checkpoint takes, by model name. */
  loadSeconds: Record<string, number>;
  problem: string | null;
  setAsideUntil: string | null;
  /** The node program and version (`dan-node/0.2.0`). */
  agent: string;
  /** What drives its GPU: an A1111-compatible WebUI, or ComfyUI. */
  backend: BackendKind;
  /** Tasks it finished, and attempts that failed on it (cancels not counted), since the gateway started. */
  done: number;
  failed: number;
  /** What it runs now: each task's progress (0–1) and seconds since it was sent. */
  current: { progress: number; seconds: number }[];
  /** The gateway it is connected to, when that is another one sharing the database (its id, as `/api/health` shows it); null: this one. */
  gateway: string | null;
}

/** A node of another gateway sharing the database, as that gateway last published it. */
export interface OtherNodeListing {
  item: NodeListItem;
  /** Who the node is, whichever its connection (null: published by a gateway that did not say). */
  identity: string | null;
  /** When that gateway published this connection of it (its clock, ms). */
  publishedAt: number;
}

export interface NodeDirectory {
  /** This gateway's nodes. */
  list(): NodeListItem[];
  /** Every node of the network: this gateway's, then the other gateways' as they last published them (a few seconds old). */
  listNetwork(): Promise<NodeListItem[]>;
}

const round = (n: number) => Math.round(n * 10) / 10;

function loadsByName(offering: NodeOffering, loads: ReadonlyMap<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!loads) return out;
  for (const model of offering.models.values()) {
    const seconds = loads.get(model.ref.id);
    if (seconds !== undefined) out[model.ref.name] = round(seconds);
  }
  return out;
}

/** What a connected node is doing, as listed. */
function stateOf(session: NodeSession, setAside: boolean, running: number): Exclude<NodeListItem['state'], 'reconnecting'> {
  if (!session.backendUp) return 'webui-down';
  if (session.draining) return 'draining';
  if (setAside) return 'set-aside';
  return running >= session.slots ? 'busy' : 'ready';
}

export function createNodeDirectory(parts: {
  hub: NodeHub;
  scheduler: Scheduler;
  clock: Clock;
  activity: NetworkActivity;
  /** The other gateways' nodes, where gateways share a database. */
  others?: () => Promise<OtherNodeListing[]>;
}): NodeDirectory {
  const { hub, scheduler, clock, activity, others } = parts;
  /** A node as listed; `reconnecting`: its connection dropped, and it may come back for its tasks. */
  const itemOf = (session: NodeSession, reconnecting: boolean): NodeListItem => {
    const estimate = scheduler.estimates.get(session.identity);
    const setAside = scheduler.health.setAside(session.identity, clock.now());
    const running = scheduler.attempts.busySlots(session.id);
    return {
      id: session.id,
      name: session.name,
      state: reconnecting ? 'reconnecting' : stateOf(session, setAside !== null, running),
      slots: session.slots,
      prefetch: session.prefetch,
      running,
      loadedModel: session.loadedModel,
      models: [...session.offering.models.values()].map((m) => m.ref.name),
      itPerSecond: estimate.samples > 0 ? round(estimate.unitsPerSecond) : null,
      fixedSeconds: estimate.samples > 0 ? Math.round(estimate.fixedSeconds * 1000) / 1000 : null,
      switchSeconds: estimate.switchMeasured ? round(estimate.switchSeconds) : null,
      loadSeconds: loadsByName(session.offering, scheduler.estimates.loadsOf(session.identity)),
      problem: reconnecting ? 'its connection dropped: its tasks wait for it to come back' : (setAside?.reason ?? session.backendProblem),
      setAsideUntil: setAside ? new Date(setAside.until).toISOString() : null,
      agent: session.agent,
      backend: session.offering.capabilities.backend.kind,
      ...activity.tallyOf(session.identity),
      current: scheduler.attempts.onNode(session.id).map((a) => ({ progress: a.progress, seconds: Math.max(0, Math.round((clock.now() - a.startedAt) / 1000)) })),
      gateway: null,
    };
  };
  const list = (): NodeListItem[] => [...[...hub.sessions.values()].map((session) => itemOf(session, false)), ...hub.returning().map((session) => itemOf(session, true))];
  const listNetwork = async (): Promise<NodeListItem[]> => {
    if (!others) return list();
    const elsewhere = await others();
    const here = [...hub.sessions.values()].map((session) => ({ session, reconnecting: false }));
    return oneListingPerNode([...here, ...hub.returning().map((session) => ({ session, reconnecting: true }))], elsewhere).map((entry) =>
      'session' in entry ? itemOf(entry.session, entry.reconnecting) : entry.item,
    );
  };
  return { list, listNetwork };
}

/**
 * Each node once, by the connection it works on (the other gateways' listings are one per node already:
 * node-roster.ts `remote`). A node connected here is listed as here, not as a gateway killed under it last
 * published it (its rows stay until the leader counts it gone). A connection of it here that dropped is left
 * out for one published elsewhere since: a gateway withdraws a node's row when its connection drops, so a
 * newer row is the node working there. Listings that do not say who their node is are all kept.
 */
export function oneListingPerNode<T extends { session: Pick<NodeSession, 'identity' | 'connectedAt'>; reconnecting: boolean }>(
  here: readonly T[],
  elsewhere: readonly OtherNodeListing[],
): (T | OtherNodeListing)[] {
  const publishedAt = new Map(elsewhere.flatMap((other) => (other.identity === null ? [] : [[other.identity, other.publishedAt] as const])));
  const keptHere = here.filter((entry) => !entry.reconnecting || !((publishedAt.get(entry.session.identity) ?? -Infinity) > entry.session.connectedAt));
  const listedHere = new Set(keptHere.map((entry) => entry.session.identity));
  return [...keptHere, ...elsewhere.filter((other) => other.identity === null || !listedHere.has(other.identity))];
}
