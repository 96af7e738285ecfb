/**
 * The node side of `npm run bench` (bench/overhead.ts), in its own process so
 * that its work and garbage never delay the client's clocks, as the sandbox
 * (the WebUI) runs in another. Runs a node agent, and records, on the
 * machine-wide monotonic clock (`process.hrtime`, comparable across processes),
 * when each task arrives and when its result frame is handed to the socket (just before: a timestamp
 * taken after the send could follow a preemption by the very processes the send wakes). Sends them to the
 * parent over IPC when asked. argv: gateway URL, WebUI URL, and optionally
 * the largest image in pixels it takes and its name.
 */
import { pino } from 'pino';
import { NodeAgent } from '../src/node/agent.js';
import { A1111Driver } from '../src/node/backends/a1111/a1111-driver.js';

const [gatewayUrl, webuiUrl, maxPixels = String(2048 * 2048), name = 'bench-node'] = process.argv.slice(2) as [string, string, string?, string?];
const driver = new A1111Driver({ baseUrl: webuiUrl, maxPixels: Number(maxPixels), progressIntervalMs: 60_000 });
const agent = new NodeAgent({ gatewayUrl, name, token: null, driver, log: pino({ level: 'warn' }) });
const received: Record<string, string> = {};
const settled: Record<string, string> = {};
agent.on('task:received', (id) => (received[id] = process.hrtime.bigint().toString()));
agent.on('task:sending', (id) => (settled[id] = process.hrtime.bigint().toString()));
agent.once('welcomed', () => process.send!({ type: 'ready' }));
process.on('message', (message: { type: string }) => {
  if (message.type !== 'report') return;
  // Exit only once the report is written to the IPC channel: with thousands of tasks it is
  // hundreds of KiB, and an exit before the write ends loses it (the parent would wait forever).
  process.send!({ type: 'report', received, settled }, undefined, {}, () => void agent.stop().then(() => process.exit(0)));
});
await agent.start();
