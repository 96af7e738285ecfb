/**
 * A GPU owner who gives the node a wrong gateway address is told what is wrong
 * at each try: nothing listens there, or something answers that is not a DAN
 * gateway (a WebUI's address). Real node and sandbox processes.
 */
import { describe, expect, it } from 'vitest';
import { getJson, postJson } from '../helpers/api-client.js';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { DanProcess, freePort, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

/** `name`: each its own (two node processes of one name and key file refuse to run side by side). */
async function nodeFor(gateway: string, webui: string, name: string, flags: string[] = []): Promise<DanProcess> {
  const node = new DanProcess(['node', '--gateway', gateway, '--webui', webui, '--name', name, ...flags]);
  running.push(node);
  return node;
}

describe('a node given a wrong gateway address', () => {
  it('says that nothing listens there, or that what answers is not a DAN gateway', async () => {
    const sandbox = await startSandboxProcess({ speed: 1000 });
    running.push(sandbox.proc);
    const refused = await nodeFor(`http://127.0.0.1:${await freePort()}`, sandbox.url, 'lost-node');
    const nothing = await refused.waitForLog((l) => l.msg === 'gateway connection error');
    expect(nothing['hint']).toMatch(/^nothing listens at that address: is the gateway running/);
    // The WebUI's address given as the gateway's.
    // (Its WebUI elsewhere: a node refuses to start with its gateway's address as its WebUI.)
    const webui = await nodeFor(sandbox.url, `http://127.0.0.1:${await freePort()}`, 'misdirected-node');
    const notGateway = await webui.waitForLog((l) => l.msg === 'gateway connection error');
    expect(notGateway['err']).toMatch(/Unexpected server response: 404/);
    expect(notGateway['hint']).toMatch(/not a DAN gateway's node endpoint: --gateway must be the gateway's root address/);
  });

  it('warns that an A1111-compatible WebUI makes one image at a time when given more than one slot', async () => {
    const sandbox = await startSandboxProcess({ speed: 1000 });
    running.push(sandbox.proc);
    const node = await nodeFor(`http://127.0.0.1:${await freePort()}`, sandbox.url, 'two-slot-node', ['--slots', '2']);
    const warning = await node.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('--slots 2: '));
    expect(warning.msg).toMatch(/an A1111-compatible WebUI makes one image at a time, so 1 of these tasks would wait inside it[\s\S]*--prefetch keeps the next task ready instead/);
  });

  it('given its own gateway as its WebUI under another address, is told so at once and sent no work; tasks run on the other nodes', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const gw = await startGatewayProcess({ dataDir: dir.path });
    running.push(gw.proc);
    const sandbox = await startSandboxProcess({ speed: 1000 });
    running.push(sandbox.proc);
    const real = await startNodeProcess({ gateway: gw.url, webui: sandbox.url, name: 'real-node' });
    running.push(real.proc);
    // The gateway's own address, spelled as an IPv4-mapped IPv6 one: the node's config check cannot tell it apart.
    const looped = await startNodeProcess({ gateway: gw.url, webui: `http://[::ffff:127.0.0.1]:${new URL(gw.url).port}`, name: 'looped-node' });
    running.push(looped.proc);
    const down = await looped.proc.waitForLog((l) => l.msg === 'WebUI is not answering; the gateway will send no work until it is back');
    expect(down['problem']).toMatch(/HTTP 508[\s\S]*a DAN gateway of the network the calling node is connected to[\s\S]*--webui/);
    await expect
      .poll(async () => ((await getJson(`${gw.url}/api/nodes`)).body.data as { name: string; state: string }[]).find((n) => n.name === 'looped-node')?.state, { timeout: 10_000 })
      .toBe('webui-down');
    for (let i = 0; i < 3; i++) expect((await postJson(`${gw.url}/api/sd/txt2img`, { prompt: 'x', model: 'clarity' })).status).toBe(200);
    expect(looped.proc.lines.some((l) => l.msg === 'task received')).toBe(false);
  });
});
