/**
 * The client side of `npm run bench` (bench/overhead.ts), in its own process
 * so that the orchestrator, which starts the gateway, keeps its own priority
 * (a child inherits its parent's nice value, and lowering it back needs
 * privileges). Posts sequential sync txt2img requests over one kept-alive
 * node:http connection, as a production client would hold: a heavier client
 * (fetch) adds its own milliseconds to spans that are meant to be the
 * gateway's. Stamps each on the machine-wide monotonic clock
 * (`process.hrtime`): t0 before sending, t3 once the whole answer is in.
 *
 * argv: gateway URL, image side, warm-up count, task count. Messages to the
 * parent: `warm` when the warm-up is done, then `done` with the timings and
 * the gateway's own figures (GET /api/health → overheadMs).
 */
import { Agent } from 'node:http';
import type { OverheadSummary } from '../src/gateway/overhead-meter.js';
import { wholeAnswer } from './whole-answer.js';

export interface ClientReport {
  type: 'done';
  sent: { id: string; t0: string; t3: string }[];
  imageChars: number;
  inside: { dispatch: OverheadSummary; relay: OverheadSummary };
}

const [gatewayUrl, side, warmup, tasks, apiKey] = process.argv.slice(2) as [string, string, string, string, string];
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** A GET, or a JSON POST when `body` is given; resolves with the whole answer. */
const call = (url: string, body?: string) => wholeAnswer(url, { agent, key: apiKey, ...(body === undefined ? {} : { body }) });

const body = JSON.stringify({ prompt: 'a red fox', model: 'clarity', steps: 20, width: Number(side), height: Number(side), seed: 42 });
const sent: ClientReport['sent'] = [];
let imageChars = 0;
for (let i = 0; i < Number(warmup) + Number(tasks); i++) {
  if (i === Number(warmup)) process.send!({ type: 'warm' });
  const t0 = process.hrtime.bigint();
  const bytes = await call(`${gatewayUrl}/api/sd/txt2img`, body);
  const t3 = process.hrtime.bigint();
  const json = JSON.parse(bytes.toString('utf8')) as { code: number; data: { taskId: string; images: string[] } };
  if (json.code !== 200) throw new Error(`task failed: ${JSON.stringify(json).slice(0, 300)}`);
  imageChars = json.data.images[0]!.length;
  if (i >= Number(warmup)) sent.push({ id: json.data.taskId, t0: t0.toString(), t3: t3.toString() });
}
const health = JSON.parse((await call(`${gatewayUrl}/api/health`)).toString('utf8')) as {
  data: { overheadMs: ClientReport['inside'] };
};
const report: ClientReport = { type: 'done', sent, imageChars, inside: health.data.overheadMs };
process.send!(report, () => process.exit(0));
