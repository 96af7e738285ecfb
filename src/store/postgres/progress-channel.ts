/**
 * @module store/postgres/progress-channel
 *
 * The progress of a task that runs on another gateway's node, for the clients
 * that follow it here (its status, its live stream). A node reports progress
 * to its own gateway only, several times a second; told to every gateway, that
 * would be a notice per step per running task of the whole network. So it is
 * asked for: a gateway that holds a task running elsewhere and is asked about
 * it says `want` once per attempt (`dan_progress`), and the gateway whose node
 * runs it tells where the task stands at once, then its progress at most twice a
 * second, until the attempt ends there. Previews (tens of KiB each) do not fit in a notice
 * (8,000 bytes) and are not relayed.
 */
import { channelSql } from './channels.js';
import type { PgListener } from './pg-listener.js';
import type { PostgresDatabase } from './open-postgres.js';

export const PROGRESS_CHANNEL = 'dan_progress';

/** At most one progress notice per task in this time, but the last step (progress 1) always. */
const MIN_INTERVAL_MS = 500;

/** Past this many tasks wanted, those no longer running here are forgotten (an attempt's end is not told to the channel). */
const SWEEP_ABOVE = 256;

type Notice = { e: 'want'; g: string; t: string } | { e: 'progress'; g: string; t: string; a: number; p: number; eta: number | null };

export interface ProgressChannelOptions {
  gatewayId: string;
  /** Where the attempt of the task that runs on a node of this gateway stands now; undefined when none runs here. */
  progressHere: (taskId: string) => { attempt: number; progress: number; etaSeconds: number | null } | undefined;
  /** Progress another gateway told of attempt `attempt` of a task it runs. */
  heard: (taskId: string, attempt: number, progress: number, etaSeconds: number | null) => void;
  now?: () => number;
  warn?: (message: string) => void;
}

export class ProgressChannel {
  readonly #database: PostgresDatabase;
  readonly #options: ProgressChannelOptions;
  readonly #now: () => number;
  /** Tasks running here whose progress another gateway wants, and when it was last told (0: not yet). */
  readonly #wanted = new Map<string, number>();

  private constructor(database: PostgresDatabase, options: ProgressChannelOptions) {
    this.#database = database;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  static async open(database: PostgresDatabase, listener: PgListener, options: ProgressChannelOptions): Promise<ProgressChannel> {
    const channel = new ProgressChannel(database, options);
    await listener.listen(PROGRESS_CHANNEL, { onNotification: (payload) => channel.#onNotice(payload) });
    return channel;
  }

  /** Asks the gateway running `taskId` to tell its progress until this attempt ends. */
  want(taskId: string): void {
    this.#send({ e: 'want', g: this.#options.gatewayId, t: taskId });
  }

  /** Progress of a task running on this gateway's node: told if another gateway wants it. */
  progressed(taskId: string, attempt: number, progress: number, etaSeconds: number | null): void {
    const lastTold = this.#wanted.get(taskId);
    if (lastTold === undefined) return;
    const now = this.#now();
    if (now - lastTold < MIN_INTERVAL_MS && progress < 1) return;
    this.#wanted.set(taskId, now);
    this.#send({ e: 'progress', g: this.#options.gatewayId, t: taskId, a: attempt, p: progress, eta: etaSeconds });
  }

  #onNotice(payload: string): void {
    let notice: Notice;
    try {
      notice = JSON.parse(payload) as Notice;
    } catch {
      this.#options.warn?.(`a notice on ${PROGRESS_CHANNEL} that is not JSON, skipped: ${payload.slice(0, 200)}`);
      return;
    }
    if (notice.g === this.#options.gatewayId) return;
    if (notice.e === 'progress') this.#options.heard(notice.t, notice.a, notice.p, notice.eta);
    else if (notice.e === 'want') {
      const here = this.#options.progressHere(notice.t);
      if (here === undefined) return;
      if (this.#wanted.size >= SWEEP_ABOVE) for (const id of this.#wanted.keys()) if (this.#options.progressHere(id) === undefined) this.#wanted.delete(id);
      // Told at once where it stands, not at the node's next report: the asking gateway's client is waiting (a
      // second gateway asking, or the same one about a later attempt, as much as the first).
      this.#wanted.set(notice.t, 0);
      this.progressed(notice.t, here.attempt, here.progress, here.etaSeconds);
    }
  }

  /**
   * Notices waiting for the statement under way to end, the latest of each task's (a newer progress
   * replaces an older one in its place): one statement at a time, so notices go out in order (the pool's
   * connections would commit them in any order), and a slow database makes them fewer, not late.
   */
  readonly #unsent = new Map<string, string>();
  #sending = false;

  #send(notice: Notice): void {
    this.#unsent.set(`${notice.e} ${notice.t}`, JSON.stringify(notice));
    if (!this.#sending) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    while (this.#unsent.size > 0) {
      const payloads = [...this.#unsent.values()];
      this.#unsent.clear();
      try {
        await this.#database.pool.query(`SELECT pg_notify(${channelSql(PROGRESS_CHANNEL)}, payload) FROM unnest($1::text[]) AS payload`, [payloads]);
      } catch (error) {
        // Progress is a courtesy: the task's state and end travel with its row (task-feed.ts).
        this.#options.warn?.(`could not relay tasks' progress: ${(error as Error).message}`);
      }
    }
    this.#sending = false;
  }
}
