/**
 * @module node/node-key
 *
 * The key a node keeps across restarts: a random secret sent in its hello, so
 * that the gateway knows it as the same node next time (its learned speed and
 * reputation follow it), and so that another node taking its name is not taken
 * for it. Kept in a file only its owner may read; made on first use.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { makeDirSync } from '../util/make-dir.js';
import { dirname } from 'node:path';

/** A new key: 32 random bytes, base64url (43 characters). */
export function generateNodeKey(): string {
  return randomBytes(32).toString('base64url');
}

const KEY_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;

/**
 * The key in `file`, made there first if there is none. A file that cannot be read or written (a
 * read-only home) gives a key for this run only, and `problem` says so: the node still works, but is
 * a new node to the gateway at each start.
 */
export function loadNodeKey(file: string): { key: string; problem: string | null } {
  try {
    const stored = readFileSync(file, 'utf8').trim();
    if (KEY_PATTERN.test(stored)) return { key: stored, problem: null };
  } catch {
    // none yet
  }
  const key = generateNodeKey();
  try {
    makeDirSync(dirname(file), 0o700);
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    return { key, problem: null };
  } catch (error) {
    return { key, problem: `could not keep the node key in ${file} (${error instanceof Error ? error.message : String(error)}); the gateway will know this node as new at each start` };
  }
}
