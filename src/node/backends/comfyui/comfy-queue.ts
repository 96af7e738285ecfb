/**
 * @module node/backends/comfyui/comfy-queue
 *
 * A prompt as ComfyUI's queue and history see it: whether it runs, waits or
 * is gone (`GET /queue`), how it ended (`GET /history/{id}`), and taking it
 * back. A cancel deletes a waiting prompt first and interrupts only a prompt
 * that runs: on ComfyUI builds whose `/interrupt` ignores the prompt id, an
 * interrupt stops whatever runs, which may be someone else's.
 */
import type { BackendClient } from '../backend-client.js';
import type { PromptEnd } from './prompt-watch.js';

const SECOND_MS = 1000;
const CONTROL_TIMEOUT_MS = 5 * SECOND_MS;

export interface HistoryEntry {
  outputs?: Record<string, Record<string, unknown>>;
  status?: { status_str?: unknown; messages?: unknown };
}

export type QueueState = 'running' | 'pending' | 'absent';

export async function queueState(client: BackendClient, promptId: string): Promise<QueueState> {
  const queue = (await client.get('/queue', { timeoutMs: CONTROL_TIMEOUT_MS })) as { queue_running?: unknown; queue_pending?: unknown } | null;
  const holds = (rows: unknown) => Array.isArray(rows) && rows.some((row) => Array.isArray(row) && row[1] === promptId);
  if (holds(queue?.queue_running)) return 'running';
  if (holds(queue?.queue_pending)) return 'pending';
  return 'absent';
}

export async function historyEntry(client: BackendClient, promptId: string): Promise<HistoryEntry | undefined> {
  const history = await client.get(`/history/${encodeURIComponent(promptId)}`, { timeoutMs: 30 * SECOND_MS });
  const entry = (history as Record<string, unknown> | null)?.[promptId];
  return typeof entry === 'object' && entry !== null ? entry : undefined;
}

/** The end `/history` records: success, or the `execution_error` / `execution_interrupted` among its messages. */
export function endOf(entry: HistoryEntry): PromptEnd {
  if (entry.status?.status_str !== 'error') return { kind: 'success' };
  const messages = Array.isArray(entry.status.messages) ? (entry.status.messages as [unknown, unknown][]) : [];
  const error = messages.find((m) => Array.isArray(m) && m[0] === 'execution_error');
  if (error) return { kind: 'error', data: (error[1] ?? {}) as Record<string, unknown> };
  return { kind: 'interrupted' };
}

/**
 * Takes the prompt back, best effort: deleted from the queue if it waits, interrupted (by id) if it runs.
 * Returns whether it still runs afterwards (an interrupted prompt ends at its next step), or null when
 * ComfyUI could not be asked.
 */
export async function cancelPrompt(client: BackendClient, promptId: string): Promise<boolean | null> {
  const post = (path: string, body: unknown) => client.post(path, body, { timeoutMs: CONTROL_TIMEOUT_MS });
  try {
    // A failed delete still leaves the interrupt to try: a running prompt must not keep the GPU.
    await post('/queue', { delete: [promptId] }).catch(() => undefined);
    if ((await queueState(client, promptId)) !== 'running') return false;
    await post('/interrupt', { prompt_id: promptId });
    return true;
  } catch {
    return null;
  }
}
