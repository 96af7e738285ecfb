/**
 * @module store/postgres/node-roster
 *
 * The nodes connected to the other gateways sharing the database, as this one
 * needs them (docs/decisions/0015): what each can run and whether its WebUI is
 * up, so that a submit to any gateway is checked against the whole network's
 * nodes, and a queued task is not failed as unservable while a node of
 * another gateway can run it. Each gateway publishes its own nodes (`nodes`
 * table, told on `dan_nodes`) and reads the others'; nodes of a gateway gone
 * leave with it.
 */
import { EventEmitter } from 'node:events';
import type { NodeCapabilities } from '../../domain/capabilities.js';
import { builtInCatalog, type Catalog } from '../../domain/catalog.js';
import { type NodeOffering, toNodeOffering } from '../../domain/offering.js';
import type { PostgresDatabase } from './open-postgres.js';
import { channelSql } from './channels.js';
import type { PgListener } from './pg-listener.js';

const CHANNEL = 'dan_nodes';
const ROW_COLUMNS = 'id, gateway_id, identity, updated_at, name, capabilities, backend_up';

/** A node of another gateway, as catalog and servability read nodes (network/node-listing.ts). */
export interface RemoteNode {
  id: string;
  gatewayId: string;
  /** Who the node is (network/node-hub.ts `identityOf`); null in a row of a gateway older than migration 0009. */
  identity: string | null;
  /** When its gateway published this connection of it (that gateway's clock, ms). */
  publishedAt: number;
  name: string;
  offering: NodeOffering;
  backendUp: boolean;
}

/** What a gateway publishes of one of its nodes. */
export interface PublishedNode {
  id: string;
  /** Who the node is, whichever connection (network/node-hub.ts `identityOf`). */
  identity: string;
  name: string;
  capabilities: NodeCapabilities;
  backendUp: boolean;
}

interface NodeRow {
  id: string;
  gateway_id: string;
  identity: string | null;
  updated_at: string;
  name: string;
  capabilities: string;
  backend_up: boolean;
}

export class NodeRoster extends EventEmitter<{ changed: []; arrived: [node: RemoteNode] }> {
  readonly #db: PostgresDatabase;
  readonly #gatewayId: string;
  readonly #remote = new Map<string, RemoteNode>();
  /** `#remote` with one row per node (`remote`), made again after a change. */
  #current: Map<string, RemoteNode> | null = null;
  #warn: (message: string) => void;
  readonly #catalog: Catalog;

  private constructor(database: PostgresDatabase, gatewayId: string, warn: (message: string) => void, catalog: Catalog) {
    super();
    this.#db = database;
    this.#gatewayId = gatewayId;
    this.#warn = warn;
    this.#catalog = catalog;
  }

  /** Reads the other gateways' nodes, then follows their changes through `listener`; their offerings are read through `catalog`. */
  static async open(
    database: PostgresDatabase,
    listener: PgListener,
    gatewayId: string,
    options: { warn?: (message: string) => void; catalog?: Catalog } = {},
  ): Promise<NodeRoster> {
    const roster = new NodeRoster(database, gatewayId, options.warn ?? (() => {}), options.catalog ?? builtInCatalog);
    await listener.listen(CHANNEL, {
      onNotification: (payload) => roster.#heard(payload),
      onReconnected: () => void roster.#reload().catch(() => {}),
    });
    await roster.#reload();
    return roster;
  }

  /** The other gateways' nodes known now. */
  /** Whether a node of that id (a connection's, as its gateway published it) is another gateway's now. */
  hasRemote(nodeId: string): boolean {
    return this.#remote.has(nodeId);
  }

  /**
   * The other gateways' nodes, each once: a gateway killed leaves its rows until the leader counts it gone
   * (seconds), while its nodes connect to another gateway at once. Of the rows of one node, the newest
   * connection's; rows that do not say who their node is are all kept.
   */
  get remote(): Iterable<RemoteNode> {
    return this.#currentRows().values();
  }

  #currentRows(): Map<string, RemoteNode> {
    this.#current ??= new Map(onePerNode([...this.#remote.values()], (node) => node).map((node) => [node.id, node]));
    return this.#current;
  }

  /** Publishes (or updates) one of this gateway's nodes. */
  async publish(node: PublishedNode, now: number): Promise<void> {
    await this.#db.pool.query(
      `WITH u AS (
         INSERT INTO nodes (id, gateway_id, name, capabilities, backend_up, updated_at, identity) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, capabilities = EXCLUDED.capabilities, backend_up = EXCLUDED.backend_up, updated_at = EXCLUDED.updated_at, identity = EXCLUDED.identity
         RETURNING id
       )
       SELECT pg_notify(${channelSql(CHANNEL)}, json_build_object('g', $2::text, 'n', id)::text) FROM u`,
      [node.id, this.#gatewayId, node.name, JSON.stringify(node.capabilities), node.backendUp, now, node.identity],
    );
  }

  /**
   * Stores what the dashboard shows of this gateway's nodes (`json`: an opaque listing, serialized), in one
   * statement. Not told to anyone: the dashboards of the other gateways read it when they are looked at.
   */
  async publishListings(listings: readonly { id: string; json: string }[]): Promise<void> {
    if (listings.length === 0) return;
    await this.#db.pool.query(
      'UPDATE nodes SET listing = i.listing FROM unnest($1::text[], $2::text[]) AS i(id, listing) WHERE nodes.id = i.id AND nodes.gateway_id = $3',
      [listings.map((l) => l.id), listings.map((l) => l.json), this.#gatewayId],
    );
  }

  /**
   * What the other gateways (alive ones) last published of their nodes for the dashboard, each node once
   * (by its newest row that has a listing), with its row.
   */
  async otherListings(): Promise<{ node: RemoteNode; listing: unknown }[]> {
    const { rows } = await this.#db.pool.query<{ id: string; listing: string }>(
      'SELECT id, listing FROM nodes WHERE gateway_id <> $1 AND listing IS NOT NULL ORDER BY name, id',
      [this.#gatewayId],
    );
    // Of the rows that have a listing: a node's newest connection has none for up to 5 s (its gateway's next
    // publication), and the node is listed by the one before meanwhile rather than not at all.
    const listed = rows.flatMap((row) => {
      const node = this.#remote.get(row.id);
      return node ? [{ node, listing: row.listing }] : [];
    });
    return onePerNode(listed, (entry) => entry.node).map(({ node, listing }) => ({ node, listing: JSON.parse(listing) as unknown }));
  }

  /** How many of this gateway's nodes the table holds (the leader drops them all if it counted this gateway gone). */
  async ownCount(): Promise<number> {
    const { rows } = await this.#db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM nodes WHERE gateway_id = $1', [this.#gatewayId]);
    return rows[0]?.n ?? 0;
  }

  /** One of this gateway's nodes left. */
  async withdraw(nodeId: string): Promise<void> {
    await this.#db.pool.query(
      `WITH u AS (DELETE FROM nodes WHERE id = $1 RETURNING id)
       SELECT pg_notify(${channelSql(CHANNEL)}, json_build_object('g', $2::text, 'n', id)::text) FROM u`,
      [nodeId, this.#gatewayId],
    );
  }

  /** Keeps only the nodes of gateways alive now (the registry's peers); a gateway gone takes its nodes with it. */
  keepGateways(alive: ReadonlySet<string>): void {
    let dropped = false;
    for (const [id, node] of this.#remote) {
      if (alive.has(node.gatewayId)) continue;
      this.#remote.delete(id);
      dropped = true;
    }
    if (dropped) this.#changed();
  }

  #heard(payload: string): void {
    let notice: { g: string; n: string };
    try {
      notice = JSON.parse(payload) as { g: string; n: string };
    } catch {
      return;
    }
    if (notice.g === this.#gatewayId) return;
    void this.#reread(notice.n).catch((error: unknown) => this.#warn(`could not read node ${notice.n} of another gateway: ${String(error)}`));
  }

  async #reread(nodeId: string): Promise<void> {
    const { rows } = await this.#db.pool.query<NodeRow>(`SELECT ${ROW_COLUMNS} FROM nodes WHERE id = $1`, [nodeId]);
    const row = rows[0];
    const arrived = row !== undefined && !this.#remote.has(row.id);
    if (row) this.#remote.set(row.id, toRemote(row, this.#catalog));
    else this.#remote.delete(nodeId);
    this.#changed();
    // A connection new to the network (a node connected, or connected again, to another gateway).
    if (arrived) this.emit('arrived', this.#remote.get(row.id)!);
  }

  async #reload(): Promise<void> {
    const { rows } = await this.#db.pool.query<NodeRow>(`SELECT ${ROW_COLUMNS} FROM nodes WHERE gateway_id <> $1`, [this.#gatewayId]);
    this.#remote.clear();
    for (const row of rows) this.#remote.set(row.id, toRemote(row, this.#catalog));
    this.#changed();
  }

  #changed(): void {
    this.#current = null;
    this.emit('changed');
  }

  /** Takes this gateway's nodes out (the leader drops them anyway once the gateway is gone). */
  async close(): Promise<void> {
    await this.#db.pool.query('DELETE FROM nodes WHERE gateway_id = $1', [this.#gatewayId]).catch(() => {});
  }
}

/**
 * Each node once, by its newest row (`publishedAt`): a gateway killed leaves its rows until the leader counts
 * it gone, while its nodes connect to another at once. Rows that do not say who their node is are all kept.
 * In `entries`' order.
 */
function onePerNode<T>(entries: readonly T[], nodeOf: (entry: T) => RemoteNode): T[] {
  const newest = new Map<string, RemoteNode>();
  for (const entry of entries) {
    const node = nodeOf(entry);
    if (node.identity === null) continue;
    const seen = newest.get(node.identity);
    if (!seen || node.publishedAt > seen.publishedAt) newest.set(node.identity, node);
  }
  return entries.filter((entry) => {
    const node = nodeOf(entry);
    return node.identity === null || newest.get(node.identity) === node;
  });
}

function toRemote(row: NodeRow, catalog: Catalog): RemoteNode {
  return { id: row.id, gatewayId: row.gateway_id, identity: row.identity, publishedAt: Number(row.updated_at), name: row.name, offering: toNodeOffering(JSON.parse(row.capabilities) as NodeCapabilities, catalog), backendUp: row.backend_up };
}
