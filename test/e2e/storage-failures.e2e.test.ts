/**
 * The task store failing under a real gateway process: a `--data` it cannot use
 * stops `dan gateway` with one clear line and status 1 (no stack trace), and a
 * submit whose input cannot be written gets a 503 naming the cause, then
 * succeeds once the directory is back.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { pollUntilDone, postJson } from '../helpers/api-client.js';
import { DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

function scratch(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir.path;
}

/** Starts `dan gateway` on `dataDir`, expecting it to refuse; its exit code and stderr. */
async function refusedGateway(dataDir: string, args: string[] = []) {
  const proc = new DanProcess(['gateway', '--data', dataDir, '--port', '0', '--host', '127.0.0.1', ...args]);
  running.push(proc);
  const code = await proc.exited;
  return { code, stderr: proc.stderr, lines: proc.stderr.trimEnd().split('\n') };
}

const FIX = '--data <dir> must be a directory DAN can write to (it is created if missing)';

describe('dan gateway with a --data it cannot use', () => {
  it('exits 1 with one line naming the path, the cause and the fix when --data is a file', async () => {
    const file = `${scratch()}/data`;
    writeFileSync(file, '');
    const { code, stderr, lines } = await refusedGateway(file);
    expect(code).toBe(1);
    expect(lines).toEqual([`dan: cannot use ${file} as the data directory: creating the directory ${file} failed: EEXIST: file already exists; ${FIX}`]);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1, not spinning, where the system refuses the directory (/proc: Node\'s recursive mkdir loops there)', async () => {
    const { code, lines } = await refusedGateway('/proc/dan-no-such/data');
    expect(code).toBe(1);
    expect(lines).toEqual([expect.stringMatching(/^dan: cannot use \/proc\/dan-no-such\/data as the data directory: creating the directory \/proc\/dan-no-such\/data failed: ENOENT/)]);
  });

  it('exits 1 naming the database when tasks.sqlite cannot be opened', async () => {
    const dir = scratch();
    mkdirSync(`${dir}/tasks.sqlite`);
    const { code, stderr, lines } = await refusedGateway(dir);
    expect(code).toBe(1);
    expect(lines).toEqual([`dan: cannot use ${dir} as the data directory: creating the database file ${dir}/tasks.sqlite failed: EISDIR: illegal operation on a directory; ${FIX}`]);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('prints an invalid configuration the same way', async () => {
    const { code, stderr, lines } = await refusedGateway(scratch(), ['--max-attempts', '0']);
    expect(code).toBe(1);
    expect(lines).toEqual(['dan: invalid gateway configuration:', '  - --max-attempts must be a positive integer, got 0']);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

/** A PNG of noise, which does not compress: its base64 is past the store's 32 KiB inline limit, so the spec goes to a file. */
async function noisePngBase64(side: number): Promise<string> {
  const raw = randomBytes(side * side * 3);
  return (await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer()).toString('base64');
}

describe('a submit whose input cannot be stored', () => {
  it('gets a 503 DAN_ERR_STORE_UNAVAILABLE (the cause in the gateway log, not in the answer), and is accepted and run once the directory is back', async () => {
    const dataDir = scratch();
    const sb = await startSandboxProcess();
    running.push(sb.proc);
    const gw = await startGatewayProcess({ dataDir });
    running.push(gw.proc);
    const node = await startNodeProcess({ gateway: gw.url, webui: sb.url, name: 'node-store' });
    running.push(node.proc);
    const init = await noisePngBase64(128);
    expect(init.length).toBeGreaterThan(40_000);
    const task = { init_image: `data:image/png;base64,${init}`, prompt: 'a cat', model: 'clarity', width: 128, height: 128, steps: 5 };

    // The payload directory replaced by a file: the spec's write fails with ENOTDIR, for real.
    rmSync(`${dataDir}/payloads`, { recursive: true });
    writeFileSync(`${dataDir}/payloads`, '');
    const refused = await postJson(`${gw.url}/api/sd/img2img/async`, task);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 2000, error: 'DAN_ERR_STORE_UNAVAILABLE' });
    expect(refused.body.message).toBe('the gateway cannot store tasks right now; try again shortly (the gateway log says why)');
    const logged = await gw.proc.waitForLog((l) => l['error'] === 'DAN_ERR_STORE_UNAVAILABLE');
    expect(logged.msg).toMatch(new RegExp(`^could not store task \\S+: writing ${dataDir}/payloads/\\S+\\.spec\\.json failed: ENOTDIR: not a directory$`));

    rmSync(`${dataDir}/payloads`);
    mkdirSync(`${dataDir}/payloads`);
    const accepted = await postJson(`${gw.url}/api/sd/img2img/async`, task);
    expect(accepted.status).toBe(200);
    const done = await pollUntilDone(gw.url, accepted.body.data.taskId as string);
    expect(done.status).toBe(2);
  });
});
