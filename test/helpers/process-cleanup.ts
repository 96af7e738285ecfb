/**
 * The processes and temporary directories a test file starts: each test pushes
 * what it starts, and they are killed and removed after it, whatever it did.
 */
import { afterEach } from 'vitest';
import type { DanProcess } from './processes.js';

export function useProcessCleanup(): { running: DanProcess[]; dirs: { remove(): void }[] } {
  const running: DanProcess[] = [];
  const dirs: { remove(): void }[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    dirs.splice(0).forEach((d) => d.remove());
  });
  return { running, dirs };
}
