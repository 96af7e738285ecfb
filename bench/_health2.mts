import { request, Agent } from 'node:http';
import { startGatewayProcess, tempDir } from '../test/helpers/processes.js';
const data = tempDir('dan-h-');
const gw = await startGatewayProcess({ dataDir: data.path });
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (url: string) => new Promise<void>((res, rej) => { request(url, { agent }, (r) => { r.on('data', () => {}); r.on('end', res); }).on('error', rej).end(); });
for (const kind of ['http', 'fetch', 'http', 'fetch']) {
const xs: number[] = [];
for (let i = 0; i < 2200; i++) {
  const t0 = process.hrtime.bigint();
  if (kind === 'http') await get(`${gw.url}/api/health`); else { const r = await fetch(`${gw.url}/api/health`); await r.arrayBuffer(); }
  if (i >= 200) xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
xs.sort((a, b) => a - b);
const at = (p: number) => xs[Math.ceil(p / 100 * xs.length) - 1]!.toFixed(2);
console.log(kind, 'health p50', at(50), 'p95', at(95), 'p99', at(99), 'max', xs.at(-1)!.toFixed(2));
}
await gw.proc.stop(); data.remove();
