/**
 * A gateway on PostgreSQL, as an operator runs it: real gateway, sandbox and
 * node processes, the machine's PostgreSQL (a schema of its own). A key made
 * with `dan keys --database` works at once; tasks run and answer; a gateway
 * killed outright leaves nothing behind: another gateway process on the same
 * database (with another data directory) serves the finished task's image and
 * runs again the task that was running.
 */
import { describe, expect, it } from 'vitest';
import { getJson, imageInfo, postJson } from '../helpers/api-client.js';
import { usePgNetwork } from '../helpers/pg-network.js';
import { skipPostgres } from '../helpers/postgres.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { runDan } from '../helpers/processes.js';


const { newDatabase, gatewayOn, nodeFor } = usePgNetwork(['--auth', 'required']);

describe.skipIf(skipPostgres)('a gateway on PostgreSQL', () => {
  it('takes keys made from the command line, runs tasks, and loses nothing when killed: another gateway serves and runs them', async () => {
    const database = await newDatabase();
    const first = await gatewayOn(database);
    const listening = await first.proc.waitForLog((l) => l.msg.startsWith('DAN gateway listening'));
    expect(listening.msg).toContain('tasks in PostgreSQL postgres://');

    const created = await runDan(['keys', 'create', '--database', database, '--name', 'pg client', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const auth = { Authorization: `Bearer ${(JSON.parse(created.stdout) as { secret: string }).secret}` };
    await expect.poll(async () => (await getJson(`${first.url}/api/keys/me`, auth)).status, { timeout: 5_000 }).toBe(200);

    // A slow GPU (sandbox time ×1): the second task is still running when its gateway is killed.
    await nodeFor(first.url, 'gpu-a', 1);
    const done = await postJson(`${first.url}/api/sd/txt2img`, { prompt: 'a lighthouse', model: 'clarity', width: 256, height: 192, steps: 4, seed: 5 }, auth);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.data).toMatchObject({ status: 2, seeds: [5] });
    const image = done.body.data.images[0] as string;
    expect(await imageInfo(image)).toEqual({ format: 'png', width: 256, height: 192 });

    const running = await postJson(`${first.url}/api/sd/txt2img/async`, { prompt: 'a harbour', model: 'clarity', width: 512, height: 512, steps: 150, seed: 6 }, auth);
    expect(running.status, JSON.stringify(running.body)).toBe(200);
    const runningId = running.body.data.taskId as string;
    await first.proc.waitForLog((l) => l['task'] === runningId && l.msg === 'task assigned');
    await first.proc.stop('SIGKILL');

    const second = await gatewayOn(database);
    const status = await postJson(`${second.url}/api/sd/task/status`, { taskId: done.body.data.taskId }, auth);
    expect(status.body.data).toMatchObject({ status: 2, images: [image] });
    // The attempt the dead gateway had running is started again, here on a fast GPU.
    await nodeFor(second.url, 'gpu-b');
    await second.proc.waitForLog((l) => l['task'] === runningId && l.msg === 'task succeeded', 45_000);
    const recovered = (await postJson(`${second.url}/api/sd/task/status`, { taskId: runningId }, auth)).body.data;
    expect(recovered).toMatchObject({ status: 2, seeds: [6] });
    expect(await imageInfo(recovered.images[0])).toMatchObject({ width: 512, height: 512 });
    // Two gateways' starts, a lease before the running task is reclaimed, and a 150-step task: 20–28 s on this
    // machine alone, past the default 30 s when the suite runs beside it (its own wait above allows 45 s).
  }, 90_000);

  it('shows the gateways sharing the database; when the leading one dies, another takes the periodic work and its node fails over', async () => {
    const database = await newDatabase();
    const first = await gatewayOn(database);
    await first.proc.waitForLog((l) => l.msg.startsWith('this gateway now does the periodic work'));
    const second = await gatewayOn(database);
    const created = await runDan(['keys', 'create', '--database', database, '--name', 'pg client', '--json']);
    const auth = { Authorization: `Bearer ${(JSON.parse(created.stdout) as { secret: string }).secret}` };

    // Each sees both (within a heartbeat), the first leading.
    await expect.poll(async () => (await getJson(`${second.url}/api/health`)).body.data.storage.gateways.seen.length, { timeout: 5_000 }).toBe(2);
    const health = (await getJson(`${second.url}/api/health`)).body.data.storage;
    expect(health).toMatchObject({ kind: 'postgres', reachable: true, problem: null, gateways: { leader: false } });
    expect(health.gateways.seen.filter((g: { leader: boolean }) => g.leader)).toHaveLength(1);
    expect((await getJson(`${first.url}/api/health`)).body.data.storage.gateways).toMatchObject({ leader: true });

    // A node told both gateways serves the first; when the first is killed it is on the second at once.
    const node = await nodeFor(`${first.url},${second.url}`, 'gpu-a');
    const listed = async () => ((await getJson(`${second.url}/api/nodes`, auth)).body.data as { name: string; gateway: string | null }[]).map((n) => `${n.name} ${n.gateway === null ? 'here' : 'there'}`);
    // The second's dashboard lists it once the first has published what it shows of it (every 5 s).
    await expect.poll(listed, { timeout: 10_000 }).toEqual(['gpu-a there']);
    await first.proc.stop('SIGKILL');
    // On the second within a second or so; listed and counted once there, though the first's row stays until
    // the first is counted gone (seconds later).
    await expect.poll(listed, { timeout: 10_000 }).toContain('gpu-a here');
    expect(await listed()).toEqual(['gpu-a here']);
    expect((await getJson(`${second.url}/api/health`)).body.data.nodes.connected).toBe(1);
    await second.proc.waitForLog((l) => l.msg.startsWith('this gateway now does the periodic work'), 10_000);
    expect(node.lines.filter((l) => l.msg === 'connected to gateway')).toHaveLength(2);
    expect(await listed()).toEqual(['gpu-a here']);
    const done = await postJson(`${second.url}/api/sd/txt2img`, { prompt: 'a bridge', model: 'clarity', width: 128, height: 128, seed: 9 }, auth);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.data).toMatchObject({ status: 2, seeds: [9] });
    // Three waits of up to 10 s each for the network to settle, beyond the default 30 s on a busy machine.
  }, 60_000);

  it('when a gateway dies mid-task, its node takes the task to another gateway of the database, which takes it over: it runs once', async () => {
    const database = await newDatabase();
    const first = await gatewayOn(database);
    const second = await gatewayOn(database);
    const created = await runDan(['keys', 'create', '--database', database, '--name', 'pg client', '--json']);
    const auth = { Authorization: `Bearer ${(JSON.parse(created.stdout) as { secret: string }).secret}` };
    await expect.poll(async () => (await getJson(`${first.url}/api/keys/me`, auth)).status, { timeout: 5_000 }).toBe(200);
    // A slow GPU (sandbox time ×1): the task runs for seconds after its gateway is killed.
    const node = await nodeFor(`${first.url},${second.url}`, 'gpu-a', 1);
    await expect.poll(async () => (await getJson(`${first.url}/api/health`)).body.data.nodes.connected, { timeout: 10_000 }).toBe(1);
    const submitted = await postJson(`${first.url}/api/sd/txt2img/async`, { prompt: 'a harbour', model: 'clarity', width: 512, height: 512, steps: 60, seed: 6 }, auth);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
    const taskId = submitted.body.data.taskId as string;
    await node.waitForLog((l) => l['task'] === taskId && l.msg === 'task received');
    await first.proc.stop('SIGKILL');
    await second.proc.waitForLog((l) => l['task'] === taskId && l.msg === 'task taken over from another gateway: its node brought it here', 20_000);
    await second.proc.waitForLog((l) => l['task'] === taskId && l.msg === 'task succeeded', 45_000);
    const done = (await postJson(`${second.url}/api/sd/task/status`, { taskId }, auth)).body.data;
    expect(done).toMatchObject({ status: 2, seeds: [6] });
    expect(await imageInfo(done.images[0])).toMatchObject({ width: 512, height: 512 });
    // Run once: the node was given it once, and no gateway put it back in the queue.
    expect(node.lines.filter((l) => l['task'] === taskId && l.msg === 'task received')).toHaveLength(1);
    expect(second.proc.lines.some((l) => l.msg === 'tasks whose gateway is gone are back in the queue')).toBe(false);
  }, 90_000);

  it('when a node cannot reach its gateway, another gateway takes its task over, and the gateway it left lets the task go', async () => {
    const database = await newDatabase();
    // The first waits 3 s for a dropped node: its wait ends while the task still runs, through the second.
    const first = await gatewayOn(database, ['--auth', 'required', '--resume-grace-s', '3']);
    const second = await gatewayOn(database);
    const created = await runDan(['keys', 'create', '--database', database, '--name', 'pg client', '--json']);
    const auth = { Authorization: `Bearer ${(JSON.parse(created.stdout) as { secret: string }).secret}` };
    await expect.poll(async () => (await getJson(`${first.url}/api/keys/me`, auth)).status, { timeout: 5_000 }).toBe(200);
    const firstAddress = new URL(first.url);
    const proxy = await startTcpProxy({ host: firstAddress.hostname, port: Number(firstAddress.port) });
    try {
      const node = await nodeFor(`http://${proxy.host}:${proxy.port},${second.url}`, 'gpu-a', 1);
      await expect.poll(async () => (await getJson(`${first.url}/api/health`)).body.data.nodes.connected, { timeout: 10_000 }).toBe(1);
      const submitted = await postJson(`${first.url}/api/sd/txt2img/async`, { prompt: 'a harbour', model: 'clarity', width: 512, height: 512, steps: 80, seed: 6 }, auth);
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
      const taskId = submitted.body.data.taskId as string;
      await node.waitForLog((l) => l['task'] === taskId && l.msg === 'task received');
      // The way to the first gateway is cut; the first stays up.
      await proxy.cut();
      await second.proc.waitForLog((l) => l['task'] === taskId && l.msg === 'task taken over from another gateway: its node brought it here', 20_000);
      await second.proc.waitForLog((l) => l['task'] === taskId && l.msg === 'task succeeded', 45_000);
      // The first's wait for the node ended meanwhile: no attempt failed there, nothing ran again.
      expect(first.proc.lines.some((l) => l.msg === 'node connection dropped; its tasks wait for it to come back')).toBe(true);
      expect(first.proc.lines.filter((l) => l['task'] === taskId && l.msg === 'task attempt failed')).toEqual([]);
      expect(node.lines.filter((l) => l['task'] === taskId && l.msg === 'task received')).toHaveLength(1);
      // The first answers for it as the network does (the result is stored a moment after the log line).
      await expect.poll(async () => (await postJson(`${first.url}/api/sd/task/status`, { taskId }, auth)).body.data, { timeout: 5_000 }).toMatchObject({ status: 2, seeds: [6] });
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it('answers 503 (store unavailable) while the database is gone, keeps what it was given, and serves again when it is back', async () => {
    const database = await newDatabase();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(database).port || 5432) });
    const viaProxy = new URL(database);
    viaProxy.host = `${proxy.host}:${proxy.port}`;
    try {
      const gateway = await gatewayOn(viaProxy.toString());
      const created = await runDan(['keys', 'create', '--database', database, '--name', 'pg client', '--json']);
      const auth = { Authorization: `Bearer ${(JSON.parse(created.stdout) as { secret: string }).secret}` };
      await expect.poll(async () => (await getJson(`${gateway.url}/api/keys/me`, auth)).status, { timeout: 5_000 }).toBe(200);
      // A slow GPU: the task below is running when the database goes.
      await nodeFor(gateway.url, 'gpu-a', 1);
      const running = await postJson(`${gateway.url}/api/sd/txt2img/async`, { prompt: 'a mill', model: 'clarity', width: 256, height: 256, steps: 30, seed: 3 }, auth);
      expect(running.status, JSON.stringify(running.body)).toBe(200);
      const runningId = running.body.data.taskId as string;
      await gateway.proc.waitForLog((l) => l['task'] === runningId && l.msg === 'task assigned');

      await proxy.cut();
      const refused = await postJson(`${gateway.url}/api/sd/txt2img/async`, { prompt: 'a barn', model: 'clarity', width: 128, height: 128 }, auth);
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: 'DAN_ERR_STORE_UNAVAILABLE' });
      await expect.poll(async () => (await getJson(`${gateway.url}/api/health`)).body.data.storage.reachable, { timeout: 10_000 }).toBe(false);
      // The running task ends while the database is gone: its result is kept in memory, and answered from there.
      await gateway.proc.waitForLog((l) => l['task'] === runningId && l.msg === 'task outcome not stored yet; kept in memory and tried again', 30_000);
      const meanwhile = await postJson(`${gateway.url}/api/sd/task/status`, { taskId: runningId }, auth);
      expect(meanwhile.body.data, JSON.stringify(meanwhile.body)).toMatchObject({ status: 2, seeds: [3] });

      await proxy.restore();
      await expect.poll(async () => (await getJson(`${gateway.url}/api/health`)).body.data.storage.reachable, { timeout: 10_000 }).toBe(true);
      await gateway.proc.waitForLog((l) => l['task'] === runningId && l.msg === 'task outcome stored', 40_000);
      // Its listening connection came back too (and read the unfinished tasks again): the task it ended
      // during the outage is not taken for another gateway's.
      await gateway.proc.waitForLog((l) => l.msg.startsWith('DAN gateway listening'));
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect((await postJson(`${gateway.url}/api/sd/task/status`, { taskId: runningId }, auth)).body.data).toMatchObject({ status: 2, seeds: [3] });
      expect((await getJson(`${gateway.url}/api/health`)).body.data).toMatchObject({ queued: 0, running: 0 });
      const accepted = await postJson(`${gateway.url}/api/sd/txt2img`, { prompt: 'a barn', model: 'clarity', width: 128, height: 128, steps: 2, seed: 4 }, auth);
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
      // The result of the task that ended during the outage is in the database: another process reads it.
      await gateway.proc.stop('SIGKILL');
      const reader = await gatewayOn(database);
      const stored = await postJson(`${reader.url}/api/sd/task/status`, { taskId: runningId }, auth);
      expect(stored.body.data).toMatchObject({ status: 2, seeds: [3] });
      expect(await imageInfo(stored.body.data.images[0])).toMatchObject({ width: 256, height: 256 });
    } finally {
      await proxy.close();
    }
  });
});
