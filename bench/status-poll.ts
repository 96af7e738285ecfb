/**
 * `npm run bench:poll`: what a status poll of a finished image task costs the
 * gateway. Async clients (the original deployment's own among them) poll
 * until a task is done, and every poll of a finished task reads its result
 * from the store: the payload file, then the answer with the images as
 * base64. This drives that path as the status route does (store.get →
 * toStoredView → the app's JSON serializer), in-process, for 512² results.
 *
 * BENCH_POLLS (default 5000) polls over 20 finished tasks, after 500 warm-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { toStoredView } from '../src/gateway/task-view.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';
import { Base64Image } from '../src/util/base64-image.js';
import { toJsonBuffer } from '../src/util/json-buffer.js';
import { txt2img } from '../test/helpers/specs.js';
import { sectionEnd, sectionStart, writeBenchSection } from './benchmarks-file.js';

const POLLS = Number(process.env['BENCH_POLLS'] ?? 5000);
const WARMUP = 500;
const TASKS = 20;
/** A 512² PNG from the sandbox is about this size. */
const IMAGE_BYTES = 240 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'dan-bench-poll-'));
const store = new SqliteTaskStore(dir);
const ids: string[] = [];
for (let i = 0; i < TASKS; i++) {
  const id = `poll-${i}-${Date.now()}`;
  await store.insert({ id, kind: 'txt2img', owner: null, spec: txt2img(), createdAt: Date.now() });
  await store.markRunning(id, 1, 'bench-node', Date.now());
  const image = new Base64Image(Buffer.alloc(IMAGE_BYTES, i));
  await store.complete(id, 1, { kind: 'images', images: [image], seeds: [i] }, Date.now());
  ids.push(id);
}

async function poll(i: number): Promise<number> {
  const record = await store.get(ids[i % ids.length]!);
  return toJsonBuffer({ code: 200, data: toStoredView(record!), message: 'success' }).length;
}

for (let i = 0; i < WARMUP; i++) await poll(i);
const gc = { scavenges: 0, markCompacts: 0, ms: 0 };
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind: number } })[]) {
    gc.ms += entry.duration;
    // perf_hooks' NODE_PERFORMANCE_GC_MAJOR is 4.
    if (entry.detail?.kind === 4) gc.markCompacts += 1;
    else gc.scavenges += 1;
  }
});
observer.observe({ entryTypes: ['gc'] });
const spans: number[] = [];
let answerBytes = 0;
const cpuStart = process.cpuUsage();
for (let i = 0; i < POLLS; i++) {
  const start = performance.now();
  answerBytes = await poll(i);
  spans.push(performance.now() - start);
}
const cpu = process.cpuUsage(cpuStart);
await new Promise((resolve) => setTimeout(resolve, 50));
observer.disconnect();
await store.close();
rmSync(dir, { recursive: true, force: true });

spans.sort((a, b) => a - b);
const at = (q: number) => spans[Math.min(spans.length - 1, Math.floor(q * spans.length))]!.toFixed(2);
const section = [
  sectionStart('poll'),
  '## Status poll of a finished image task',
  '',
  `Command: \`npm run bench:poll\` (${POLLS} polls of 20 finished 512² tasks after ${WARMUP} warm-up, read from the SQLite store and serialized as the status route does; in-process, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}).`,
  '',
  '| answer | CPU per poll | wall p50 | p99 | scavenges | mark-compacts | GC time |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  `| ${Math.round(answerBytes / 1024)} KiB | ${((cpu.user + cpu.system) / 1000 / POLLS).toFixed(2)} ms | ${at(0.5)} ms | ${at(0.99)} ms | ${gc.scavenges} | ${gc.markCompacts} | ${Math.round(gc.ms)} ms |`,
  sectionEnd('poll'),
].join('\n');
console.log(section);
writeBenchSection('poll', section);
