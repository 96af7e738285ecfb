/**
 * @module store/postgres/pg-listener
 *
 * A connection of its own that `LISTEN`s on some channels (a pooled one would
 * be handed to other queries), and comes back when it is lost: tried again
 * every second, with `onReconnected` after, since whatever was notified
 * meanwhile was missed and must be read again.
 */
import pg from 'pg';
import type { PostgresDatabase } from './open-postgres.js';
import { causeText } from './pg-failure.js';

const RELISTEN_MS = 1_000;

export interface ListenerHandlers {
  onNotification: (channel: string, payload: string) => void;
  /** Listening again after a loss: notifications may have been missed. */
  onReconnected?: () => void;
  warn?: (message: string) => void;
}

export class PgListener {
  readonly #db: PostgresDatabase;
  readonly #channels: readonly string[];
  readonly #handlers: ListenerHandlers;
  #client: pg.Client | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(database: PostgresDatabase, channels: readonly string[], handlers: ListenerHandlers) {
    this.#db = database;
    this.#channels = channels;
    this.#handlers = handlers;
  }

  /** Listens on `channels` before it resolves; rejects when the first connection cannot be made. */
  static async open(database: PostgresDatabase, channels: readonly string[], handlers: ListenerHandlers): Promise<PgListener> {
    const listener = new PgListener(database, channels, handlers);
    await listener.#connect();
    return listener;
  }

  /** Whether it is listening now (else notifications are being missed). */
  get connected(): boolean {
    return this.#client !== null;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#db.url, application_name: 'dan listener', connectionTimeoutMillis: 5_000 });
    const lost = (error?: Error) => {
      if (this.#client !== client) return;
      this.#client = null;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#handlers.warn?.(`database ${this.#db.name}: the connection that hears of changes (${this.#channels.join(', ')}) was lost${error ? ` (${causeText(error)})` : ''}; trying again every second`);
      this.#retrySoon();
    };
    client.on('notification', (message) => this.#handlers.onNotification(message.channel, message.payload ?? ''));
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      for (const channel of this.#channels) await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    this.#client = client;
  }

  #retrySoon(): void {
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#connect().then(
        () => this.#handlers.onReconnected?.(),
        () => this.#retrySoon(),
      );
    }, RELISTEN_MS);
    this.#retry.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    client?.end().catch(() => {});
  }
}
