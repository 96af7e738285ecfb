/**
 * Idempotency-Key across a gateway that dies: a client whose gateway was killed
 * after accepting its task retries with the same key at the restarted gateway
 * and gets the same task, stored once, instead of a second one. Real gateway,
 * node and sandbox processes.
 */
import { describe, expect, it } from 'vitest';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { postJson } from '../helpers/api-client.js';
import { freePort, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

describe('Idempotency-Key across a gateway restart', () => {
  it('gives the retry the task the killed gateway had accepted', async () => {
    const data = tempDir();
    dirs.push(data);
    const port = await freePort();
    const first = await startGatewayProcess({ dataDir: data.path, port });
    running.push(first.proc);
    // A slow GPU: the task is still unfinished when the gateway dies.
    const sandbox = await startSandboxProcess({ speed: 0.05 });
    running.push(sandbox.proc);
    running.push((await startNodeProcess({ gateway: first.url, webui: sandbox.url, name: 'gpu' })).proc);

    const body = { prompt: 'a lighthouse', model: 'clarity', steps: 30 };
    const headers = { 'idempotency-key': 'client-order-77' };
    const accepted = await postJson(`${first.url}/api/sd/txt2img/async`, body, headers);
    expect(accepted.status).toBe(200);
    const taskId = accepted.body.data.taskId as string;
    expect(accepted.headers?.get('x-task-id')).toBe(taskId);

    await first.proc.stop('SIGKILL');
    const second = await startGatewayProcess({ dataDir: data.path, port });
    running.push(second.proc);
    const retried = await postJson(`${second.url}/api/sd/txt2img/async`, body, headers);
    expect(retried.status).toBe(200);
    expect(retried.body.data.taskId).toBe(taskId);
    expect(retried.headers?.get('idempotent-replayed')).toBe('true');
    // One task: the restarted gateway recovered it, and the retry made no other.
    const recovered = await second.proc.waitForLog((l) => l.msg === 'recovered unfinished tasks');
    expect(recovered['tasks']).toBe(1);
  });
});
