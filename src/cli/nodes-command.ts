/**
 * @module cli/nodes-command
 *
 * `dan nodes list`: the nodes of a running network, as its gateway's dashboard lists them (`GET /api/nodes`),
 * for an operator at a terminal: each node's state, work, loaded checkpoint and measured speed, and why it
 * takes no work when it does not. A line per node, or the JSON for scripts.
 */
import type { NodeListItem } from '../gateway/node-directory.js';
import { StartupError } from '../errors/startup-error.js';
import { type CommandOutput, processOutput } from './command-output.js';

export interface NodesListFlags {
  /** The gateway's HTTP address. @defaultValue http://127.0.0.1:6006 */
  gateway?: string;
  /** An API key, for a gateway run with `--auth required`. */
  key?: string;
  json?: boolean;
}

/** A listing as `/api/nodes` answers it (a node of another gateway sharing the database names that gateway). */
type Listed = Pick<NodeListItem, 'name' | 'state' | 'slots' | 'running' | 'loadedModel' | 'itPerSecond' | 'problem' | 'setAsideUntil'> & { gateway?: string | null };

const DEFAULT_GATEWAY = 'http://127.0.0.1:6006';
const TIMEOUT_MS = 10_000;

export async function nodesList(flags: NodesListFlags, output: CommandOutput = processOutput): Promise<void> {
  const base = (flags.gateway ?? DEFAULT_GATEWAY).replace(/\/+$/, '').replace(/^ws(s?):/, 'http$1:');
  const nodes = await fetchNodes(base, flags.key);
  if (flags.json) return output.out(JSON.stringify(nodes));
  if (nodes.length === 0) return output.note(`no node is connected to the network of ${base}; attach one with \`dan node --gateway ${base} --webui <WebUI URL>\``);
  for (const node of nodes) output.out(describeNode(node));
}

async function fetchNodes(base: string, key: string | undefined): Promise<Listed[]> {
  let response: Response;
  try {
    response = await fetch(`${base}/api/nodes`, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new StartupError(`no gateway answers at ${base} (${cause}); give its address with --gateway`);
  }
  const body = (await response.json().catch(() => null)) as { data?: unknown; message?: string } | null;
  if (response.status === 401) throw new StartupError(`the gateway at ${base} asks for an API key (it runs with --auth required): give one with --key`);
  if (!response.ok || !Array.isArray(body?.data)) {
    throw new StartupError(`${base} did not answer as a DAN gateway (HTTP ${response.status}${body?.message ? `: ${body.message}` : ''}); is it one?`);
  }
  return body.data as Listed[];
}

/** `gpu-1  busy  1/1 +1 held  clarity [8a6c…]  18.5 it/s`, then where it is and why it takes no work. */
function describeNode(node: Listed): string {
  // `running` counts the tasks a node holds ready (`--prefetch`) too: said apart, not as more than its slots.
  const held = Math.max(0, node.running - node.slots);
  const work = `${node.running - held}/${node.slots}${held > 0 ? ` +${held} held` : ''}`;
  const parts = [node.name, node.state, work, node.loadedModel ?? 'no checkpoint loaded'];
  if (node.itPerSecond !== null) parts.push(`${node.itPerSecond.toFixed(1)} it/s`);
  if (node.gateway) parts.push(`on gateway ${node.gateway}`);
  if (node.setAsideUntil !== null) parts.push(`set aside until ${node.setAsideUntil}`);
  if (node.problem !== null) parts.push(`(${node.problem})`);
  return parts.join('  ');
}
