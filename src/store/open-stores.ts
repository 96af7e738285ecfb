/**
 * @module store/open-stores
 *
 * The gateway's storage, chosen by its configuration: SQLite in the data
 * directory (one gateway, nothing to run beside it: the default), or a
 * PostgreSQL database that several gateways share (`--database`). Either way
 * the same four ports: tasks, API keys, webhook deliveries, callers' default
 * checkpoints.
 */
import type { KeyStore } from '../auth/key-store.js';
import type { CallerDefaults } from './caller-defaults.js';
import type { Catalog } from '../domain/catalog.js';
import type { DeliveryStore } from '../webhooks/delivery-store.js';
import { type GatewayPeer, GatewayRegistry, type RegistryOptions } from './postgres/gateway-registry.js';
import { NodeRoster } from './postgres/node-roster.js';
import { openPostgres } from './postgres/open-postgres.js';
import { PostgresCallerDefaults } from './postgres/postgres-caller-defaults.js';
import { PostgresDeliveryStore } from './postgres/postgres-delivery-store.js';
import { PostgresKeyStore } from './postgres/postgres-key-store.js';
import { PostgresTaskStore } from './postgres/postgres-task-store.js';
import { followTasks, type TaskNews } from './postgres/task-feed.js';
import { PgListener } from './postgres/pg-listener.js';
import { agreeOn } from './postgres/shared-settings.js';
import { ProgressChannel, type ProgressChannelOptions } from './postgres/progress-channel.js';
import { causeText } from './postgres/pg-failure.js';
import { SqliteCallerDefaults } from './sqlite/sqlite-caller-defaults.js';
import { SqliteDeliveryStore } from './sqlite/sqlite-delivery-store.js';
import { SqliteKeyStore } from './sqlite/sqlite-key-store.js';
import { SqliteTaskStore } from './sqlite/sqlite-task-store.js';
import { StoreOpenError } from './store-open-error.js';
import type { TaskStore } from './task-store.js';

export interface Stores {
  tasks: TaskStore;
  keys: KeyStore;
  deliveries: DeliveryStore;
  callerDefaults: CallerDefaults;
  /** Where they are, for the log: `SQLite /srv/dan/data/tasks.sqlite`, `PostgreSQL postgres://dan:***@db/dan`. */
  name: string;
  kind: 'sqlite' | 'postgres';
  /** The gateways sharing a PostgreSQL database (joined when `gateway` is given); null for SQLite, one gateway alone. */
  gateways: GatewayRegistry | null;
  /** Hears what the other gateways sharing the database do to tasks (task-feed.ts); null when none can. */
  hearOthers: ((news: TaskNews) => Promise<void>) | null;
  /**
   * The value of a setting every gateway sharing the database uses (the first proposal wins); null for
   * SQLite, where the gateway keeps it in its data directory.
   */
  agreeOn: ((name: string, proposal: string) => Promise<string>) | null;
  /** Relays the progress of tasks running on one gateway's node to the others that are asked about them; null when none share it. */
  relayProgress: ((handlers: Pick<ProgressChannelOptions, 'progressHere' | 'heard'>) => Promise<ProgressChannel>) | null;
  /** The nodes of the other gateways sharing the database, and where this one publishes its own; null when none share it. */
  roster: NodeRoster | null;
  close(): Promise<void>;
}

export interface StoreLocation {
  /** A PostgreSQL address, or null for SQLite in `dataDir`. */
  database: string | null;
  dataDir: string;
}

/** @throws StoreOpenError when the location cannot serve (named, with the cause and what to do). */
export interface OpenOptions {
  warn?: (message: string) => void;
  /** Hear of key changes other processes make (a gateway does; `dan keys` need not). @defaultValue true */
  listenForKeys?: boolean;
  /** Join the gateways sharing a PostgreSQL database as one of them (postgres/gateway-registry.ts). */
  gateway?: Omit<RegistryOptions, 'warn'> & {
    /** What the other gateways' nodes offer is read through this catalog. @defaultValue the built-in catalog */
    catalog?: Catalog;
  };
}

export async function openStores(where: StoreLocation, options: OpenOptions = {}): Promise<Stores> {
  const warn = options.warn ?? (() => {});
  if (where.database === null) {
    const tasks = new SqliteTaskStore(where.dataDir, { warn });
    return {
      tasks,
      keys: new SqliteKeyStore(tasks.connection),
      deliveries: new SqliteDeliveryStore(tasks.connection),
      callerDefaults: new SqliteCallerDefaults(tasks.connection, tasks.file),
      name: `SQLite ${tasks.file}`,
      kind: 'sqlite',
      gateways: null,
      hearOthers: null,
      relayProgress: null,
      agreeOn: null,
      roster: null,
      close: () => tasks.close(),
    };
  }
  const database = await openPostgres(where.database, { warn });
  // One connection hears every change other processes make (keys, and for a gateway tasks and nodes).
  let listener: PgListener | null = null;
  let keys: PostgresKeyStore;
  try {
    if (options.listenForKeys ?? true) listener = await PgListener.open(database, warn);
    keys = await PostgresKeyStore.open(database, listener);
  } catch (error) {
    listener?.close();
    await database.pool.end().catch(() => {});
    throw new StoreOpenError(database.name, `could not listen for changes: ${causeText(error)}`, error, 'the database');
  }
  let gateways: GatewayRegistry | null = null;
  let roster: NodeRoster | null = null;
  if (options.gateway) {
    try {
      // A gateway gone takes its nodes with it, seen at the next heartbeat.
      const onPeers = (peers: readonly GatewayPeer[]) => roster?.keepGateways(new Set(peers.map((peer) => peer.id)));
      const { catalog, ...registry } = options.gateway;
      gateways = await GatewayRegistry.join(database, { ...registry, onPeers, warn });
      listener ??= await PgListener.open(database, warn);
      roster = await NodeRoster.open(database, listener, gateways.id, { warn, ...(catalog ? { catalog } : {}) });
    } catch (error) {
      await gateways?.leave();
      listener?.close();
      await database.pool.end().catch(() => {});
      throw new StoreOpenError(database.name, `could not join the gateways sharing it: ${causeText(error)}`, error, 'the database');
    }
  }
  const tasks = new PostgresTaskStore(database, { gatewayId: gateways?.id ?? null });
  return {
    tasks,
    keys,
    deliveries: new PostgresDeliveryStore(database),
    callerDefaults: new PostgresCallerDefaults(database),
    name: `PostgreSQL ${database.name}`,
    kind: 'postgres',
    gateways,
    hearOthers: gateways && listener && ((news) => followTasks(listener, gateways.id, news, warn)),
    agreeOn: (name, proposal) => agreeOn(database, name, proposal),
    relayProgress: gateways && listener && ((handlers) => ProgressChannel.open(database, listener, { ...handlers, gatewayId: gateways.id, warn })),
    roster,
    close: async () => {
      await roster?.close();
      await gateways?.leave();
      listener?.close();
      await tasks.close();
    },
  };
}
