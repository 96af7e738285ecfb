/**
 * "Show API call": the form as it stands, as a `curl` command and its JSON
 * body, ready to paste. Images are shown as a placeholder (a real one is
 * hundreds of kilobytes of base64).
 */
import { useState } from 'preact/hooks';
import type { TaskKind } from '../api/types';

const LONG = 256;

function shown(body: unknown): string {
  return JSON.stringify(body, (_key, value: unknown) => (typeof value === 'string' && value.length > LONG ? `<base64 image, ${Math.round((value.length * 3) / 4 / 1024)} KiB>` : value), 2);
}

export function ApiCall({ kind, body }: { kind: TaskKind; body: Record<string, unknown> }) {
  const [copied, setCopied] = useState(false);
  const json = shown(body);
  const command = `curl -X POST '${window.location.origin}/api/sd/${kind}/async' \\\n  -H 'Content-Type: application/json' \\\n  -d '${json.replaceAll("'", "'\\''")}'`;
  return (
    <details class="api-call">
      <summary>Show API call</summary>
      <pre>
        <code>{command}</code>
      </pre>
      <p class="hint">
        Then follow the task: <code>GET /api/sd/task/&lt;taskId&gt;/events</code> (Server-Sent Events) or poll <code>GET /api/sd/task/&lt;taskId&gt;</code>. Every field is described at <a href="/docs">/docs</a>.
      </p>
      <button
        type="button"
        class="secondary"
        onClick={() => {
          void navigator.clipboard?.writeText(command).then(() => setCopied(true));
        }}
      >
        {copied ? 'Copied' : 'Copy curl command'}
      </button>
    </details>
  );
}
