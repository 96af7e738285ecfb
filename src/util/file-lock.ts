/**
 * @module util/file-lock
 *
 * One read-modify-write of a file at a time, across processes: a lock file beside it (`<path>.lock`),
 * created exclusively and holding its owner's pid. An operator scripting `dan catalog add` in parallel
 * (`xargs -P`) lost entries: each process read the file before any of them wrote it.
 *
 * A lock left by a process that died (its pid no longer runs) is taken over. Two processes finding the
 * same dead lock at once could both take it; that needs a crash while changing the file and two changes
 * racing right after it, and costs at worst one lost change, as before this lock.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartupError } from '../errors/startup-error.js';

/** Runs `change` while holding `path`'s lock; waits up to `waitMs` for another holder to finish. */
export async function withFileLock<T>(path: string, change: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const lock = `${path}.lock`;
  const giveUpAt = Date.now() + waitMs;
  while (!(await tryLock(lock))) {
    if (await heldByTheDead(lock)) {
      await rm(lock, { force: true });
      continue;
    }
    if (Date.now() >= giveUpAt) {
      throw new StartupError(`${path} is being changed by another process (its lock file ${lock} is ${Math.round(waitMs / 1000)} s old or more); if no other is running, remove the lock file`);
    }
    await sleep(20 + Math.random() * 30);
  }
  try {
    return await change();
  } finally {
    await rm(lock, { force: true });
  }
}

async function tryLock(lock: string): Promise<boolean> {
  try {
    const handle = await open(lock, 'wx');
    try {
      await handle.writeFile(String(process.pid));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Whether the lock's owner no longer runs. A lock still being written (no pid yet) is not. */
async function heldByTheDead(lock: string): Promise<boolean> {
  const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
