/**
 * A node's connection to the gateway drops mid-task, end to end with real processes and a network cut
 * (a TCP proxy between node and gateway): the node runs on, comes back, and its answer ends the task in
 * one attempt, the WebUI having made the image once. The same across a restart of the gateway. The rules, with a fake clock: test/gateway/node-returns.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { getJson, pollUntilDone } from '../helpers/api-client.js';
import { join } from 'node:path';
import { gatewayProcessAt, runDan, tempDir } from '../helpers/processes.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { checkpointsServed, gateway, gpu, job, killWorldAfterEach, restartGateway, submitted } from './scheduler-world.js';

killWorldAfterEach();

/** A gateway (heartbeats every `heartbeatS`), and one GPU whose node reaches it through a proxy that the test can cut. */
async function cutOffGpu(heartbeatS: number) {
  const gw = await gateway(['--heartbeat-s', String(heartbeatS), '--resume-grace-s', '10']);
  const port = Number(new URL(gw).port);
  const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port });
  const far = await gpu(`http://127.0.0.1:${proxy.port}`, 'far', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
  // About 3 s of sampling: long enough to cut the network in the middle of it.
  const taskId = await submitted(gw, job('clarity', { steps: 45 }));
  await far.node.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId);
  return { gw, proxy, far, taskId };
}

async function expectDoneOnce(gw: string, sandbox: string, taskId: string) {
  const done = await pollUntilDone(gw, taskId, 30_000);
  expect(done.status, JSON.stringify(done)).toBe(2);
  // Made once: the node ran it through the cut, and no other attempt was started.
  expect(await checkpointsServed(sandbox)).toHaveLength(1);
  const log = gatewayProcessAt(gw).lines;
  expect(log.filter((l) => l.msg === 'task attempt failed')).toEqual([]);
  expect(log.some((l) => l.msg === 'node came back with its tasks' && l['tasks'] === 1)).toBe(true);
}

describe('a node whose connection to the gateway drops mid-task', () => {
  it('runs on, connects again when the network is back, and its result ends the task in one attempt', async () => {
    const { gw, proxy, far, taskId } = await cutOffGpu(5);
    try {
      await proxy.cut();
      await far.node.waitForLog((l) => l.msg === 'gateway connection lost; the tasks run on, for the gateway to take back');
      await gatewayProcessAt(gw).waitForLog((l) => l.msg === 'node connection dropped; its tasks wait for it to come back');
      // Still running, as far as a client can tell.
      expect((await getJson(`${gw}/api/sd/task/${taskId}`)).body.data.status).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await proxy.restore();
      await expectDoneOnce(gw, far.sandbox, taskId);
    } finally {
      await proxy.close();
    }
  });

  it('notices a gateway that fell silent (a cut that closed nothing), connects again, and takes its task along', async () => {
    const { gw, proxy, far, taskId } = await cutOffGpu(0.5);
    try {
      // No byte passes on the open connection any more, and neither end is told; new connections work.
      proxy.silence();
      await far.node.waitForLog((l) => l.msg === 'the gateway has not answered for 2 heartbeat intervals; connecting again');
      await expectDoneOnce(gw, far.sandbox, taskId);
    } finally {
      await proxy.close();
    }
  });

  it('carries its answer through a gateway paused longer than 1.5x its grace, which takes it once it wakes', async () => {
    // A gateway whose process stops (a VM migrated, SIGSTOP) has not counted the node gone: it waited not at all.
    const gw = await gateway(['--heartbeat-s', '1', '--resume-grace-s', '2']);
    const far = await gpu(gw, 'far', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    const taskId = await submitted(gw, job('clarity', { steps: 30 }));
    await far.node.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId);
    const paused = gatewayProcessAt(gw);
    paused.child.kill('SIGSTOP');
    try {
      await far.node.waitForLog((l) => l.msg === 'gateway connection lost; the tasks run on, for the gateway to take back', 15_000);
      await far.node.waitForLog((l) => l.msg === 'task done' && l['task'] === taskId, 15_000);
      // Past 1.5x the grace (3 s) from the drop, the node still holds its answer.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
    } finally {
      paused.child.kill('SIGCONT');
    }
    await expectDoneOnce(gw, far.sandbox, taskId);
  });

  it('keeps running while the gateway restarts, and the restarted gateway takes it back from the node', async () => {
    const gw = await gateway(['--resume-grace-s', '10']);
    const far = await gpu(gw, 'far', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1 });
    const taskId = await submitted(gw, job('clarity', { steps: 60 }));
    await far.node.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId);
    await restartGateway(gw, ['--resume-grace-s', '10']);
    const done = await pollUntilDone(gw, taskId, 30_000);
    expect(done.status, JSON.stringify(done)).toBe(2);
    expect(await checkpointsServed(far.sandbox)).toHaveLength(1);
    expect(gatewayProcessAt(gw).lines.some((l) => l.msg === 'task taken back by the node that ran it before the restart' && l['task'] === taskId)).toBe(true);
  });
});

describe('two node processes of one name and key file on a machine', () => {
  it('the second refuses to start, naming the first: the gateway would take them for one node', async () => {
    const gw = await gateway();
    const dir = tempDir();
    try {
      const keyFile = join(dir.path, 'shared.key');
      await gpu(gw, 'twin', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 1, nodeArgs: ['--key-file', keyFile] });
      const { code, stdout } = await runDan(['node', '--gateway', gw, '--webui', 'http://127.0.0.1:9', '--name', 'twin', '--key-file', keyFile, '--log-format', 'json']);
      expect(code).toBe(2);
      expect(stdout).toMatch(/another node on this machine runs with the name twin and this key file/);
    } finally {
      dir.remove();
    }
  });
});
