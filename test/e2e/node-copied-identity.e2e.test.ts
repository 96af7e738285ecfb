/**
 * Two machines that run a node of one name and one key (a machine copied with its key file): real gateway,
 * sandbox and node processes. Replaced twice within a minute, the first is told, in words, that another
 * process connected as it, and stops, instead of the two closing each other's connections for as long as both
 * run; the other works on.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

describe('a node whose name and key another machine also uses', () => {
  it('stops, saying why, when the other connects, and the other serves', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const gateway = await startGatewayProcess({ dataDir: join(dir.path, 'data'), args: ['--auth', 'off'] });
    running.push(gateway.proc);
    const sandbox = await startSandboxProcess({ speed: 1000 });
    running.push(sandbox.proc);
    const first = await startNodeProcess({ gateway: gateway.url, webui: sandbox.url, name: 'gpu-copied', args: ['--key-file', join(dir.path, 'first.key')] });
    running.push(first.proc);
    // The second machine: a copy of the first's key file (a node refuses a second process of one key file on one machine).
    copyFileSync(join(dir.path, 'first.key'), join(dir.path, 'copy.key'));
    const second = await startNodeProcess({ gateway: gateway.url, webui: sandbox.url, name: 'gpu-copied', args: ['--key-file', join(dir.path, 'copy.key')] });
    running.push(second.proc);

    const told = await first.proc.waitForLog((l) => l.msg.startsWith('another process connected to the gateway as this node'));
    expect(told.msg).toMatch(/name "gpu-copied", the same node key; the gateway says: the node connected again from 127\.0\.0\.1[\s\S]*give it its own --name, or delete its copied key file \(--key-file\)[\s\S]*This process stops$/);
    expect(await first.proc.exited).toBe(2);
    // The first took its first replacement for a hello of its own held back on the way, and connected again once;
    // replaced again, it stopped. The other serves, and the turns have ended.
    expect(first.proc.lines.filter((l) => l.msg === 'connected to gateway')).toHaveLength(2);
    const done = await postJson(`${gateway.url}/api/sd/txt2img`, { prompt: 'a lighthouse', model: 'clarity', width: 64, height: 64, steps: 4, seed: 3 });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await getJson(`${gateway.url}/api/nodes`)).body.data).toMatchObject([{ name: 'gpu-copied', state: 'ready' }]);
    const connections = () => gateway.proc.lines.filter((l) => l.msg === 'node connected').length;
    const settled = connections();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(connections()).toBe(settled);
    expect(second.proc.lines.filter((l) => l.msg === 'connected to gateway')).toHaveLength(2);
  });
});
