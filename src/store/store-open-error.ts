/**
 * @module store/store-open-error
 *
 * A task store that cannot be opened at start: the data directory is not a
 * directory, the database in it cannot be opened or migrated, or it belongs to
 * a newer DAN. Thrown by an adapter's constructor/opening, for any adapter.
 *
 * A dedicated class rather than `DAN_ERR_STORE_UNAVAILABLE`: that id tells a
 * client "retry shortly" while a gateway runs, whereas this is told to an
 * operator before the gateway listens, and does not pass by itself; the fix is
 * a different `--data`. As a StartupError the CLI prints the message alone
 * (no stack trace) and exits 1.
 */
import { StartupError } from '../errors/startup-error.js';

export class StoreOpenError extends StartupError {
  override readonly name = 'StoreOpenError';

  constructor(
    /** The data directory, absolute; or the database's address (its password hidden). */
    readonly path: string,
    /** Why, and what to do about it: `database /data/tasks.sqlite: unable to open database file (SQLITE_CANTOPEN); --data <dir> must be …`. */
    detail: string,
    cause: unknown,
    /** What `path` was to be. */
    role = 'the data directory',
  ) {
    super(`cannot use ${path} as ${role}: ${detail}`, { cause });
  }
}
