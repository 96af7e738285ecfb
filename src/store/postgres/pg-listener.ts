/**
 * @module store/postgres/pg-listener
 *
 * One connection of its own per process that `LISTEN`s on the channels its
 * parts need (keys, tasks, nodes; those of its schema, channels.ts: a pooled
 * connection would be handed to other queries), and comes back when it is lost: tried again every second, each
 * part told `onReconnected` after, since whatever was notified meanwhile was
 * missed and must be read again. One connection, not one per channel: a
 * database allows ~100, and every gateway sharing it holds some.
 *
 * A connection that only listens sends nothing, so one cut without a word
 * (a network failure that closed no socket) would go on "listening" to
 * silence. It is asked a trivial query every few seconds, and one that is
 * not answered in time counts as lost.
 */
import pg from 'pg';
import type { PostgresDatabase } from './open-postgres.js';
import { CHANNEL_SUFFIX_SQL, channelName } from './channels.js';
import { causeText } from './pg-failure.js';

const RELISTEN_MS = 1_000;

export interface ListenerTiming {
  /** How often the connection is asked whether it still answers. @defaultValue 10 s */
  checkEveryMs?: number;
  /** How long an answer (to that or to LISTEN) may take before the connection counts as lost. @defaultValue 5 s */
  answerWithinMs?: number;
}

export interface ChannelHandlers {
  onNotification: (payload: string) => void;
  /** Listening again after a loss: notifications may have been missed. */
  onReconnected?: () => void;
}

export class PgListener {
  readonly #db: PostgresDatabase;
  readonly #warn: (message: string) => void;
  readonly #channels = new Map<string, ChannelHandlers>();
  #client: pg.Client | null = null;
  #retry: NodeJS.Timeout | null = null;
  #check: NodeJS.Timeout | null = null;
  /** What this schema's channel names end with (channels.ts); read on connecting. */
  #suffix = '';
  #closed = false;
  readonly #timing: Required<ListenerTiming>;

  private constructor(database: PostgresDatabase, warn: (message: string) => void, timing: ListenerTiming) {
    this.#db = database;
    this.#warn = warn;
    this.#timing = { checkEveryMs: 10_000, answerWithinMs: 5_000, ...timing };
  }

  /** Connects; rejects when the first connection cannot be made. */
  static async open(database: PostgresDatabase, warn: (message: string) => void = () => {}, timing: ListenerTiming = {}): Promise<PgListener> {
    const listener = new PgListener(database, warn, timing);
    await listener.#connect();
    return listener;
  }

  /** Whether it is listening now (else notifications are being missed). */
  get connected(): boolean {
    return this.#client !== null;
  }

  /**
   * Listens on `channel` (a name of letters and underscores) of this schema (channels.ts) from now on,
   * handing its notifications to `handlers`.
   */
  async listen(channel: string, handlers: ChannelHandlers): Promise<void> {
    if (!/^[a-z_]+$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
    this.#channels.set(channel, handlers);
    await this.#client?.query(`LISTEN ${channelName(channel, this.#suffix)}`);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#db.url,
      application_name: 'dan listener',
      connectionTimeoutMillis: 5_000,
      query_timeout: this.#timing.answerWithinMs,
      keepAlive: true,
    });
    const lost = (error?: Error) => {
      if (this.#client !== client) return;
      this.#client = null;
      this.#stopChecking();
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#warn(`database ${this.#db.name}: the connection that hears of other processes' changes was lost${error ? ` (${causeText(error)})` : ''}; trying again every second`);
      this.#retrySoon();
    };
    client.on('notification', (message) => {
      const base = message.channel.slice(0, -this.#suffix.length - 1);
      if (message.channel === channelName(base, this.#suffix)) this.#channels.get(base)?.onNotification(message.payload ?? '');
    });
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      this.#suffix = (await client.query<{ suffix: string }>(CHANNEL_SUFFIX_SQL)).rows[0]!.suffix;
      for (const channel of this.#channels.keys()) await client.query(`LISTEN ${channelName(channel, this.#suffix)}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    // Closed while it connected: not kept (it would hold the process open).
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    let asking = false;
    this.#check = setInterval(() => {
      // One question at a time: an unanswered one ends in `lost` by itself.
      if (asking) return;
      asking = true;
      client.query('SELECT 1').then(() => (asking = false), lost);
    }, this.#timing.checkEveryMs);
    this.#check.unref();
  }

  #stopChecking(): void {
    if (this.#check) clearInterval(this.#check);
    this.#check = null;
  }

  #retrySoon(): void {
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#connect().then(
        () => {
          if (this.#closed) return;
          for (const handlers of this.#channels.values()) handlers.onReconnected?.();
        },
        () => {
          if (!this.#closed) this.#retrySoon();
        },
      );
    }, RELISTEN_MS);
    this.#retry.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#stopChecking();
    const client = this.#client;
    this.#client = null;
    client?.end().catch(() => {});
  }
}
