/**
 * The network at work, read every 5 s while the page is shown: the queue
 * (length, demand per checkpoint, the longest wait), images made and the
 * queue's length over the last hour, the nodes (state, speed, loaded
 * checkpoint, what each runs now, tasks done and failed) and the tasks that
 * ended lately.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from '../api/client';
import type { Health, Network, NodeInfo } from '../api/types';
import { BarChart } from './bar-chart';

/** Reads count against the caller's request rate (anonymous callers share an address's): every 5 s is 36 a minute. */
const REFRESH_MS = 5000;

const STATE_LABELS: Record<NodeInfo['state'], string> = { ready: 'ready', busy: 'busy', 'webui-down': 'WebUI down', draining: 'draining', 'set-aside': 'set aside', reconnecting: 'reconnecting' };

const clock = (iso: string | undefined) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
const duration = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? '–' : seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`);

export function Dashboard() {
  const [nodes, setNodes] = useState<NodeInfo[] | null>(null);
  const [health, setHealth] = useState<Health | null>(null);
  const [network, setNetwork] = useState<Network | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    let reading = false;
    const read = async () => {
      // One read at a time: a slow answer is not stacked up behind by the timer.
      if (reading) return;
      reading = true;
      try {
        const [n, h, w] = await Promise.all([getJson<NodeInfo[]>('/api/nodes'), getJson<Health>('/api/health'), getJson<Network>('/api/network')]);
        if (stopped) return;
        setNodes(n);
        setHealth(h);
        setNetwork(w);
        setProblem(null);
      } catch (error) {
        if (!stopped) setProblem(error instanceof ApiError ? error.message : String(error));
      } finally {
        reading = false;
      }
    };
    void read();
    const timer = setInterval(() => document.visibilityState === 'visible' && void read(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const hour = network?.lastHour ?? [];
  return (
    <div class="dashboard">
      <h1>Dashboard</h1>
      {problem && (
        <p class="form-error" role="alert">
          {problem}
        </p>
      )}
      <section aria-label="Queue" class="tiles">
        <Tile label="Nodes ready / connected" value={health ? `${health.nodes.ready} / ${health.nodes.connected}` : undefined} />
        <Tile label="Tasks queued" value={network?.queue.queued} />
        <Tile label="Tasks running" value={network?.queue.running} />
        <Tile label="Longest wait" value={network ? duration(network.queue.oldestWaitSeconds) : undefined} />
        <Tile label="Images, last hour" value={network ? hour.reduce((a, m) => a + m.images, 0) : undefined} />
      </section>
      {health && !health.canServe && <p class="notice">{health.problem ?? 'No node can serve tasks now.'}</p>}
      <div class="charts">
        <BarChart title="Images per minute" values={hour.map((m) => m.images)} from={clock(hour[0]?.at)} to={clock(hour.at(-1)?.at)} unit="a minute" />
        <BarChart title="Queue length" values={hour.map((m) => m.queued)} from={clock(hour[0]?.at)} to={clock(hour.at(-1)?.at)} unit="tasks" />
      </div>
      {network && network.queue.byCheckpoint.length > 0 && (
        <section aria-label="Demand per checkpoint">
          <h2>Waiting, by checkpoint</h2>
          <ul class="demand">
            {network.queue.byCheckpoint.map((d) => (
              <li key={d.model}>
                <span>{d.model || 'no checkpoint (upscale, interrogate)'}</span>
                <meter min={0} max={network.queue.queued} value={d.queued} aria-label={`${d.queued} waiting`} />
                <span>{d.queued}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-label="Nodes">
        <h2>Nodes</h2>
        {nodes && nodes.length === 0 && (
          <p class="hint">
            No node is connected. A GPU joins with <code>dan node --gateway {window.location.origin} --webui http://127.0.0.1:7860</code>.
          </p>
        )}
        {nodes && nodes.length > 0 && (
          <div class="table-wrap">
            <table class="nodes">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                  <th scope="col">Now</th>
                  <th scope="col">Done / failed</th>
                  <th scope="col">Loaded checkpoint</th>
                  <th scope="col">Speed</th>
                  <th scope="col">Checkpoints</th>
                </tr>
              </thead>
              <tbody>
                {nodes.map((node) => (
                  <tr key={node.id} data-node={node.name}>
                    <th scope="row">
                      {node.name}
                      <small class="hint block">
                        {node.agent} · {node.backend === 'comfyui' ? 'ComfyUI' : 'A1111 WebUI'}
                      </small>
                      {node.gateway && <small class="hint block">on gateway {node.gateway}</small>}
                    </th>
                    <td>
                      <span class={`state state-${node.state}`}>{STATE_LABELS[node.state]}</span>
                      {node.setAsideUntil && <small class="hint block">until {clock(node.setAsideUntil)}</small>}
                      {node.problem && <small class="hint block">{node.problem}</small>}
                    </td>
                    <td>
                      {node.current.length === 0 && <span class="hint">idle</span>}
                      {node.current.map((task, i) => (
                        <div key={i} class="node-task">
                          <progress max={100} value={Math.round(task.progress * 100)} aria-label={`Task ${i + 1}: ${Math.round(task.progress * 100)} %`} />
                          <small class="hint">{duration(task.seconds)}</small>
                        </div>
                      ))}
                    </td>
                    <td>
                      {node.done} / {node.failed}
                    </td>
                    <td>{node.loadedModel ?? '–'}</td>
                    <td>{node.itPerSecond === null ? <span class="hint">not measured yet</span> : `${node.itPerSecond.toFixed(1)} it/s`}</td>
                    <td>{node.models.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-label="Recent tasks">
        <h2>Recent tasks</h2>
        {network && network.recent.length === 0 && <p class="hint">No task has ended since the gateway started.</p>}
        {network && network.recent.length > 0 && (
          <div class="table-wrap">
            <table class="nodes recent">
              <thead>
                <tr>
                  <th scope="col">Ended</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Checkpoint</th>
                  <th scope="col">Size</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Took</th>
                </tr>
              </thead>
              <tbody>
                {network.recent.map((task, i) => (
                  <tr key={`${task.endedAt}-${i}`}>
                    <td>{new Date(task.endedAt).toLocaleTimeString()}</td>
                    <td>{task.kind ?? '–'}</td>
                    <td>{task.model ?? '–'}</td>
                    <td>{task.width && task.height ? `${task.width} × ${task.height}` : '–'}</td>
                    <td class={`outcome-${task.state}`}>{task.state}</td>
                    <td>{duration(task.seconds)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

function Tile({ label, value }: { label: string; value: number | string | undefined }) {
  return (
    <div class="tile">
      <span class="tile-value">{value ?? '–'}</span>
      <span class="tile-label">{label}</span>
    </div>
  );
}
