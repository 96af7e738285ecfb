/**
 * @module store/postgres/gateway-registry
 *
 * The gateways that share one database, and which of them does the periodic
 * work (docs/decisions/0015). Each gateway adds its row at start and renews it
 * every `heartbeatMs`, and keeps a session of its own open: the others count
 * it gone as soon as that session closes (a process killed outright: the
 * server notices at once), or once `leaseMs` passes without a renewal (a
 * process hung, or cut off from the database). The leader is whichever gateway holds a session advisory lock on
 * a connection of its own: when that gateway dies its connection closes, the
 * server frees the lock, and the next gateway to try (every heartbeat) takes
 * it. No election protocol of our own, and never two leaders: the server
 * grants the lock to one session at a time.
 *
 * A heartbeat that fails (the database unreachable) marks the store
 * unreachable for /api/health, and a leader whose lock connection failed
 * stops leading at once. A leader puts the tasks of gateways gone back in the
 * queue only once it has renewed its own row without a gap for a lease: after
 * an outage every gateway's renewal is old, and none of them is gone.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PostgresDatabase } from './open-postgres.js';
import { causeText } from './pg-failure.js';
import { channelSql } from './channels.js';
import { TASKS_CHANNEL } from './postgres-task-store.js';

/**
 * Renewals and their cut-offs are on the database's clock, the one clock every gateway shares: with each
 * gateway's own, a clock a few seconds off would make a live gateway look gone.
 */
const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * The leader's advisory lock, one per schema: advisory locks are the whole database's, and two DAN
 * networks in two schemas of one database must each have their own leader.
 */
const LEADER_LOCK = `hashtext(current_schema() || '.dan_leader')`;

/**
 * Gateway `g.id`'s own session (its lock connection), as pg_stat_activity names it: `dan gateway <id>`,
 * and `dan gateway <id> leading` once it holds the leader's lock.
 */
const SESSION = `'dan gateway ' || g.id`;

/**
 * Whether gateway `g` is alive: it renewed its row within the lease ($1, ms: a process hung, or cut off
 * from the database, stops renewing), and its own session is open or it renewed within half a lease and
 * a heartbeat ($2, ms). The server closes a session the moment its process dies, even killed outright,
 * so a killed gateway is gone within about half a lease rather than a whole one; a session that drops
 * while the gateway still renews (through its pool) does not make it gone.
 */
const ALIVE = `g.seen_at >= ${DB_NOW} - $1 AND (g.seen_at >= ${DB_NOW} - $2 OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name IN (${SESSION}, ${SESSION} || ' leading')))`;

export interface GatewayPeer {
  id: string;
  /** Epoch ms, on the database's clock. */
  startedAt: number;
  /** How long ago it last renewed its row. */
  seenMsAgo: number;
  leader: boolean;
}

export interface RegistryOptions {
  now: () => number;
  /** How often the row is renewed and the lock tried. @defaultValue 2 s */
  heartbeatMs?: number;
  /** A gateway not seen this long is gone. @defaultValue 10 s */
  leaseMs?: number;
  /** Told when this gateway starts or stops leading. */
  onLeadership?: (leader: boolean) => void;
  /** Told (on the leader) of the tasks put back in the queue because the gateway running them is gone. */
  onReclaimed?: (taskIds: string[]) => void;
  /** Told the gateways alive after each heartbeat (this one included). */
  onPeers?: (peers: readonly GatewayPeer[]) => void;
  /** Told when heartbeats start failing (once, not at every failed one). */
  warn?: (message: string) => void;
  /** Told when heartbeats work again after failing. */
  notice?: (message: string) => void;
}

export class GatewayRegistry {
  readonly id = `gw_${randomBytes(6).toString('hex')}`;
  readonly #db: PostgresDatabase;
  readonly #options: Required<Pick<RegistryOptions, 'now' | 'heartbeatMs' | 'leaseMs'>> & RegistryOptions;
  #lockClient: pg.Client | null = null;
  #leader = false;
  #peers: GatewayPeer[] = [];
  #lastError: string | null = null;
  /** Since when heartbeats fail (this gateway's clock), or null. */
  #failingSince: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #beating: Promise<void> | null = null;
  #closed = false;

  private constructor(database: PostgresDatabase, options: RegistryOptions) {
    this.#db = database;
    this.#options = { heartbeatMs: 2_000, leaseMs: 10_000, ...options };
  }

  /** Adds this gateway's row and tries to lead; then renews both every heartbeat. */
  static async join(database: PostgresDatabase, options: RegistryOptions): Promise<GatewayRegistry> {
    const registry = new GatewayRegistry(database, options);
    await registry.#beat();
    if (registry.#lastError !== null) throw new Error(registry.#lastError);
    registry.#timer = setInterval(() => void registry.#beatOnce(), registry.#options.heartbeatMs);
    registry.#timer.unref();
    return registry;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** Every gateway seen within the lease at the last heartbeat, this one included, oldest first. */
  get peers(): readonly GatewayPeer[] {
    return this.#peers;
  }

  /** Why the last heartbeat failed (the database unreachable), or null when it worked. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /** A heartbeat now (tests, and a gateway that wants fresh peers), waiting for one under way. */
  async beat(): Promise<void> {
    if (this.#beating) await this.#beating;
    await this.#beatOnce();
  }

  #beatOnce(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => (this.#beating = null));
    return this.#beating;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#db.pool.query(
        `INSERT INTO gateways (id, started_at, seen_at) VALUES ($1, ${DB_NOW}, ${DB_NOW}) ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at`,
        [this.id],
      );
      this.#renewed();
      await this.#tryToLead();
      const { rows } = await this.#db.pool.query<{ id: string; started_at: number; age: number; leader: boolean }>(
        `SELECT g.id, g.started_at, ${DB_NOW} - g.seen_at AS age,
                EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = ${SESSION} || ' leading') AS leader
         FROM gateways g WHERE ${ALIVE} ORDER BY g.started_at, g.id`,
        this.#aliveWindows(),
      );
      this.#peers = rows.map((r) => ({ id: r.id, startedAt: r.started_at, seenMsAgo: Math.max(0, r.age), leader: r.leader }));
      // A leader reclaims only once it has led, and renewed without a gap, for a lease: when the database was
      // away (or too slow for everyone), every gateway's renewal is old until each is back, and none is gone.
      // A leader whose lock session lived through the outage would otherwise take back every running task.
      if (this.#leader && this.#options.now() - Math.max(this.#leaderSince, this.#renewingSince) >= this.#options.leaseMs) await this.#reclaim();
      if (this.#failingSince !== null) {
        const seconds = Math.round((this.#options.now() - this.#failingSince) / 1000);
        this.#options.notice?.(`database ${this.#db.name} answers again (heartbeats failed for ${seconds} s)`);
        this.#failingSince = null;
      }
      this.#lastError = null;
      this.#options.onPeers?.(this.#peers);
    } catch (error) {
      // Its lock connection, if lost, says so itself (and this gateway stops leading then).
      this.#lastError = causeText(error);
      // Said once, not at every heartbeat while the database is away; its return is said too.
      if (this.#failingSince === null) {
        this.#failingSince = this.#options.now();
        this.#options.warn?.(`database ${this.#db.name}: heartbeat failed: ${this.#lastError}; tried again every ${this.#options.heartbeatMs / 1000} s (its return is logged)`);
      }
    }
  }

  /**
   * Takes the lock if it is free, on a connection kept for it. A leader checks that connection each
   * heartbeat: one the server no longer answers on may have lost its session, and with it the lock.
   */
  async #tryToLead(): Promise<void> {
    const client = this.#lockClient ?? (await this.#connectLockClient());
    try {
      if (this.#leader) {
        await client.query('SELECT 1');
        return;
      }
      const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS locked`);
      if (this.#closed) return;
      if (rows[0]?.locked !== true) return await this.#endHungLeader();
      await client.query(`SET application_name = 'dan gateway ${this.id} leading'`);
      this.#setLeader(true);
    } catch (error) {
      // Not answered in time (query_timeout): the session, and the lock with it, may be gone. No longer
      // leading; the connection is closed, which ends the session if the server still holds it.
      this.#lockLost(client);
      throw error;
    }
  }

  /** Whether ending a hung leader's session was refused (the database role may not): said once. */
  #mayNotEndLeader = false;

  /**
   * A leader that has not renewed its row for a lease (its process stopped, swapping, stuck) keeps its lock
   * session open, and the lock with it: nobody would put back a gone gateway's tasks, its own included, for as
   * long as it hangs (a trial stopped one for 50 s). Its leading session is ended, which frees the lock for
   * the next heartbeat's try; the hung gateway, when it wakes, finds its lock connection gone and no longer
   * leads. Only by a gateway that has itself renewed without a gap for a lease: after an outage every
   * renewal is old, a leader's too.
   */
  async #endHungLeader(): Promise<void> {
    if (this.#mayNotEndLeader || this.#options.now() - this.#renewingSince < this.#options.leaseMs) return;
    try {
      const { rows } = await this.#db.pool.query<{ id: string }>(
        `SELECT g.id, pg_terminate_backend(a.pid) FROM gateways g JOIN pg_stat_activity a ON a.application_name = ${SESSION} || ' leading'
         WHERE g.seen_at < ${DB_NOW} - $1`,
        [this.#options.leaseMs],
      );
      for (const row of rows) {
        this.#options.warn?.(`gateway ${row.id} leads but has not renewed its row for ${this.#options.leaseMs / 1000} s (hung?): its leading session was ended, for another gateway to lead`);
      }
    } catch (error) {
      // Anything but a refusal (insufficient_privilege) is the database's trouble, the heartbeat's to report.
      if ((error as { code?: string }).code !== '42501') throw error;
      this.#mayNotEndLeader = true;
      this.#options.warn?.(`could not end the session of a leading gateway that stopped renewing (${causeText(error)}): give the gateways' database role the right to (pg_signal_backend), or a hung leader holds the periodic work until it wakes`);
    }
  }

  /** The lock connection `client` is lost or given up on: this gateway no longer leads. */
  #lockLost(client: pg.Client): void {
    if (this.#lockClient !== client) return;
    this.#lockClient = null;
    this.#setLeader(false);
    client.end().catch(() => {});
  }

  async #connectLockClient(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#db.url,
      // How the other gateways see that this one is alive, and whether it leads (pg_stat_activity, pg_locks).
      application_name: `dan gateway ${this.id}`,
      // Not the heartbeat: a busy server may take longer than one beat to let a connection in.
      connectionTimeoutMillis: Math.max(this.#options.heartbeatMs, 5_000),
      query_timeout: Math.max(this.#options.heartbeatMs, 5_000),
    });
    const lost = () => this.#lockLost(client);
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    this.#lockClient = client;
    return client;
  }

  /**
   * The leader's periodic work here: attempts whose gateway is gone go back to the queue, told to every
   * gateway (`g` names no gateway, so each one, this one too, takes the news); the nodes of gateways gone
   * are dropped, and the rows of gateways gone long ago.
   */
  async #reclaim(): Promise<void> {
    // Only while this gateway's own renewal is fresh where the statement runs (the database's clock): one that
    // reaches the server late (sent before an outage, run after it) would count every gateway gone.
    const fresh = `EXISTS (SELECT 1 FROM gateways me WHERE me.id = $3 AND me.seen_at >= ${DB_NOW} - $2)`;
    const { rows } = await this.#db.pool.query<{ id: string }>(
      `WITH u AS (
         UPDATE tasks SET state = 'queued'
         WHERE state = 'running' AND gateway_id IS NOT NULL AND gateway_id NOT IN (SELECT g.id FROM gateways g WHERE ${ALIVE}) AND ${fresh}
         RETURNING id
       )
       SELECT id, pg_notify(${channelSql(TASKS_CHANNEL)}, json_build_object('e', 'queued', 'g', 'reclaimed', 't', id)::text) FROM u`,
      [...this.#aliveWindows(), this.id],
    );
    await this.#db.pool.query(`DELETE FROM nodes WHERE gateway_id NOT IN (SELECT g.id FROM gateways g WHERE ${ALIVE}) AND ${fresh}`, [...this.#aliveWindows(), this.id]);
    await this.#db.pool.query(`DELETE FROM gateways WHERE seen_at < ${DB_NOW} - $1`, [100 * this.#options.leaseMs]);
    if (rows.length > 0) this.#options.onReclaimed?.(rows.map((row) => row.id));
  }

  /** The parameters of `ALIVE`. */
  #aliveWindows(): [number, number] {
    // Without its session, a gateway is alive while it renewed within half a lease and a heartbeat: a leader
    // goes on reclaiming while its own renewals come up to half a lease apart (a slow database), and a gateway
    // whose lock connection that slowness cut must not count as gone while it renews as often.
    return [this.#options.leaseMs, this.#options.leaseMs / 2 + this.#options.heartbeatMs];
  }

  /** When this gateway last began to lead (its own clock: only the time since counts). */
  #leaderSince = 0;
  /** When this gateway's renewals last resumed after a gap (or began), and when it last renewed (its own clock). */
  #renewingSince = 0;
  #renewedAt: number | null = null;

  /**
   * Notes a renewal of this gateway's row. One that comes more than half a lease after the one before (the
   * database away, or this process or the database stalled) starts a new run of renewals: the other
   * gateways' may have lapsed over the same gap. (Not two heartbeats: a database slow enough that beats land
   * two heartbeats apart would keep the leader from ever taking back a dead gateway's tasks.)
   */
  #renewed(): void {
    const at = this.#options.now();
    if (this.#renewedAt === null || at - this.#renewedAt > this.#options.leaseMs / 2) this.#renewingSince = at;
    this.#renewedAt = at;
  }

  #setLeader(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    if (leader) this.#leaderSince = this.#options.now();
    this.#options.onLeadership?.(leader);
  }

  /** Stops the heartbeat, gives up leading and removes this gateway's row (best effort: the lease ends it anyway). */
  async leave(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#beating?.catch(() => {});
    const client = this.#lockClient;
    this.#lockClient = null;
    this.#setLeader(false);
    await client?.end().catch(() => {});
    await this.#db.pool.query('DELETE FROM gateways WHERE id = $1', [this.id]).catch(() => {});
  }
}
