/**
 * `dan keys` on a running gateway's store, as an operator uses it: real CLI
 * processes beside a real gateway process. A key made from the command line
 * works at once; a change to its limits applies at its next request; a revoked
 * key is refused at its next request; the secret is printed once and never
 * listed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { existsSync, statSync } from 'node:fs';
import { DanProcess, freePort, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir, runDan } from '../helpers/processes.js';


let gateway: DanProcess | undefined;
const others: DanProcess[] = [];
const dirs: { path: string; remove(): void }[] = [];

afterEach(async () => {
  await Promise.all(others.splice(0).map((p) => p.stop('SIGKILL')));
  await gateway?.stop('SIGKILL');
  gateway = undefined;
  dirs.splice(0).forEach((d) => d.remove());
});


async function startGateway(): Promise<{ url: string; data: string }> {
  const dir = tempDir();
  dirs.push(dir);
  const started = await startGatewayProcess({ dataDir: dir.path });
  gateway = started.proc;
  return { url: started.url, data: dir.path };
}

describe('dan keys on a running gateway', () => {
  it('makes a key that works at once, changes its limits and revokes it while the gateway runs', async () => {
    const { url, data } = await startGateway();
    const created = await runDan(['keys', 'create', '--data', data, '--name', 'ci bot', '--rpm', '5', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({ id: expect.stringMatching(/^key_/), name: 'ci bot', secret: expect.stringMatching(/^sk-[A-Za-z0-9]{48}$/), webhookSecret: expect.stringMatching(/^whsec_/), limits: { requestsPerMinute: 5 } });
    const auth = { Authorization: `Bearer ${key.secret}` };

    const me = await getJson(`${url}/api/keys/me`, auth);
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({ anonymous: false, key: { id: key.id, name: 'ci bot' }, limits: { requestsPerMinute: 5 } });
    expect(me.headers?.get('ratelimit-limit')).toBe('5');

    const listed = await runDan(['keys', 'list', '--data', data]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(key.id);
    expect(listed.stdout).toContain('5 requests/min');
    expect(listed.stdout + listed.stderr).not.toContain(key.secret);

    // The gateway looks at the store at most every 200 ms as requests come, and every second regardless.
    const set = await runDan(['keys', 'set', key.id, '--data', data, '--rpm', '7']);
    expect(set.code, set.stderr).toBe(0);
    await within(1_500, async () => (await getJson(`${url}/api/keys/me`, auth)).headers?.get('ratelimit-limit') === '7');

    const revoked = await runDan(['keys', 'revoke', key.id, '--data', data]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('revoked');
    await within(1_500, async () => (await postJson(`${url}/api/sd/task/status`, { taskId: 'x' }, auth)).status === 401);
    const refused = await postJson(`${url}/api/sd/task/status`, { taskId: 'x' }, auth);
    expect(refused.body).toMatchObject({ error: 'DAN_ERR_AUTH_KEY_INVALID' });
  });

  it('prints the secret once in words a person reads, with a note that it is not kept', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const created = await runDan(['keys', 'create', '--data', dir.path, '--name', 'alice', '--models', 'clarity,chillout_mix', '--max-steps', '40']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^key_[A-Za-z0-9]{12} {2}"alice" {2}sk-[A-Za-z0-9]{4}… {2}active\n/);
    expect(created.stdout).toContain('up to 40 steps');
    expect(created.stdout).toContain('checkpoints clarity, chillout_mix');
    expect(created.stdout).toMatch(/secret: +sk-[A-Za-z0-9]{48}\n/);
    expect(created.stderr).toContain('The secret is shown only now');
    // A new store was made: the operator hears it, in case --data was mistyped.
    expect(created.stderr).toContain(`no store was at ${dir.path}/tasks.sqlite`);
    expect(created.stderr).not.toContain('the catalog has no checkpoint');
    // A checkpoint the catalog does not name (a typo?) is taken, and said.
    const typo = await runDan(['keys', 'create', '--data', dir.path, '--name', 'bob', '--models', 'clarity,clartiy']);
    expect(typo.code, typo.stderr).toBe(0);
    expect(typo.stderr).toContain('the catalog has no checkpoint "clartiy": the key can use one only if a node offers a model of that name');
  });

  it('refuses bad values and unknown ids with one line naming the flag, exit 1', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const badWeight = await runDan(['keys', 'create', '--data', dir.path, '--name', 'x', '--weight', '1000']);
    expect(badWeight.code).toBe(1);
    expect(badWeight.stderr.trim()).toBe('dan: --weight: must be a number from 0.1 to 100, got 1000');
    const noName = await runDan(['keys', 'create', '--data', dir.path]);
    expect(noName.code).toBe(1);
    expect(noName.stderr.trim()).toBe('dan: --name: is required (who the key is for)');
    // Nothing but a new key makes a store: a listing of a directory that holds none (mistyped) is refused.
    const listed = await runDan(['keys', 'list', '--data', dir.path]);
    expect(listed.code).toBe(1);
    expect(listed.stderr.trim()).toBe(`dan: no key store in ${dir.path} (it has no tasks.sqlite): pass the gateway's --data directory, or its --database`);
    expect(existsSync(`${dir.path}/tasks.sqlite`)).toBe(false);
    expect((await runDan(['keys', 'create', '--data', dir.path, '--name', 'x'])).code).toBe(0);
    const unknown = await runDan(['keys', 'revoke', 'key_nope', '--data', dir.path]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no API key with id "key_nope"');
    const nothing = await runDan(['keys', 'set', 'key_nope', '--data', dir.path]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('nothing to change');
  });
});

describe('dan nodes token on a running gateway', () => {
  it('admits a node with its owner\'s token; revoking the token disconnects it, and it is refused after', async () => {
    const { url, data } = await startGateway();
    const created = await runDan(['nodes', 'token', 'create', '--data', data, '--name', 'alice', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const token = JSON.parse(created.stdout);
    expect(token).toEqual({ id: expect.stringMatching(/^nt_/), name: 'alice', prefix: token.secret.slice(0, 7), createdAt: expect.any(Number), revokedAt: null, secret: expect.stringMatching(/^dnt-/) });

    const sandbox = await startSandboxProcess();
    others.push(sandbox.proc);
    const keyFile = `${data}/node-home/node-key`;
    const node = await startNodeProcess({ gateway: url, webui: sandbox.url, name: 'alice-gpu', args: ['--token', token.secret], env: { DAN_NODE_KEY_FILE: keyFile } });
    others.push(node.proc);
    // The node keeps its key for next time, readable by its owner only.
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const nodes = (await getJson(`${url}/api/nodes`)).body.data;
    expect(nodes.map((n: { name: string }) => n.name)).toEqual(['alice-gpu']);

    const listed = await runDan(['nodes', 'token', 'list', '--data', data]);
    expect(listed.stdout).toContain(token.id);
    expect(listed.stdout).not.toContain(token.secret);

    expect((await runDan(['nodes', 'token', 'revoke', token.id, '--data', data])).code).toBe(0);
    // Disconnected within the gateway's next look at the store (a second), refused when it tries again: it stops.
    await gateway!.waitForLog((l) => l.msg === 'node disconnected' && String(l['reason']).includes('revoked'), 10_000);
    expect(await node.proc.exited).toBe(2);
    expect((await getJson(`${url}/api/nodes`)).body.data).toEqual([]);
  });
});

describe('dan demo where node tokens exist', () => {
  it('runs its own node all the same, which stays when another token is made', async () => {
    const dir = tempDir();
    dirs.push(dir);
    expect((await runDan(['nodes', 'token', 'create', '--data', dir.path, '--name', 'bob'])).code).toBe(0);
    const port = await freePort();
    const demo = new DanProcess(['demo', '--port', String(port), '--data', dir.path]);
    others.push(demo);
    await demo.waitForLog((l) => String(l.msg).startsWith('DAN demo ready'), 30_000);
    const answer = await postJson(`http://127.0.0.1:${port}/api/sd/txt2img`, { prompt: 'x', model: 'clarity', width: 64, height: 64, steps: 2 });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect((await runDan(['nodes', 'token', 'create', '--data', dir.path, '--name', 'carol'])).code).toBe(0);
    // The gateway reads the new token within a second; its own node is still there after it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await getJson(`http://127.0.0.1:${port}/api/nodes`)).body.data.map((n: { name: string }) => n.name)).toEqual(['demo-sandbox-node']);
  });
});

/** Resolves once `check` holds, trying every 50 ms; fails after `ms`. */
async function within(ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
