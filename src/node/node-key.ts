/**
 * @module node/node-key
 *
 * The key a node keeps across restarts: a random secret sent in its hello, so
 * that the gateway knows it as the same node next time (its learned speed and
 * reputation follow it), and so that another node taking its name is not taken
 * for it. Kept in a file only its owner may read; made on first use.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { makeDirSync } from '../util/make-dir.js';
import { dirname, join, resolve } from 'node:path';

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
 * would take the other's connection (docs/node-protocol.md, "A dropped connection"). The claim is a
 * listening local socket named after them, which the system closes when the process ends however it
 * ends: no stale lock after a crash or a power loss, whatever process ids are reused. Resolves null once
 * claimed (or when no such socket can be made here), or says that another process holds it.
 */
export async function claimNodeIdentity(keyFile: string, name: string): Promise<{ held: true; socket: string } | null> {
  const socket = identitySocketOf(keyFile, name);
  for (let tries = 0; tries < 2; tries++) {
    const outcome = await listenOn(socket);
    if (outcome === 'listening') return null;
    if (outcome === 'unusable') return null;
    // In use: a live process answers there; a socket file a dead one left answers nothing.
    if (await answers(socket)) return { held: true, socket };
    try {
      unlinkSync(socket);
    } catch {
      return null;
    }
  }
  return null;
}

/** Where the claim of a key file and name listens: short (a socket path holds about a hundred bytes), the same for every process of the machine. */
export function identitySocketOf(keyFile: string, name: string): string {
  const digest = createHash('sha256').update(`${realPathOf(keyFile)}\n${name}`).digest('hex').slice(0, 24);
  return process.platform === 'win32' ? `\\\\.\\pipe\\dan-node-${digest}` : join(tmpdir(), `dan-node-${digest}.sock`);
}

/** The file's own path, links followed (a key file reached through a symbolic link is the same file). */
function realPathOf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/** Listens on `path` for the rest of the process's life (without keeping it alive). */
function listenOn(path: string): Promise<'listening' | 'in-use' | 'unusable'> {
  return new Promise((done) => {
    const server = createServer((connection) => connection.end());
    server.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'EADDRINUSE' ? 'in-use' : 'unusable'));
    server.listen(path, () => {
      server.unref();
      // The socket file goes with a process that exits; one that is killed leaves it, found stale by the next.
      if (process.platform !== 'win32') {
        process.once('exit', () => {
          try {
            unlinkSync(path);
          } catch {
            // gone already
          }
        });
      }
      done('listening');
    });
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      done(true);
    });
    probe.once('error', () => done(false));
  });
}
