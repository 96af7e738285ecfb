/**
 * "Show API call": the form as it stands, as a `curl` command and its JSON
 * body, ready to paste. Images are shown as a placeholder (a real one is
 * hundreds of kilobytes of base64).
 */
import { useState } from 'preact/hooks';
import { apiKey } from '../api/api-key';
import type { TaskKind } from '../api/types';

/** The request fields that hold images. */
const IMAGE_FIELDS = new Set(['init_image', 'image', 'mask']);

function shown(body: unknown): string {
  return JSON.stringify(body, (key, value: unknown) => (IMAGE_FIELDS.has(key) && typeof value === 'string' && value.length > 0 ? `<base64 image, ${Math.round((value.length * 3) / 4 / 1024)} KiB>` : value), 2);
}

export function ApiCall({ kind, body }: { kind: TaskKind; body: Record<string, unknown> }) {
  const [copied, setCopied] = useState(false);
  const json = shown(body);
  // The key itself is not shown: the command reads it from the environment.
  const auth = apiKey() ? `  -H "Authorization: Bearer $DAN_API_KEY" \\\n` : '';
  const command = `curl -X POST '${window.location.origin}/api/sd/${kind}/async' \\\n  -H 'Content-Type: application/json' \\\n${auth}  -d '${json.replaceAll("'", "'\\''")}'`;
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
