/**
 * @module store/postgres/gateway-registry
 *
 * The gateways that share one database, and which of them does the periodic
 * work (docs/decisions/0015). Each gateway adds its row at start and renews it
 * every `heartbeatMs`; the others count it gone once `leaseMs` passes without
 * a renewal. The leader is whichever gateway holds a session advisory lock on
 * a connection of its own: when that gateway dies its connection closes, the
 * server frees the lock, and the next gateway to try (every heartbeat) takes
 * it. No election protocol of our own, and never two leaders: the server
 * grants the lock to one session at a time.
 *
 * A heartbeat that fails (the database unreachable) marks the store
 * unreachable for /api/health, and a leader whose lock connection failed
 * stops leading at once.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PostgresDatabase } from './open-postgres.js';
import { causeText } from './pg-failure.js';
import { TASKS_CHANNEL } from './postgres-task-store.js';

/** The advisory lock of the leader (two-int form: pg_locks shows it as classid, objid). */
const LEADER_LOCK = { classid: 0x64616e, objid: 1 };

export interface GatewayPeer {
  id: string;
  startedAt: number;
  seenAt: number;
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
  warn?: (message: string) => void;
}

export class GatewayRegistry {
  readonly id = `gw_${randomBytes(6).toString('hex')}`;
  readonly #db: PostgresDatabase;
  readonly #options: Required<Omit<RegistryOptions, 'onLeadership' | 'onReclaimed' | 'warn'>> & Pick<RegistryOptions, 'onLeadership' | 'onReclaimed' | 'warn'>;
  readonly #startedAt: number;
  #lockClient: pg.Client | null = null;
  #leader = false;
  #peers: GatewayPeer[] = [];
  #lastError: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #beating: Promise<void> | null = null;
  #closed = false;

  private constructor(database: PostgresDatabase, options: RegistryOptions) {
    this.#db = database;
    this.#options = { heartbeatMs: 2_000, leaseMs: 10_000, ...options };
    this.#startedAt = options.now();
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
    const now = this.#options.now();
    try {
      await this.#db.pool.query(
        `INSERT INTO gateways (id, started_at, seen_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at`,
        [this.id, this.#startedAt, now],
      );
      await this.#tryToLead();
      const { rows } = await this.#db.pool.query<{ id: string; started_at: number; seen_at: number; leader: boolean }>(
        `SELECT g.id, g.started_at, g.seen_at,
                EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $2 AND l.objid = $3
                          AND a.application_name = 'dan leader ' || g.id) AS leader
         FROM gateways g WHERE g.seen_at >= $1 ORDER BY g.started_at, g.id`,
        [now - this.#options.leaseMs, LEADER_LOCK.classid, LEADER_LOCK.objid],
      );
      this.#peers = rows.map((r) => ({ id: r.id, startedAt: r.started_at, seenAt: r.seen_at, leader: r.leader }));
      if (this.#leader) await this.#reclaim(now);
      this.#lastError = null;
    } catch (error) {
      this.#lastError = causeText(error);
      const client = this.#lockClient;
      this.#lockClient = null;
      await client?.end().catch(() => {});
      this.#setLeader(false);
      this.#options.warn?.(`database ${this.#db.name}: heartbeat failed: ${this.#lastError}`);
    }
  }

  /**
   * Takes the lock if it is free, on a connection kept for it. A leader checks that connection each
   * heartbeat: one the server no longer answers on may have lost its session, and with it the lock.
   */
  async #tryToLead(): Promise<void> {
    const client = this.#lockClient ?? (await this.#connectLockClient());
    if (this.#leader) {
      await client.query('SELECT 1');
      return;
    }
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [LEADER_LOCK.classid, LEADER_LOCK.objid]);
    if (rows[0]?.locked === true && !this.#closed) this.#setLeader(true);
  }

  async #connectLockClient(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#db.url,
      // How the other gateways see who leads (pg_locks joined to pg_stat_activity).
      application_name: `dan leader ${this.id}`,
      connectionTimeoutMillis: this.#options.heartbeatMs,
      query_timeout: this.#options.heartbeatMs,
    });
    const lost = () => {
      if (this.#lockClient !== client) return;
      this.#lockClient = null;
      this.#setLeader(false);
      client.end().catch(() => {});
    };
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
   * The leader's periodic work here: attempts whose gateway is gone (not seen for a lease) go back to the
   * queue, told to every gateway (`g` names no gateway, so each one, this one too, takes the news); rows of
   * gateways gone long ago are dropped.
   */
  async #reclaim(now: number): Promise<void> {
    const { rows } = await this.#db.pool.query<{ id: string }>(
      `WITH u AS (
         UPDATE tasks SET state = 'queued'
         WHERE state = 'running' AND gateway_id IS NOT NULL AND gateway_id NOT IN (SELECT id FROM gateways WHERE seen_at >= $1)
         RETURNING id
       )
       SELECT id, pg_notify('${TASKS_CHANNEL}', json_build_object('e', 'queued', 'g', 'reclaimed', 't', id)::text) FROM u`,
      [now - this.#options.leaseMs],
    );
    await this.#db.pool.query('DELETE FROM gateways WHERE seen_at < $1', [now - 100 * this.#options.leaseMs]);
    if (rows.length > 0) this.#options.onReclaimed?.(rows.map((row) => row.id));
  }

  #setLeader(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
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
