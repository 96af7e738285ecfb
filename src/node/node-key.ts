/**
 * @module node/node-key
 *
 * The key a node keeps across restarts: a random secret sent in its hello, so
 * that the gateway knows it as the same node next time (its learned speed and
 * reputation follow it), and so that another node taking its name is not taken
 * for it. Kept in a file only its owner may read; made on first use.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
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

/**
 * Claims the node's identity on this machine, its key file and name, for this process, until it exits:
 * a second node process with both would be the same node to the gateway, and each of its returns
 * would take the other's connection (docs/node-protocol.md, "A dropped connection"). Null once claimed
 * (or when no lock can be kept there: a read-only directory); otherwise which process holds it.
 */
export function claimNodeIdentity(keyFile: string, name: string): { heldBy: number; lockFile: string } | null {
  const lockFile = `${keyFile}.${name}.lock`;
  for (let tries = 0; tries < 2; tries++) {
    let fd: number;
    try {
      fd = openSync(lockFile, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return null;
      const holder = Number.parseInt(readQuietly(lockFile), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) return { heldBy: holder, lockFile };
      // Left by a process that is gone (killed before it could remove it).
      try {
        unlinkSync(lockFile);
      } catch {
        return null;
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    process.once('exit', () => {
      try {
        unlinkSync(lockFile);
      } catch {
        // gone already
      }
    });
    return null;
  }
  return null;
}

function readQuietly(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Whether a process of this id runs (signal 0 checks without sending; EPERM: it runs, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
