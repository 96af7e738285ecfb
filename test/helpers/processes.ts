/**
 * Real processes for end-to-end tests: `dan gateway`, `dan node`, `dan sandbox`
 * started from the built CLI (bin/dan.js → dist/), with JSON logs read line by
 * line so a test can wait for a log event instead of sleeping.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/dan.js', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class DanProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly #waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, ...args, '--log-format', 'json'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => this.#onLine(text));
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  #onLine(text: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { level: 30, msg: text };
    }
    this.lines.push(line);
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const tail = this.lines.slice(-10).map((l) => l.msg).join(' | ');
        reject(new Error(`timed out waiting for a log line; last lines: ${tail}; stderr: ${this.stderr.slice(-500)}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.push(waiter);
      void this.exited.then((code) => {
        if (!this.#waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`process exited (${code}) before the log line; stderr: ${this.stderr.slice(-800)}`));
      });
    });
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

export function tempDir(prefix = 'dan-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A port that was free a moment ago (for a gateway that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The gateway processes started, by URL: a test that knows a gateway's URL can wait for its log events. */
const gatewaysByUrl = new Map<string, DanProcess>();

/** The gateway process listening at `url` (started by this test file). */
export function gatewayProcessAt(url: string): DanProcess {
  const proc = gatewaysByUrl.get(url);
  if (!proc) throw new Error(`no gateway process was started at ${url}`);
  return proc;
}

export async function startGatewayProcess(options: { dataDir: string; port?: number; args?: string[]; env?: NodeJS.ProcessEnv }) {
  // Debug level: tests wait for events only logged there ('task outcome stored').
  const args = ['gateway', '--port', String(options.port ?? 0), '--host', '127.0.0.1', '--data', options.dataDir, '--log-level', 'debug', ...(options.args ?? [])];
  const proc = new DanProcess(args, options.env);
  const line = await proc.waitForLog((l) => typeof l['url'] === 'string' && l.msg.startsWith('DAN gateway listening'));
  const url = line['url'] as string;
  gatewaysByUrl.set(url, proc);
  return { proc, url };
}

export async function startSandboxProcess(options: { speed?: number; config?: string; args?: string[]; flavor?: 'a1111' | 'forge' | 'comfyui' } = {}) {
  const flavor = options.flavor ? ['--flavor', options.flavor] : [];
  const args = ['sandbox', ...flavor, '--port', '0', '--speed', String(options.speed ?? 1000), ...(options.config ? ['--config', options.config] : []), ...(options.args ?? [])];
  const proc = new DanProcess(args);
  const line = await proc.waitForLog((l) => typeof l['url'] === 'string' && l.msg.startsWith('DAN sandbox'));
  return { proc, url: line['url'] as string };
}

/** A node for the WebUI at `webui`, or with `comfyui` for the ComfyUI there (`--backend comfyui`). */
export async function startNodeProcess(options: { gateway: string; webui?: string; comfyui?: string; name: string; args?: string[]; env?: NodeJS.ProcessEnv }) {
  const backend = options.comfyui ? ['--backend', 'comfyui', '--comfyui', options.comfyui] : ['--webui', options.webui ?? ''];
  // A key file of this test process's own: test files run side by side, and a node refuses to start while
  // another of its name and key file runs on the machine.
  const keyFile = options.args?.includes('--key-file') || options.env?.['DAN_NODE_KEY_FILE'] ? [] : ['--key-file', join(tmpdir(), `dan-test-keys-${process.pid}`, `${options.name}.key`)];
  const args = ['node', '--gateway', options.gateway, ...backend, '--name', options.name, ...keyFile, ...(options.args ?? [])];
  const proc = new DanProcess(args, options.env);
  await proc.waitForLog((l) => l.msg === 'connected to gateway');
  return { proc };
}

/** Runs a `dan` command to its end (`dan keys …`), as an operator would: its exit code and output. */
export function runDan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}
