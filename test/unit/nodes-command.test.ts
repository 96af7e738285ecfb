/**
 * `dan nodes list` against a gateway's `/api/nodes` (a local HTTP server answering as one): a line per node
 * with what an operator looks for, the JSON for scripts, and one-line refusals naming what to do.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodesList } from '../../src/cli/nodes-command.js';
import type { CommandOutput } from '../../src/cli/command-output.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server answering `/api/nodes` with `status` and `body`; its address. */
async function gatewayAnswering(status: number, body: unknown): Promise<string> {
  const server = createServer((request, response) => {
    response.writeHead(request.url === '/api/nodes' ? status : 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function recording(): CommandOutput & { out: (text: string) => void; outs: string[]; notes: string[] } {
  const outs: string[] = [];
  const notes: string[] = [];
  return { outs, notes, out: (text) => outs.push(text), note: (text) => notes.push(text) };
}

const node = (name: string, extra: Record<string, unknown> = {}) => ({ name, state: 'ready', slots: 1, running: 0, loadedModel: null, itPerSecond: null, problem: null, setAsideUntil: null, gateway: null, ...extra });

describe('dan nodes list', () => {
  it('prints a line per node: state, work, checkpoint, speed, where, and why it takes no work', async () => {
    const url = await gatewayAnswering(200, {
      code: 200,
      data: [
        node('gpu-1', { state: 'busy', running: 2, loadedModel: 'clarity [8a6c]', itPerSecond: 18.46 }),
        node('gpu-2', { state: 'webui-down', problem: 'connect ECONNREFUSED 127.0.0.1:7860', gateway: 'gw_b' }),
      ],
    });
    const output = recording();
    await nodesList({ gateway: `${url}/` }, output);
    expect(output.outs).toEqual(['gpu-1  busy  1/1 +1 held  clarity [8a6c]  18.5 it/s', 'gpu-2  webui-down  0/1  no checkpoint loaded  on gateway gw_b  (connect ECONNREFUSED 127.0.0.1:7860)']);
    const json = recording();
    await nodesList({ gateway: url, json: true }, json);
    expect(JSON.parse(json.outs[0]!)).toHaveLength(2);
  });

  it('says how to attach a node when none is connected', async () => {
    const output = recording();
    await nodesList({ gateway: await gatewayAnswering(200, { code: 200, data: [] }) }, output);
    expect(output.notes[0]).toMatch(/^no node is connected .* attach one with `dan node --gateway http:\/\/127\.0\.0\.1:\d+ --webui <WebUI URL>`$/);
  });

  it('refuses in one line: no gateway there, a key asked for, or not a DAN gateway', async () => {
    const closed = await gatewayAnswering(200, {});
    await new Promise((resolve) => servers.pop()!.close(resolve));
    await expect(nodesList({ gateway: closed }, recording())).rejects.toThrow(/^no gateway answers at http:\/\/127\.0\.0\.1:\d+ \(.*\); give its address with --gateway$/);
    await expect(nodesList({ gateway: await gatewayAnswering(401, { code: 1000 }) }, recording())).rejects.toThrow(/asks for an API key .*: give one with --key$/);
    await expect(nodesList({ gateway: await gatewayAnswering(200, { detail: 'Not Found' }) }, recording())).rejects.toThrow(/did not answer as a DAN gateway \(HTTP 200\); is it one\?$/);
  });
});
