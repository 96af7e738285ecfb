/**
 * What an operator watches, from real processes: `/healthz` and `/readyz` as
 * an orchestrator probes them, `/metrics` as Prometheus scrapes it (behind the
 * admin token), and the gateway's JSON log lines about tasks: each names the
 * task and its key's id, none holds a key's secret or a prompt.
 */
import { describe, expect, it } from 'vitest';
import { useProcessCleanup } from '../helpers/process-cleanup.js';
import { getJson, postJson } from '../helpers/api-client.js';
import { startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const { running, dirs } = useProcessCleanup();

const ADMIN = 'observability-admin-token';
const PROMPT = 'a very particular lighthouse at dusk';

describe('probes, metrics and logs', () => {
  it('tell readiness, count tasks, attempts, nodes and requests, and log tasks without secrets', async () => {
    const data = tempDir();
    dirs.push(data);
    const gateway = await startGatewayProcess({ dataDir: data.path, args: ['--admin-token', ADMIN] });
    running.push(gateway.proc);
    const url = gateway.url;

    expect((await getJson(`${url}/healthz`)).body).toEqual({ status: 'ok' });
    const unready = await getJson(`${url}/readyz`);
    expect(unready).toMatchObject({ status: 503, body: { ready: false, problems: ['no node is connected'] } });

    const sandbox = await startSandboxProcess();
    running.push(sandbox.proc);
    running.push((await startNodeProcess({ gateway: url, webui: sandbox.url, name: 'gpu-1' })).proc);
    expect(await getJson(`${url}/readyz`)).toMatchObject({ status: 200, body: { ready: true, problems: [] } });

    const created = await postJson(`${url}/api/admin/keys`, { name: 'watcher' }, { authorization: `Bearer ${ADMIN}` });
    const key = created.body.data as { id: string; secret: string };
    for (let i = 0; i < 2; i++) {
      const answer = await postJson(`${url}/api/sd/txt2img`, { prompt: PROMPT, model: 'clarity', steps: 5, seed: i }, { authorization: `Bearer ${key.secret}` });
      expect(answer.status).toBe(200);
    }

    const refused = await fetch(`${url}/metrics`);
    expect(refused.status).toBe(401);
    const scrape = () => fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect((await scrape()).headers.get('content-type')).toContain('text/plain');
    // A task is counted finished once its outcome is stored, just after its answer went out.
    await expect.poll(async () => (await scrape()).text(), { timeout: 5_000 }).toContain('dan_tasks_finished_total{kind="txt2img",state="succeeded"} 2');
    const text = await (await scrape()).text();
    expect(text).toContain('dan_tasks_submitted_total{kind="txt2img"} 2');
    expect(text).toContain('dan_tasks_finished_total{kind="txt2img",state="succeeded"} 2');
    expect(text).toContain('dan_attempts_total{outcome="succeeded"} 2');
    expect(text).toContain('dan_nodes{state="ready"} 1');
    expect(text).toContain('dan_node_slots{use="free"} 1');
    expect(text).toContain('dan_tasks{state="queued"} 0');
    expect(text).toContain('dan_http_requests_total{method="POST",route="/api/sd/txt2img",status="200"} 2');
    expect(text).toMatch(/dan_dispatch_seconds_count \d+/);
    // The event loop meter's samples, one every 10 ms since the gateway started.
    expect(text).toMatch(/dan_event_loop_delay_seconds_count [1-9]\d*/);
    // Each scheduling pass, timed: at least one per submit and one per result here.
    expect(Number(/dan_scheduling_pass_seconds_count (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/dan_scheduling_pass_seconds_sum (\S+)/.exec(text)?.[1])).toBeGreaterThan(0);
    // Requests with a body waiting for a turn of the event loop (api/turn-admission.ts): none once all are answered.
    expect(text).toContain('dan_http_requests_waiting 0');
    expect(text).toMatch(/dan_process_resident_memory_bytes \d+/);
    // No task id, key or node name in a label.
    expect(text).not.toContain(key.id);
    expect(text).not.toContain('gpu-1');

    const lines = gateway.proc.lines.filter((l) => typeof l['task'] === 'string');
    const succeeded = lines.filter((l) => l.msg === 'task succeeded');
    expect(succeeded).toHaveLength(2);
    for (const line of succeeded) expect(line['key']).toBe(key.id);
    const everything = JSON.stringify(gateway.proc.lines) + gateway.proc.stderr;
    expect(everything).not.toContain(key.secret);
    expect(everything).not.toContain(PROMPT);
  });
});
