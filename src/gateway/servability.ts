/**
 * @module gateway/servability
 *
 * "Can anyone run this?" at submit time, so a request nobody can serve is
 * refused at once with what is missing, instead of waiting silently (the top
 * complaint about AI Horde). Uses the scheduler's own binding, so the answer
 * here and the scheduler's matching never disagree. And, for a task already
 * queued whose nodes all stopped taking work, what it waits for.
 */
import { bindSpec } from '../domain/binding.js';
import type { ModelFamily } from '../domain/families.js';
import { type GenerationSpec, outputSizeOf } from '../domain/spec.js';
import { DanError } from '../errors/dan-error.js';
import type { NodeListing } from './node-listing.js';

/** Throws DAN_ERR_TASK_UNSERVABLE unless some node of the network with a live backend binds `spec`. */
export function assertServable(spec: GenerationSpec, sessions: Iterable<NodeListing>, networkFamily: ModelFamily | null = null): void {
  let total = 0;
  let down = 0;
  /** Nodes whose WebUI is down that have what the task needs: it is a matter of time, not of the network. */
  let downCapable = 0;
  const lacking = new Map<string, number>();
  /** The most pixels a node whose WebUI is up makes: what a size that is too large should come down to. */
  let roomiest = 0;
  for (const session of sessions) {
    total += 1;
    const outcome = bindSpec(spec, session.offering, networkFamily);
    if (!session.backendUp) {
      down += 1;
      if (outcome.ok) downCapable += 1;
      continue;
    }
    if (outcome.ok) return;
    roomiest = Math.max(roomiest, session.offering.capabilities.maxPixels);
    for (const missing of outcome.missing) lacking.set(missing, (lacking.get(missing) ?? 0) + 1);
  }
  const advice = downCapable === 0 ? sizeAdvice(spec, roomiest) : null;
  throw new DanError('DAN_ERR_TASK_UNSERVABLE', unservableMessage({ total, down, downCapable, lacking }) + (advice === null ? '' : `; ${advice}`));
}

/**
 * For a task larger than any node makes: the upscaling rate (or hires scale) that fits the roomiest node,
 * as the request's own limit check says it for the gateway's limit. Null when size is not what is lacking.
 */
function sizeAdvice(spec: GenerationSpec, roomiest: number): string | null {
  const size = outputSizeOf(spec);
  if (size === null || roomiest === 0 || size.width * size.height <= roomiest) return null;
  const fit = (pixels: number) => Math.floor(Math.sqrt(roomiest / pixels) * 100) / 100;
  if (spec.kind === 'upscale') {
    const rate = fit(spec.sourceWidth * spec.sourceHeight);
    return rate > 1 ? `the largest result a node makes is ${roomiest} pixels: use a rate of at most ${rate.toFixed(2)} for this image` : `no node makes a result that large (the largest is ${roomiest} pixels)`;
  }
  if (spec.kind === 'txt2img' && spec.hires) {
    const scale = fit(spec.width * spec.height);
    return scale > 1 ? `the largest image a node makes is ${roomiest} pixels: use a hires scale of at most ${scale.toFixed(2)}` : `the largest image a node makes is ${roomiest} pixels`;
  }
  return `the largest image a node makes is ${roomiest} pixels`;
}

function unservableMessage({ total, down, downCapable, lacking }: { total: number; down: number; downCapable: number; lacking: Map<string, number> }): string {
  if (total === 0) {
    // Said to API clients too, who cannot attach one: a restart's few seconds without nodes come first.
    return 'no node is connected to the network (right after a gateway restart its nodes are back within seconds: try again shortly); its operator attaches one with `dan node --gateway <gateway URL> --webui <WebUI URL>`';
  }
  const parts: string[] = [];
  if (downCapable > 0) {
    const who = downCapable === 1 ? 'the 1 node that has what it needs cannot reach its WebUI' : `the ${downCapable} nodes that have what it needs cannot reach their WebUI`;
    parts.push(`${who} (try again once it is back)`);
  }
  const up = total - down;
  if (lacking.size > 0) {
    const items = [...lacking].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${what} (missing on ${n} of ${up}${down > 0 ? ' whose WebUI is up' : ''})`);
    parts.push(`the ${downCapable > 0 ? 'other' : 'connected'} nodes lack ${items.join(', ')}`);
  }
  const otherDown = down - downCapable;
  if (otherDown > 0) parts.push(`${otherDown} of ${total} node(s) cannot reach their WebUI`);
  return `no connected node can run this task now: ${parts.join('; ')}`;
}

/** Why a node that could run a task takes no work now. */
export type IdleCause = 'webui-down' | 'draining' | 'set-aside' | 'leaving';

/** Each cause said of one node (`one`) and of `n` of them. */
const IDLE_CAUSES: Record<IdleCause, { one: string; many: (n: number) => string }> = {
  'webui-down': { one: 'cannot reach its WebUI', many: (n) => `${n} cannot reach ${n === 1 ? 'its' : 'their'} WebUI` },
  draining: { one: 'is draining', many: (n) => `${n} ${n === 1 ? 'is' : 'are'} draining` },
  'set-aside': { one: 'is set aside after failing tasks', many: (n) => `${n} ${n === 1 ? 'is' : 'are'} set aside after failing tasks` },
  leaving: { one: 'is disconnecting', many: (n) => `${n} ${n === 1 ? 'is' : 'are'} disconnecting` },
};

/**
 * A queued task's status while every node that could run it takes no work: the task keeps its place (the
 * WebUI may be restarting), and its caller learns what it waits for rather than a silent queue position.
 */
export function idleNodesMessage(causes: readonly IdleCause[]): string {
  if (causes.length === 1) return `the one node that can run it ${IDLE_CAUSES[causes[0]!].one}; the task keeps its place and starts when that node takes work again`;
  const counts = new Map<IdleCause, number>();
  for (const cause of causes) counts.set(cause, (counts.get(cause) ?? 0) + 1);
  const parts = [...counts].map(([cause, n]) => IDLE_CAUSES[cause].many(n));
  return `none of the ${causes.length} nodes that can run it takes work now (${parts.join(', ')}); the task keeps its place and starts when one does`;
}
