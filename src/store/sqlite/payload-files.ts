/**
 * @module store/sqlite/payload-files
 *
 * Task inputs and results beside the SQLite database, as files. They carry
 * images (hundreds of KiB to MiB), which in SQLite would be written on the
 * event loop (better-sqlite3 is synchronous) and churn the WAL; as files they
 * are written by libuv's thread pool while the gateway goes on serving.
 *
 * Files sit in 256 shard directories by the first two characters of the task
 * id (`payloads/3f/3f2a….spec.json`), so no directory grows past a few thousand
 * entries. A write is one file written whole (several buffers in one `writev`,
 * so they are never joined in memory): the store changes a task's row only
 * after the file is complete, so a file cut short by a crash is never referred
 * to, and a write that fails removes what it wrote. `PayloadFiles.inMemory()`
 * keeps them in a Map (for `:memory:` stores).
 *
 * A failure names what was being done to which file (FileStepError,
 * storage-failure.ts): the store words it for the caller.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileStep } from './storage-failure.js';

export class PayloadFiles {
  readonly #root: string | null;
  readonly #memory = new Map<string, Buffer>();

  private constructor(root: string | null) {
    this.#root = root;
  }

  static inDirectory(root: string): PayloadFiles {
    return new PayloadFiles(root);
  }

  static inMemory(): PayloadFiles {
    return new PayloadFiles(null);
  }

  /** `file` is the name after the task id, extension included: `spec.json`, `result-1.bin`. */
  #path(taskId: string, file: string): string {
    return join(this.#root ?? '', taskId.slice(0, 2), `${taskId}.${file}`);
  }

  /** Writes `parts`, in order, as the whole file; on failure leaves no file behind (a partial one would hold space on a full disk). */
  async write(taskId: string, file: string, parts: readonly Buffer[]): Promise<void> {
    if (this.#root === null) {
      this.#memory.set(`${taskId}.${file}`, Buffer.concat(parts));
      return;
    }
    const path = this.#path(taskId, file);
    try {
      await fileStep('writing', path, () => writeWhole(path, parts));
    } catch (error) {
      await unlink(path).catch(() => {});
      throw error;
    }
  }

  async read(taskId: string, file: string): Promise<Buffer | undefined> {
    if (this.#root === null) return this.#memory.get(`${taskId}.${file}`);
    const path = this.#path(taskId, file);
    return fileStep('reading', path, () => readFile(path).catch(undefinedIfMissing));
  }

  /** Removes the files that exist among `files`. */
  async remove(taskId: string, ...files: string[]): Promise<void> {
    if (this.#root === null) {
      for (const file of files) this.#memory.delete(`${taskId}.${file}`);
      return;
    }
    await Promise.all(files.map((file) => this.#path(taskId, file)).map((path) => fileStep('removing', path, () => unlink(path).catch(undefinedIfMissing))));
  }
}

/**
 * Opens, writes and closes `path`. The shard directory is made when the open finds
 * it missing, rather than remembered once made: that costs the same round trips,
 * and a payload directory removed and restored under a running gateway is made again.
 */
async function writeWhole(path: string, parts: readonly Buffer[]): Promise<void> {
  // Owner only, as the database (open-database.ts): payloads are input images.
  const handle = await open(path, 'w', 0o600).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    await mkdir(dirname(path), { recursive: true });
    return open(path, 'w', 0o600);
  });
  try {
    let pending = [...parts];
    while (pending.length > 0) {
      const { bytesWritten } = await handle.writev(pending);
      pending = afterBytes(pending, bytesWritten);
    }
  } finally {
    await handle.close();
  }
}

/** What is left of `parts` once the first `bytes` of them are written (a `writev` may write less than asked). */
function afterBytes(parts: readonly Buffer[], bytes: number): Buffer[] {
  const left: Buffer[] = [];
  let skip = bytes;
  for (const part of parts) {
    if (skip >= part.length) skip -= part.length;
    else {
      left.push(skip > 0 ? part.subarray(skip) : part);
      skip = 0;
    }
  }
  return left;
}

function undefinedIfMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code !== 'ENOENT') throw error;
  return undefined;
}
