/**
 * The checkpoint a WebUI client chose with `POST /sdapi/v1/options` outlives the
 * gateway: clients set it once, when their user picks a model, and a gateway
 * that forgot it on a restart made their next images with another checkpoint.
 * Real gateway (SQLite), node and sandbox processes.
 */
import { describe, expect, it } from 'vitest';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { getJson, postJson } from '../helpers/api-client.js';
import { freePort, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

describe("a WebUI client's default checkpoint", () => {
  it('holds after the gateway restarts, for the options and for a generation that names none', async () => {
    const data = tempDir();
    dirs.push(data);
    const port = await freePort();
    const first = await startGatewayProcess({ dataDir: data.path, port });
    running.push(first.proc);
    const sandbox = await startSandboxProcess();
    running.push(sandbox.proc);
    running.push((await startNodeProcess({ gateway: first.url, webui: sandbox.url, name: 'gpu' })).proc);
    // Not the gateway's default (the first checkpoint the node serves).
    const before = (await getJson(`${first.url}/sdapi/v1/options`)).body as { sd_model_checkpoint: string };
    expect(before.sd_model_checkpoint).not.toMatch(/^clarity \[/);
    expect((await postJson(`${first.url}/sdapi/v1/options`, { sd_model_checkpoint: 'clarity' })).status).toBe(200);

    await first.proc.stop('SIGTERM');
    const second = await startGatewayProcess({ dataDir: data.path, port });
    running.push(second.proc);
    // The node dials the same address again.
    await expect.poll(async () => (await getJson(`${second.url}/api/sd/supportedModelInfo`)).body.data.nodes.ready, { timeout: 20_000 }).toBe(1);
    expect((await getJson(`${second.url}/sdapi/v1/options`)).body).toMatchObject({ sd_model_checkpoint: expect.stringMatching(/^clarity \[/) });
    const made = await postJson(`${second.url}/sdapi/v1/txt2img`, { prompt: 'a red fox', steps: 4, width: 64, height: 64 });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(JSON.parse((made.body as { info: string }).info)).toMatchObject({ sd_model_name: 'clarity' });
  });
});
