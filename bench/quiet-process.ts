/**
 * A DAN process for the overhead benchmark whose log goes to a file, as a
 * service's log would. The test helpers (test/helpers/processes.ts) read every
 * log line of the processes they start; in the benchmark that reading would
 * happen on the timing client's own event loop, between the requests it times.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/dan.js', import.meta.url));

export interface QuietProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `dan <args>` logging to `logFile`; resolves once `readyUrl` answers 200. */
export async function startQuiet(args: string[], options: { logFile: string; readyUrl: string; env?: NodeJS.ProcessEnv; nodeArgs?: string[] }): Promise<QuietProcess> {
  const fd = openSync(options.logFile, 'a');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args, '--log-format', 'json'], { stdio: ['ignore', fd, fd], env: { ...process.env, ...options.env } });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dan ${args[0]} exited (${child.exitCode}): ${readFileSync(options.logFile, 'utf8').slice(-800)}`);
    if (Date.now() > deadline) throw new Error(`dan ${args[0]} did not answer ${options.readyUrl} within 20 s`);
    const ok = await fetch(options.readyUrl).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
