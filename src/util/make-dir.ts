/**
 * @module util/make-dir
 *
 * `mkdirSync(path, { recursive: true })` without Node's endless loop: where an existing directory refuses
 * a child with ENOENT (`/proc`, some FUSE mounts), Node 20 retries for ever at full CPU, and
 * `dan gateway --data /proc/x` hung instead of saying it cannot. Here each missing directory is made in
 * turn, from the nearest one that exists, and the first refusal is thrown as it is.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function makeDirSync(path: string, mode?: number): void {
  const target = resolve(path);
  // A file in its place: refused as mkdir refuses it (EEXIST).
  if (existsSync(target) && !statSync(target).isDirectory()) mkdirSync(target);
  const missing: string[] = [];
  for (let at = target; !existsSync(at); at = dirname(at)) {
    missing.push(at);
    if (dirname(at) === at) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, mode === undefined ? undefined : { mode });
    } catch (error) {
      // Made meanwhile by another process: as good.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
