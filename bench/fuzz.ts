/**
 * `npm run bench:fuzz`: hostile requests (bench/fuzz-inputs.ts) against a real
 * gateway process over real sockets, with a real sandbox and node behind it, so
 * that what gets through the parsers runs. Counts the answers by status, the
 * 5xx (must be 0), whether the gateway died (must not), and its peak resident
 * memory (VmHWM), and writes them to BENCHMARKS.md.
 *
 * Knobs: BENCH_FUZZ_REQUESTS (default 20,000), BENCH_FUZZ_SEED (default 1),
 * BENCH_FUZZ_CONCURRENCY (default 16), BENCH_WRITE=0 (print only).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { freePort, tempDir } from '../test/helpers/processes.js';
import { makeBenchKeys } from './bench-keys.js';
import { writeBenchSection } from './benchmarks-file.js';
import { errorShapeOf, type FuzzRequest, hostileRequests, pngDeclaring } from './fuzz-inputs.js';
import { startQuiet } from './quiet-process.js';

const REQUESTS = Number(process.env['BENCH_FUZZ_REQUESTS'] ?? 20_000);
const SEED = Number(process.env['BENCH_FUZZ_SEED'] ?? 1);
const CONCURRENCY = Number(process.env['BENCH_FUZZ_CONCURRENCY'] ?? 16);
const ADMIN = 'bench-fuzz-admin-token-0123';

/** Peak and current resident memory of a process, in MiB, from /proc. */
function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { peak: kib('VmHWM') / 1024, now: kib('VmRSS') / 1024 };
}

/** Header values fetch can send (printable, no line breaks); others are what the fuzzer meant as junk anyway. */
function sendable(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value.replace(/[^\x20-\x7e]/g, '?')]));
}

async function main(): Promise<void> {
  const temp = tempDir('dan-fuzz-');
  const dir = temp.path;
  const [gatewayPort, sandboxPort] = [await freePort(), await freePort()];
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  const keys = await makeBenchKeys(join(dir, 'data'), ['fuzz']);
  const processes = [
    await startQuiet(
      ['gateway', '--port', String(gatewayPort), '--host', '127.0.0.1', '--data', join(dir, 'data'), '--admin-token', ADMIN, '--anonymous-rpm', '0', '--anonymous-max-tasks', '0', '--sync-timeout-s', '2', '--body-limit-mb', '8'],
      { logFile: join(dir, 'gateway.log'), readyUrl: `${gateway}/api/health` },
    ),
  ];
  const gatewayProcess = processes[0]!;
  processes.push(await startQuiet(['sandbox', '--port', String(sandboxPort), '--speed', '1000'], { logFile: join(dir, 'sandbox.log'), readyUrl: `http://127.0.0.1:${sandboxPort}/sdapi/v1/progress` }));
  processes.push(await startQuiet(['node', '--gateway', gateway, '--webui', `http://127.0.0.1:${sandboxPort}`, '--name', 'fuzz-gpu'], { logFile: join(dir, 'node.log'), readyUrl: `${gateway}/api/health` }));
  const png = pngDeclaring(64, 64).toString('base64');
  const bodies = {
    txt2img: { prompt: 'a fox', model: 'clarity', steps: 4 },
    img2img: { init_image: png, prompt: 'a cat', model: 'clarity', width: 64, height: 64, steps: 4 },
    interrogate: { image: png, model: 'clip' },
    upscale: { image: png, upscalingRate: 2, upscaler: 'Lanczos' },
  };
  const requests: FuzzRequest[] = fc.sample(hostileRequests(bodies, ADMIN), { numRuns: REQUESTS, seed: SEED });
  const statuses = new Map<number, number>();
  let fiveXx = 0;
  let refusedWithoutEnvelope = 0;
  let connectionErrors = 0;
  const examples: string[] = [];
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      // Half the requests carry the key: submits with a key reach webhooks and key limits.
      const auth: Record<string, string> = next % 2 === 0 && !request.headers?.['authorization'] ? { authorization: `Bearer ${keys.get('fuzz')}` } : {};
      try {
        const response = await fetch(`${gateway}${request.url}`, {
          method: request.method,
          headers: sendable({ ...(request.contentType ? { 'content-type': request.contentType } : {}), ...auth, ...request.headers }),
          ...(request.body === undefined || request.method === 'GET' ? {} : { body: request.body }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500) {
          fiveXx += 1;
          if (examples.length < 5) examples.push(`${request.method} ${request.url.slice(0, 80)} → ${response.status} ${text.slice(0, 160)}`);
        } else if (response.status >= 400 && !errorShapeOf(request.url).test(text) && response.headers.get('content-type')?.includes('json')) {
          refusedWithoutEnvelope += 1;
          if (examples.length < 5) examples.push(`${request.method} ${request.url.slice(0, 80)} → ${response.status} without its door's error shape: ${text.slice(0, 160)}`);
        }
      } catch (error) {
        connectionErrors += 1;
        if (examples.length < 5) examples.push(`${request.method} ${request.url.slice(0, 80)} → ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (Date.now() - started) / 1000;
  const alive = gatewayProcess.child.exitCode === null && (await fetch(`${gateway}/healthz`).then((r) => r.ok, () => false));
  const memory = memoryOf(gatewayProcess.child.pid!);
  for (const p of processes.reverse()) await p.stop();
  temp.remove();

  const fourXx = [...statuses].filter(([s]) => s >= 400 && s < 500).reduce((sum, [, n]) => sum + n, 0);
  const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n.toLocaleString('en')}`).join(', ');
  const markdown = [
    '## Fuzzing the API',
    '',
    `Command: \`npm run bench:fuzz\` (${REQUESTS.toLocaleString('en')} hostile requests from \`bench/fuzz-inputs.ts\`, seed ${SEED}, ${CONCURRENCY} at a time, over HTTP to a real gateway process with a sandbox and a node behind it; half with an API key; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}). Malformed JSON, wrong types, huge and non-finite numbers, nesting thousands deep, strings up to 100,000 characters, broken base64, bytes that are not images, PNGs declaring 100,000² pixels in a few hundred bytes, PNGs with broken CRCs, valid bodies with fields replaced, dropped or added, on every endpoint (submits sync and async, status, cancel, events, keys, admin, and the OpenAI- and WebUI-compatible doors, multipart forms included).`,
    '',
    '| requests | 4xx | 5xx | crashes | 4xx without the error envelope | connection errors | gateway peak RSS | time |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${REQUESTS.toLocaleString('en')} | ${fourXx.toLocaleString('en')} | ${fiveXx} | ${alive ? 0 : 1} | ${refusedWithoutEnvelope} | ${connectionErrors} | ${Math.round(memory.peak)} MiB | ${Math.round(seconds)} s |`,
    '',
    `Answers by status: ${byStatus}.${examples.length > 0 ? `\n\nFirst problems: ${examples.map((e) => `\`${e}\``).join('; ')}` : ''}`,
  ].join('\n');
  console.log(markdown);
  if (process.env['BENCH_WRITE'] !== '0') writeBenchSection('fuzz', markdown);
  if (fiveXx > 0 || !alive) process.exitCode = 1;
}

await main();
