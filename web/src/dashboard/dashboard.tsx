/**
 * The network at work: its nodes (state, loaded checkpoint, speed, what each
 * runs now) and its queue, read every 2 s while the page is shown.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from '../api/client';
import type { Health, NodeInfo } from '../api/types';

const REFRESH_MS = 2000;

const STATE_LABELS: Record<NodeInfo['state'], string> = { ready: 'ready', busy: 'busy', 'webui-down': 'WebUI down', draining: 'draining', 'set-aside': 'set aside' };

export function Dashboard() {
  const [nodes, setNodes] = useState<NodeInfo[] | null>(null);
  const [health, setHealth] = useState<Health | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    const read = async () => {
      try {
        const [n, h] = await Promise.all([getJson<NodeInfo[]>('/api/nodes'), getJson<Health>('/api/health')]);
        if (stopped) return;
        setNodes(n);
        setHealth(h);
        setProblem(null);
      } catch (error) {
        if (!stopped) setProblem(error instanceof ApiError ? error.message : String(error));
      }
    };
    void read();
    const timer = setInterval(() => document.visibilityState === 'visible' && void read(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  return (
    <div class="dashboard">
      {problem && (
        <p class="form-error" role="alert">
          {problem}
        </p>
      )}
      <section aria-label="Queue" class="tiles">
        <Tile label="Nodes connected" value={health?.nodes.connected} />
        <Tile label="Nodes ready" value={health?.nodes.ready} />
        <Tile label="Tasks queued" value={health?.queued} />
        <Tile label="Tasks running" value={health?.running} />
      </section>
      {health && !health.canServe && <p class="notice">{health.problem ?? 'No node can serve tasks now.'}</p>}
      <section aria-label="Nodes">
        <h2>Nodes</h2>
        {nodes && nodes.length === 0 && <p class="hint">No node is connected. A GPU joins with <code>dan node --gateway {window.location.origin} --webui http://127.0.0.1:7860</code>.</p>}
        {nodes && nodes.length > 0 && (
          <div class="table-wrap">
            <table class="nodes">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                  <th scope="col">Running</th>
                  <th scope="col">Loaded checkpoint</th>
                  <th scope="col">Speed</th>
                  <th scope="col">Checkpoints</th>
                </tr>
              </thead>
              <tbody>
                {nodes.map((node) => (
                  <tr key={node.id} data-node={node.name}>
                    <th scope="row">{node.name}</th>
                    <td>
                      <span class={`state state-${node.state}`}>{STATE_LABELS[node.state]}</span>
                      {node.problem && <small class="hint"> {node.problem}</small>}
                    </td>
                    <td>
                      {node.running} / {node.slots}
                    </td>
                    <td>{node.loadedModel ?? '–'}</td>
                    <td>{node.itPerSecond === null ? 'not measured yet' : `${node.itPerSecond.toFixed(1)} it/s`}</td>
                    <td>{node.models.join(', ')}</td>
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

function Tile({ label, value }: { label: string; value: number | undefined }) {
  return (
    <div class="tile">
      <span class="tile-value">{value ?? '–'}</span>
      <span class="tile-label">{label}</span>
    </div>
  );
}
