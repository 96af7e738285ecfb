/**
 * @module gateway/servability
 *
 * "Can anyone run this?" at submit time, so a request nobody can serve is
 * refused at once with what is missing, instead of waiting silently (the top
 * complaint about AI Horde). Uses the scheduler's own binding, so the answer
 * here and the scheduler's matching never disagree.
 */
import { bindSpec } from '../domain/binding.js';
import type { GenerationSpec } from '../domain/spec.js';
import { DanError } from '../errors/dan-error.js';
import type { NodeListing } from './node-listing.js';

/** Throws DAN_ERR_TASK_UNSERVABLE unless some node of the network with a live backend binds `spec`. */
export function assertServable(spec: GenerationSpec, sessions: Iterable<NodeListing>): void {
  let total = 0;
  let down = 0;
  const lacking = new Map<string, number>();
  for (const session of sessions) {
    total += 1;
    if (!session.backendUp) {
      down += 1;
      continue;
    }
    const outcome = bindSpec(spec, session.offering);
    if (outcome.ok) return;
    for (const missing of outcome.missing) lacking.set(missing, (lacking.get(missing) ?? 0) + 1);
  }
  throw new DanError('DAN_ERR_TASK_UNSERVABLE', unservableMessage(total, down, lacking));
}

function unservableMessage(total: number, down: number, lacking: Map<string, number>): string {
  if (total === 0) {
    // Said to API clients too, who cannot attach one: a restart's few seconds without nodes come first.
    return 'no node is connected to the network (right after a gateway restart its nodes are back within seconds: try again shortly); its operator attaches one with `dan node --gateway <gateway URL> --webui <WebUI URL>`';
  }
  const parts: string[] = [];
  const up = total - down;
  if (lacking.size > 0) {
    const items = [...lacking].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${what} (missing on ${n} of ${up})`);
    parts.push(`the connected nodes lack ${items.join(', ')}`);
  }
  if (down > 0) parts.push(`${down} of ${total} node(s) cannot reach their WebUI`);
  return `no connected node can run this task: ${parts.join('; ')}`;
}
