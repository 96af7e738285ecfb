/**
 * Several gateways on one PostgreSQL database are one network (docs/decisions/0015),
 * with real processes: 3 gateways, 4 sandbox nodes spread over them (each told a
 * second gateway to fail over to), clients on all three. Tasks go to every
 * gateway; one gateway is SIGKILLed in the middle (its node takes what it runs to
 * its second gateway, which takes it over). Every task ends exactly once
 * (one success in all the gateways' logs, none lost), and its result is read
 * from both survivors.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { usePgNetwork } from '../helpers/pg-network.js';
import { skipPostgres } from '../helpers/postgres.js';
import { type DanProcess, runDan, startNodeProcess } from '../helpers/processes.js';

const TASKS = 512;

const { processes, newDatabase, gatewayOn, nodeFor } = usePgNetwork(['--auth', 'off']);



const succeededIn = (gateway: DanProcess) => gateway.lines.filter((l) => l.msg === 'task succeeded').map((l) => l['task'] as string);
/** The first `count` status events of a task's live stream (Server-Sent Events), then the stream is closed. */
async function statusEvents(url: string, headers: Record<string, string>, count: number): Promise<{ status: number; progress?: number }[]> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const views: { status: number; progress?: number }[] = [];
  let text = '';
  try {
    while (views.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const events = text.split('\n\n');
      text = events.pop() ?? '';
      for (const event of events) {
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (/^event: status$/m.test(event) && data) views.push(JSON.parse(data) as { status: number; progress?: number });
      }
    }
  } finally {
    await reader.cancel();
  }
  return views.slice(0, count);
}

/** The tasks that succeeded in an attempt of the given gateway, as the database holds them. */
async function succeededOn(database: string, gatewayId: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>("SELECT id FROM tasks WHERE state = 'succeeded' AND gateway_id = $1", [gatewayId]);
    return rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

describe.skipIf(skipPostgres)('three gateways on one database', () => {
  it('run every task once across their nodes, and lose none when one is killed', { timeout: 180_000 }, async () => {
    const database = await newDatabase();
    const gateways = [await gatewayOn(database), await gatewayOn(database), await gatewayOn(database)];
    const [a, b, c] = gateways as [(typeof gateways)[0], (typeof gateways)[0], (typeof gateways)[0]];
    // Sandbox time ×100: a 64² task of 8 steps takes a few tens of ms; the queue stays long for a while.
    await nodeFor(`${a.url},${c.url}`, 'gpu-a1', 100);
    await nodeFor(`${a.url},${c.url}`, 'gpu-a2', 100);
    // b's GPU is slow (real time): b is killed while it runs a large task.
    const gpuB = await nodeFor(`${b.url},${c.url}`, 'gpu-b', 1);
    await nodeFor(`${c.url},${a.url}`, 'gpu-c', 100);

    const ids: string[] = [];
    const submit = async (i: number, to: string, size = { width: 64, height: 64, steps: 8 }) => {
      const answer = await postJson(`${to}/api/sd/txt2img/async`, { prompt: `task ${i}`, model: 'clarity', ...size, seed: i });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      ids.push(answer.body.data.taskId as string);
      return answer.body.data.taskId as string;
    };
    // The first half to every gateway, 16 at a time.
    for (let i = 0; i < TASKS / 2; i += 16) await Promise.all(Array.from({ length: 16 }, (_, k) => submit(i + k, gateways[(i + k) % 3]!.url)));
    // Tasks stored on one gateway run on the others' nodes too.
    await expect.poll(() => gateways.filter((g) => succeededIn(g.proc).length > 0).length, { timeout: 20_000 }).toBe(3);

    const bId = (await getJson(`${b.url}/api/health`)).body.data.storage.gateways.self as string;
    // b is killed while its node runs a large task (seconds on its GPU; a small one ends in tens of ms, before
    // the kill could land). Large tasks are submitted to b until its node has one.
    const large = new Set<string>();
    const largeOnB = (msg: string) => new Set(gpuB.lines.filter((l) => l.msg === msg && large.has(l['task'] as string)).map((l) => l['task'] as string));
    const runsLarge = () => {
      const ended = new Set([...largeOnB('task done'), ...largeOnB('task failed'), ...largeOnB('task abandoned')]);
      return [...largeOnB('task received')].some((id) => !ended.has(id));
    };
    let extra = 10_000;
    await expect
      .poll(
        async () => {
          if (runsLarge()) return true;
          const more = await Promise.all(Array.from({ length: 2 }, () => submit(extra++, b.url, { width: 512, height: 512, steps: 50 })));
          more.forEach((id) => large.add(id));
          return false;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(true);
    await b.proc.stop('SIGKILL');
    for (let i = TASKS / 2; i < TASKS; i += 16) await Promise.all(Array.from({ length: 16 }, (_, k) => submit(i + k, (i + k) % 2 === 0 ? a.url : c.url)));
    // A sync request waits on one gateway for a task any node of the network may run.
    const sync = await postJson(`${c.url}/api/sd/txt2img`, { prompt: 'sync', model: 'clarity', width: 64, height: 64, steps: 8, seed: 7 });
    expect(sync.status, JSON.stringify(sync.body)).toBe(200);
    expect(sync.body.data).toMatchObject({ status: 2, seeds: [7] });
    ids.push(sync.body.data.taskId as string);

    // Every task ends (the killed gateway's running attempts come back after its lease), succeeded.
    const statusOf = async (id: string, at: string) => (await postJson(`${at}/api/sd/task/status`, { taskId: id })).body.data;
    await expect
      .poll(async () => (await Promise.all(ids.map((id) => statusOf(id, a.url)))).filter((s) => s.status !== 2).length, { timeout: 90_000, interval: 1_000 })
      .toBe(0);
    // What b ran when it was killed went on: its node brought it to c, which took it over, or it went back to the
    // queue once b's lease passed (the leader said so) and ran elsewhere.
    const wentOn = (l: { msg: string }) => l.msg === 'task taken over from another gateway: its node brought it here' || l.msg === 'tasks whose gateway is gone are back in the queue';
    expect([a, c].some((g) => g.proc.lines.some(wentOn))).toBe(true);
    // Once each: one success per task in the survivors' logs and the killed one's stored attempts. The killed
    // one's are read from the database, not its log: a result it received but had not stored when it died is
    // no end (and ran again elsewhere), and its last log lines, written asynchronously, die with it.
    const endsIn = [succeededIn(a.proc), await succeededOn(database, bId), succeededIn(c.proc)];
    expect(endsIn[1]!.length).toBeGreaterThan(0);
    const successes = endsIn.flat();
    const counts = new Map<string, number>();
    for (const id of successes) counts.set(id, (counts.get(id) ?? 0) + 1);
    const where = (id: string) => endsIn.map((ends, n) => `${'abc'[n]}:${ends.filter((s) => s === id).length}`).join(' ');
    expect(ids.filter((id) => counts.get(id) !== 1).map((id) => `${id} ${where(id)}`)).toEqual([]);
    expect(successes.length).toBe(ids.length);
    // Readable from both survivors, the same image.
    for (const id of ids.filter((_, i) => i % 10 === 0)) {
      const [fromA, fromC] = await Promise.all([statusOf(id, a.url), statusOf(id, c.url)]);
      expect(fromA).toMatchObject({ status: 2 });
      expect(fromC.images).toEqual(fromA.images);
    }
    // The survivors see each other, one of them leading.
    await expect.poll(async () => (await getJson(`${a.url}/api/health`)).body.data.storage.gateways.seen.length, { timeout: 15_000 }).toBe(2);
    const health = (await getJson(`${a.url}/api/health`)).body.data.storage.gateways;
    expect(health.seen.filter((g: { leader: boolean }) => g.leader).length).toBe(1);
  });

  it('take a submit on a gateway with no node of its own, checked against the whole network, and run it on another gateway\'s node', async () => {
    const database = await newDatabase();
    const a = await gatewayOn(database);
    const b = await gatewayOn(database);
    await nodeFor(a.url, 'gpu-a', 1000);
    // b hears of a's node: its catalog and health count it.
    await expect.poll(async () => (await getJson(`${b.url}/api/sd/supportedModelInfo`)).body.data.nodes, { timeout: 10_000 }).toEqual({ connected: 1, ready: 1 });
    const models = (await getJson(`${b.url}/api/sd/supportedModelInfo`)).body.data.Models as { name: string; available: boolean }[];
    expect(models.filter((m) => m.available).map((m) => m.name)).toContain('clarity');
    // b's node list (its dashboard) shows a's node, as a last published it, named with a's id.
    const aId = (await getJson(`${a.url}/api/health`)).body.data.storage.gateways.self as string;
    await expect
      .poll(async () => ((await getJson(`${b.url}/api/nodes`)).body.data as { name: string; gateway: string | null; state: string }[]).map((n) => `${n.name} ${n.gateway} ${n.state}`), { timeout: 10_000 })
      .toEqual([`gpu-a ${aId} ready`]);
    expect((await getJson(`${a.url}/api/nodes`)).body.data).toMatchObject([{ name: 'gpu-a', gateway: null }]);
    const done = await postJson(`${b.url}/api/sd/txt2img`, { prompt: 'via b', model: 'clarity', width: 64, height: 64, steps: 4, seed: 11 });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.data).toMatchObject({ status: 2, seeds: [11] });
    // Ran on a's node (a's log line may reach this process after b's answer: logs are written asynchronously).
    await expect.poll(() => succeededIn(a.proc), { timeout: 5_000 }).toContain(done.body.data.taskId);
    // A WebUI client's default checkpoint, set through one gateway, holds through the other.
    expect((await getJson(`${b.url}/sdapi/v1/options`)).body.sd_model_checkpoint).not.toMatch(/^clarity \[/);
    expect((await postJson(`${a.url}/sdapi/v1/options`, { sd_model_checkpoint: 'clarity' })).status).toBe(200);
    expect((await getJson(`${b.url}/sdapi/v1/options`)).body).toMatchObject({ sd_model_checkpoint: expect.stringMatching(/^clarity \[/) });
    // One Idempotency-Key sent to both gateways at the same moment names one task.
    const body = { prompt: 'once', model: 'clarity', width: 64, height: 64, steps: 2, seed: 12 };
    const both = await Promise.all([a.url, b.url].map((at) => postJson(`${at}/api/sd/txt2img/async`, body, { 'Idempotency-Key': 'same-request-7' })));
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(both[0]!.body.data.taskId).toBe(both[1]!.body.data.taskId);
    // What no node of the network has is refused at once, naming it.
    const refused = await postJson(`${b.url}/api/sd/txt2img`, { prompt: 'x', model: 'not-a-model-anyone-has', width: 64, height: 64 });
    expect(refused.status).toBe(400);
    // a's node leaves: b's catalog follows.
    await processes.find((p) => p.lines.some((l) => l.msg === 'connected to gateway'))!.stop('SIGTERM');
    await expect.poll(async () => (await getJson(`${b.url}/api/sd/supportedModelInfo`)).body.data.nodes, { timeout: 10_000 }).toEqual({ connected: 0, ready: 0 });
  });

  it('refuse a node that took another gateway of its own network for its WebUI, and run its tasks on the others', async () => {
    const database = await newDatabase();
    const a = await gatewayOn(database);
    const b = await gatewayOn(database);
    await nodeFor(a.url, 'gpu-a', 1000);
    // Connected to a, with b (the same network) as its WebUI: nothing in its own config tells them apart.
    const looped = await startNodeProcess({ gateway: a.url, webui: b.url, name: 'looped' });
    processes.push(looped.proc);
    const tasks = await Promise.all(Array.from({ length: 6 }, (_, i) => postJson(`${a.url}/api/sd/txt2img`, { prompt: `t${i}`, model: 'clarity', width: 64, height: 64, steps: 2 })));
    expect(tasks.map((t) => t.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const down = await looped.proc.waitForLog((l) => l.msg === 'WebUI is not answering; the gateway will send no work until it is back', 15_000);
    expect(down['problem']).toMatch(/HTTP 508[\s\S]*a DAN gateway of the network the calling node is connected to/);
  });

  it('cancel a task through one gateway while another\'s node runs it, and post the end webhook of a task that ended on another gateway, once', async () => {
    const database = await newDatabase();
    const received: { id: string; task: string }[] = [];
    const receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ id: String(request.headers['webhook-id']), task: (JSON.parse(body) as { data: { taskId: string } }).data.taskId });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    try {
      const args = ['--auth', 'optional', '--webhook-allow-private'];
      const a = await gatewayOn(database, args);
      const b = await gatewayOn(database, args);
      // The public API key one hands out is good on the other.
      const [publicA, publicB] = await Promise.all([a.url, b.url].map(async (at) => (await getJson(`${at}/api/user/public-api-key`)).body.data));
      expect(publicA).toEqual(publicB);
      // b's data directory was new: no client held a key of its, and it says nothing of one.
      expect(b.proc.lines.filter((l) => l.msg.includes('hands out the public API key')).map((l) => l.msg)).toEqual([]);
      const created = await runDan(['keys', 'create', '--database', database, '--name', 'hooks', '--json']);
      const auth = { Authorization: `Bearer ${(JSON.parse(created.stdout) as { secret: string }).secret}` };
      // One slow GPU, on a.
      await nodeFor(a.url, 'gpu-a', 1);
      await expect.poll(async () => (await getJson(`${b.url}/api/sd/supportedModelInfo`)).body.data.nodes.ready, { timeout: 10_000 }).toBe(1);

      // Submitted on b with a webhook; run and ended on a: b posts it.
      const hooked = await postJson(`${b.url}/api/sd/txt2img/async`, { prompt: 'hooked', model: 'clarity', width: 64, height: 64, steps: 2, seed: 1, webhook: { url: hook } }, auth);
      expect(hooked.status, JSON.stringify(hooked.body)).toBe(200);
      const hookedId = hooked.body.data.taskId as string;
      await a.proc.waitForLog((l) => l['task'] === hookedId && l.msg === 'task succeeded', 30_000);
      await expect.poll(() => received.filter((r) => r.task === hookedId).length, { timeout: 15_000 }).toBe(1);

      // Submitted on a, running on a's node, cancelled through b: a stops it on the node.
      const long = await postJson(`${a.url}/api/sd/txt2img/async`, { prompt: 'long', model: 'clarity', width: 512, height: 512, steps: 150, seed: 2 }, auth);
      const longId = long.body.data.taskId as string;
      await a.proc.waitForLog((l) => l['task'] === longId && l.msg === 'task assigned');
      // b, asked about it, has a tell its progress: in its status (the first that finds it running already) and in its live stream.
      await expect.poll(async () => (await postJson(`${a.url}/api/sd/task/status`, { taskId: longId }, auth)).body.data?.progress ?? 0, { timeout: 15_000 }).toBeGreaterThan(0);
      let firstRunning: { status: number; progress: number } | undefined;
      await expect
        .poll(async () => {
          firstRunning = (await postJson(`${b.url}/api/sd/task/status`, { taskId: longId }, auth)).body.data;
          return firstRunning?.status;
        }, { timeout: 15_000 })
        .toBe(1);
      expect(firstRunning!.progress).toBeGreaterThan(0);
      const streamed = await statusEvents(`${b.url}/api/sd/task/${longId}/events`, auth, 3);
      expect(streamed.every((view) => view.status === 1)).toBe(true);
      expect(new Set(streamed.map((view) => view.progress)).size).toBe(3);
      const cancelled = await postJson(`${b.url}/api/sd/task/cancel`, { taskId: longId }, auth);
      expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
      for (const at of [a.url, b.url]) {
        await expect.poll(async () => (await postJson(`${at}/api/sd/task/status`, { taskId: longId }, auth)).body.data?.status, { timeout: 10_000 }).toBe(4);
      }
      // a's node is free again: the next task runs at once rather than after the cancelled one's 150 steps.
      const next = await postJson(`${a.url}/api/sd/txt2img`, { prompt: 'next', model: 'clarity', width: 64, height: 64, steps: 2, seed: 3 }, auth);
      expect(next.body.data).toMatchObject({ status: 2, seeds: [3] });
      // Still one delivery of the first task's end, not one per gateway (given time for a second to come).
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(received.filter((r) => r.task === hookedId)).toHaveLength(1);
    } finally {
      receiver.close();
    }
  });
});
