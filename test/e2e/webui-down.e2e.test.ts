/**
 * A node whose WebUI does not answer: the gateway knows, sends it no work and
 * says why it refuses; when the WebUI comes up, the node takes work. (The sync
 * timeout's 202 is tested through the app: test/api/routes.tasks.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { getJson, postJson } from '../helpers/api-client.js';
import { DanProcess, freePort, startGatewayProcess, startNodeProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

async function gateway(args: string[] = []) {
  const dir = tempDir();
  dirs.push(dir);
  const gw = await startGatewayProcess({ dataDir: dir.path, args });
  running.push(gw.proc);
  return gw;
}

describe('a node whose WebUI is down', () => {
  it('gets no work, the refusal says why, and it serves once the WebUI answers', async () => {
    const gw = await gateway();
    const webuiPort = await freePort();
    const node = await startNodeProcess({ gateway: gw.url, webui: `http://127.0.0.1:${webuiPort}`, name: 'lonely-node' });
    running.push(node.proc);
    expect((await getJson(`${gw.url}/api/health`)).body.data.nodes).toEqual({ connected: 1, ready: 0 });

    const refused = await postJson(`${gw.url}/api/sd/txt2img`, { prompt: 'x', model: 'clarity' });
    expect(refused.status).toBe(503);
    // Its WebUI never answered, so the node could tell nothing of what it has.
    expect(refused.body.message).toContain('1 of 1 node(s) cannot reach their WebUI');

    const sandbox = new DanProcess(['sandbox', '--port', String(webuiPort), '--speed', '1000']);
    running.push(sandbox);
    await node.proc.waitForLog((l) => l.msg === 'WebUI is answering; taking work', 15_000);
    // The node has told the gateway in a heartbeat; wait until the gateway has heard it.
    await gw.proc.waitForLog((l) => l.msg === 'node state changed' && l['backendUp'] === true);
    expect((await getJson(`${gw.url}/api/health`)).body.data.nodes.ready).toBe(1);
    const served = await postJson(`${gw.url}/api/sd/txt2img`, { prompt: 'x', model: 'clarity' });
    expect(served.status).toBe(200);
    expect(served.body.data.images).toHaveLength(1);
  });

  it('probes a WebUI that went away mid-task every few seconds, and takes work again soon after it is back', async () => {
    const gw = await gateway();
    const webuiPort = await freePort();
    const first = new DanProcess(['sandbox', '--port', String(webuiPort), '--speed', '1']);
    running.push(first);
    await first.waitForLog((l) => l.msg.startsWith('DAN sandbox'));
    const node = await startNodeProcess({ gateway: gw.url, webui: `http://127.0.0.1:${webuiPort}`, name: 'flaky-node' });
    running.push(node.proc);
    // A slow task (sandbox time ×1), and its WebUI killed while it runs.
    const slow = await postJson(`${gw.url}/api/sd/txt2img/async`, { prompt: 'slow', model: 'clarity', width: 512, height: 512, steps: 150 });
    await node.proc.waitForLog((l) => l['task'] === slow.body.data.taskId && l.msg === 'task received', 15_000);
    await first.stop('SIGKILL');
    await node.proc.waitForLog((l) => l.msg === 'WebUI is not answering; the gateway will send no work until it is back', 15_000);
    const second = new DanProcess(['sandbox', '--port', String(webuiPort), '--speed', '1000']);
    running.push(second);
    // The watch's slow refresh is a minute away: only the probe finds it this soon.
    await node.proc.waitForLog((l) => l.msg === 'WebUI is answering; taking work', 15_000);
    await expect.poll(async () => (await getJson(`${gw.url}/api/health`)).body.data.nodes.ready, { timeout: 10_000 }).toBe(1);
    const served = await postJson(`${gw.url}/api/sd/txt2img`, { prompt: 'after', model: 'clarity', width: 64, height: 64, steps: 2 });
    expect(served.status, JSON.stringify(served.body)).toBe(200);
  });
});
