/**
 * Nothing is lost: a node killed mid-task, and a gateway restarted with queued
 * and finished tasks. Real processes, killed with SIGKILL.
 */
import { describe, expect, it } from 'vitest';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { getJson, pollUntilDone, postJson } from '../helpers/api-client.js';
import { freePort, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

/** A sandbox where a 512×512, 20-step task takes about 1.3 s. */
async function slowSandbox() {
  const sb = await startSandboxProcess({ speed: 1, args: ['--switch-seconds', '0'] });
  running.push(sb.proc);
  return sb;
}

async function gatewayIn(args: string[] = [], port?: number) {
  const dir = tempDir();
  dirs.push(dir);
  const gw = await startGatewayProcess({ dataDir: dir.path, args, ...(port ? { port } : {}) });
  running.push(gw.proc);
  return { ...gw, dataDir: dir.path };
}

/** `args`: more flags for `dan node` (`--log-level debug`: every reconnect's line, not the first and every 20th). */
async function node(gateway: string, webui: string, name: string, args: string[] = []) {
  const n = await startNodeProcess({ gateway, webui, name, args });
  running.push(n.proc);
  return n.proc;
}

const slowTask = { prompt: 'slow', model: 'clarity', steps: 20, width: 512, height: 512 };

describe('a node killed mid-task', () => {
  it('the task is retried on another node and succeeds', async () => {
    // A killed node may be a dropped connection: its task waits 2 s (--resume-grace-s) for it first.
    const gw = await gatewayIn(['--resume-grace-s', '2']);
    const [sb1, sb2] = await Promise.all([slowSandbox(), slowSandbox()]);
    const nodes = await Promise.all([node(gw.url, sb1.url, 'node-one'), node(gw.url, sb2.url, 'node-two')]);
    const { body } = await postJson(`${gw.url}/api/sd/txt2img/async`, slowTask);
    const taskId = body.data.taskId as string;
    const receivedBy = await Promise.race(nodes.map((n) => n.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId).then(() => n)));
    const other = nodes.find((n) => n !== receivedBy)!;
    await receivedBy.stop('SIGKILL');
    await other.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId && l['attempt'] === 2);
    const done = await pollUntilDone(gw.url, taskId, 20_000);
    expect(done.status).toBe(2);
    expect(done.images).toHaveLength(1);
  });

  it('with no attempts left the task fails with the reason, never stays running', async () => {
    const gw = await gatewayIn(['--max-attempts', '1', '--resume-grace-s', '2']);
    const sb = await slowSandbox();
    const only = await node(gw.url, sb.url, 'node-solo');
    const { body } = await postJson(`${gw.url}/api/sd/txt2img/async`, slowTask);
    await only.waitForLog((l) => l.msg === 'task received' && l['task'] === body.data.taskId);
    await only.stop('SIGKILL');
    const done = await pollUntilDone(gw.url, body.data.taskId, 20_000);
    expect(done).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' });
    expect(done.message).toMatch(/attempt 1 on node node-solo: node node-solo lost/);
  });
});

describe('a gateway restart', () => {
  it('loses no queued task and no finished result', async () => {
    const port = await freePort();
    const gw = await gatewayIn([], port);
    const sb = await slowSandbox();
    const worker = await node(gw.url, sb.url, 'node-steady');

    const first = await postJson(`${gw.url}/api/sd/txt2img`, { ...slowTask, steps: 5 });
    expect(first.body.data.status).toBe(2);
    // The gateway answers before it stores the result (gateway/outcome-book.ts); the crash below must
    // come after that write, or the restarted gateway rightly runs the task again.
    await gw.proc.waitForLog((l) => l.msg === 'task outcome stored' && l['task'] === first.body.data.taskId);
    // The WebUI is frozen while the gateway dies, so all three tasks are unfinished then however slowly
    // this machine reads the logs: one running on the node, two queued.
    sb.proc.child.kill('SIGSTOP');
    const queued = await Promise.all([1, 2, 3].map(() => postJson(`${gw.url}/api/sd/txt2img/async`, slowTask)));
    const ids = queued.map((r) => r.body.data.taskId as string);
    await worker.waitForLog((l) => l.msg === 'task received' && ids.includes(l['task'] as string));

    await gw.proc.stop('SIGKILL');
    const again = await startGatewayProcess({ dataDir: gw.dataDir, port });
    running.push(again.proc);
    const recovered = await again.proc.waitForLog((l) => l.msg === 'recovered unfinished tasks');
    expect(recovered['tasks'], JSON.stringify(worker.lines.map((l) => l.msg))).toBe(3);
    sb.proc.child.kill('SIGCONT');

    const finished = await getJson(`${again.url}/api/sd/task/${first.body.data.taskId}`);
    expect(finished.body.data).toMatchObject({ status: 2, images: first.body.data.images });
    for (const id of ids) expect((await pollUntilDone(again.url, id, 30_000)).status).toBe(2);
  });

  it('has its nodes back within seconds of a restart, however long the gateway was away', async () => {
    const port = await freePort();
    const gw = await gatewayIn([], port);
    const sb = await slowSandbox();
    const worker = await node(gw.url, sb.url, 'node-patient', ['--log-level', 'debug']);
    // Stopped as an operator stops it (the nodes are told it is shutting down), and away for 10 s: a node's
    // backoff would have doubled to 4–8 s by then, and on towards its half minute.
    await gw.proc.stop('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const again = await startGatewayProcess({ dataDir: gw.dataDir, port });
    running.push(again.proc);
    await worker.waitForLog((l) => l.msg === 'connected to gateway' && worker.lines.filter((m) => m.msg === 'connected to gateway').length === 2, 15_000);
    // It tried again every 2 s at most all along.
    const retries = worker.lines.filter((l) => l.msg === 'gateway connection closed; reconnecting').map((l) => l['retryInMs'] as number);
    expect(retries.length).toBeGreaterThan(3);
    expect(Math.max(...retries)).toBeLessThanOrEqual(2_000);
  }, 60_000);
});

