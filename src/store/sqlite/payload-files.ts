/**
 * @module store/sqlite/payload-files
 *
 * Task inputs and results as JSON files beside the SQLite database. They carry
 * images (hundreds of KiB to MiB), which in SQLite would be written on the
 * event loop (better-sqlite3 is synchronous) and churn the WAL; as files they
 * are written by libuv's thread pool while the gateway goes on serving.
 *
 * Files sit in 256 shard directories by the first two characters of the task
 * id (`payloads/3f/3f2a….spec.json`), so no directory grows past a few thousand
 * entries. A write is one `writeFile`: the store changes a task's row only after
 * the file is complete, so a file cut short by a crash is never referred to.
 * `PayloadFiles.inMemory()` keeps them in a Map (for `:memory:` stores).
 */
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class PayloadFiles {
  readonly #root: string | null;
  readonly #memory = new Map<string, Buffer>();
  readonly #shards = new Set<string>();

  private constructor(root: string | null) {
    this.#root = root;
  }

  static inDirectory(root: string): PayloadFiles {
    return new PayloadFiles(root);
  }

  static inMemory(): PayloadFiles {
    return new PayloadFiles(null);
  }

  #path(taskId: string, name: string): string {
    return join(this.#root ?? '', taskId.slice(0, 2), `${taskId}.${name}.json`);
  }

  async write(taskId: string, name: string, json: Buffer): Promise<void> {
    if (this.#root === null) {
      this.#memory.set(`${taskId}.${name}`, json);
      return;
    }
    const shard = taskId.slice(0, 2);
    if (!this.#shards.has(shard)) {
      await mkdir(join(this.#root, shard), { recursive: true });
      this.#shards.add(shard);
    }
    await writeFile(this.#path(taskId, name), json);
  }

  async read(taskId: string, name: string): Promise<string | undefined> {
    if (this.#root === null) return this.#memory.get(`${taskId}.${name}`)?.toString('utf8');
    try {
      return await readFile(this.#path(taskId, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async remove(taskId: string, ...names: string[]): Promise<void> {
    if (this.#root === null) {
      for (const name of names) this.#memory.delete(`${taskId}.${name}`);
      return;
    }
    await Promise.all(names.map((name) => unlink(this.#path(taskId, name)).catch(ignoreMissing)));
  }
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}
