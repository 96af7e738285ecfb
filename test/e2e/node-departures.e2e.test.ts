/**
 * Nodes that leave, stop or fail, end to end with real processes: a task left
 * without any node that can serve it (it says so, then fails after the grace
 * time, or runs when a node comes back), a node draining on SIGTERM, and a
 * failing node set aside while its tasks succeed elsewhere. The same paths
 * with a fake clock, in one process: test/gateway/.
 */
import { describe, expect, it } from 'vitest';
import { getJson, pollUntilDone, postJson } from '../helpers/api-client.js';
import { gatewayProcessAt } from '../helpers/processes.js';
import { gateway, gpu, job, killWorldAfterEach, submitted } from './scheduler-world.js';

killWorldAfterEach();

describe('nodes that leave, stop or fail', () => {
  /**
   * Two tasks for the only node holding `anything`; the node dies while running the first, so the
   * second waits with no node to serve it and says so. `firstSteps` sets how long the first runs.
   */
  async function orphaned(graceSeconds: number, firstSteps: number) {
    // A killed node may have been a dropped connection: its running task waits 1 s (--resume-grace-s) for it.
    const gw = await gateway(['--unservable-grace-s', String(graceSeconds), '--resume-grace-s', '1']);
    const only = await gpu(gw, 'only', { models: ['anything'], loaded: 'anything', itPerSecond: 15, speed: 1 });
    const first = await submitted(gw, job('anything', { steps: firstSteps }));
    const second = await submitted(gw, job('anything'));
    await only.node.waitForLog((l) => l.msg === 'task received' && l['task'] === first);
    await only.node.stop('SIGKILL');
    await gatewayProcessAt(gw).waitForLog((l) => l.msg === 'node disconnected');
    const status = async () => (await getJson(`${gw}/api/sd/task/${second}`)).body.data;
    expect((await status()).message).toMatch(/^waiting: no node is connected/);
    return { gw, first, second, status };
  }

  it('a queued task whose only capable node left says why, then fails after the grace time', async () => {
    const { gw, first, second } = await orphaned(2, 150);
    for (const id of [first, second]) {
      const done = await pollUntilDone(gw, id, 10_000);
      expect(done).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_UNSERVABLE' });
      expect(done.message).toMatch(/no node could serve this task for 2 s: no node is connected/);
    }
  });

  it('a task left without a capable node stops saying so, and runs, when one connects within the grace time', async () => {
    const { gw, first, second, status } = await orphaned(60, 60);
    // Back in the queue once the resume grace has passed, ahead of the second.
    await gatewayProcessAt(gw).waitForLog((l) => l.msg === 'task attempt failed' && l['task'] === first);
    // The retried first task holds the new node for ~1 s: meanwhile the second is queued, with no "waiting" message
    // (the node holds no task ready behind the one it runs, or the second would be sent to it at once).
    const back = await gpu(gw, 'back', { models: ['anything'], loaded: 'anything', itPerSecond: 15, speed: 4, nodeArgs: ['--prefetch', '0'] });
    await back.node.waitForLog((l) => l.msg === 'task received' && l['task'] === first);
    const queued = await status();
    expect(queued).toMatchObject({ status: 0, queuePosition: 1 });
    expect(queued.message).toBeUndefined();
    expect((await pollUntilDone(gw, second, 30_000)).status).toBe(2);
  });

  it('a node told to stop finishes its task, takes no new one, and exits', async () => {
    const gw = await gateway();
    const stopping = await gpu(gw, 'stopping', { models: ['clarity'], loaded: 'clarity', itPerSecond: 15, speed: 2 });
    const taskId = await submitted(gw, job('clarity'));
    await stopping.node.waitForLog((l) => l.msg === 'task received' && l['task'] === taskId);
    stopping.node.child.kill('SIGTERM');
    await gatewayProcessAt(gw).waitForLog((l) => l.msg === 'node state changed' && l['draining'] === true);
    expect((await getJson(`${gw}/api/nodes`)).body.data[0]?.state).toBe('draining');
    const later = await submitted(gw, job('clarity'));
    expect((await pollUntilDone(gw, taskId, 20_000)).status).toBe(2);
    expect(await stopping.node.exited).toBe(0);
    expect((await getJson(`${gw}/api/sd/task/${later}`)).body.data.status).toBe(0);
  });

  it('a node that keeps failing is set aside and shown as such; its tasks succeed elsewhere', async () => {
    const gw = await gateway();
    const flaky = await gpu(gw, 'flaky', { models: ['clarity'], loaded: 'clarity', itPerSecond: 40, speed: 20 });
    await gpu(gw, 'steady', { models: ['clarity'], loaded: 'clarity', itPerSecond: 10, speed: 20 });
    await postJson(`${flaky.sandbox}/sandbox/faults`, { failNext: 100 });
    const ids = await Promise.all(Array.from({ length: 6 }, () => submitted(gw, job('clarity'))));
    for (const id of ids) expect((await pollUntilDone(gw, id, 30_000)).status).toBe(2);
    const nodes = (await getJson(`${gw}/api/nodes`)).body.data;
    expect(nodes.find((n: any) => n.name === 'flaky')).toMatchObject({ state: 'set-aside', problem: expect.stringContaining('out of memory') });
  });
});
