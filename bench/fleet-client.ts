/**
 * The client of `npm run bench:fleet`, in a process of its own at a lower priority than the gateway it
 * loads (bench/fleet.ts forks it): it submits the tasks over HTTP (async, 64 at a time, round the API keys;
 * paced: a backlog at once, then the rest at the fleet's capacity), polls the status of random tasks all
 * along (every 20 ms) and the gateway's health (every 2 s), and scrapes the gateway's event-loop histogram at
 * the span ends (loop-delay-scrape.ts). In the bench's own process it ran at the gateway's priority, and a
 * client sending 1,500 requests a second took the cores from the gateway in the middle of its turns, which a
 * client on another machine never does.
 *
 * Protocol (IPC, advanced serialization): the child says `{ ready: true }`; the parent lowers every thread
 * of it and sends a `ClientJob`; the child answers with a `ClientRun` and exits.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { OverheadSummary } from '../src/gateway/overhead-meter.js';
import { getData } from './http-json.js';
import { type LoopDelayCounts, scrapeLoopDelay } from './loop-delay-scrape.js';
import { cpuSecondsOf } from './process-cpu.js';
import { niceAllThreads } from './process-priority.js';
import { makeCheckpoints } from './schedule-nodes.js';

export interface ClientJob {
  gateway: string;
  gatewayPid: number;
  tasks: number;
  /** Tasks submitted at once; the rest follow at `capacityPerSecond` (all of them: a flood). */
  backlog: number;
  capacityPerSecond: number;
  /** The API keys' secrets, one per key: task i is submitted with key i mod their count. */
  secrets: string[];
  concurrency: number;
}

/** The gateway's CPU seconds so far, and when they were read (epoch ms). */
export interface CpuReading {
  at: number;
  cpu: number;
}

export interface HealthReading extends CpuReading {
  eventLoop: OverheadSummary | null;
  queued: number;
  running: number;
}

export interface ClientRun {
  /** Task ids in submit order, and the key (index into `secrets`) each was submitted with. */
  ids: string[];
  owners: number[];
  submitMs: number[];
  pollMs: number[];
  health: HealthReading[];
  /** Epoch ms: the first submit, the first paced one (0 when not paced), the last one answered. */
  started: number;
  pacedFrom: number;
  submitsDoneAt: number;
  /**
   * The histograms before the first submit, at the submitting span's start (paced: its paced part's; else
   * the same), at its end, and at 90 % of results.
   */
  atStart: LoopDelayCounts;
  beforeSubmits: LoopDelayCounts;
  afterSubmits: LoopDelayCounts;
  atNinety: LoopDelayCounts;
  cpuAfterSubmits: CpuReading;
  cpuAtNinety: CpuReading;
}

const CHECKPOINTS = makeCheckpoints(8);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(job: ClientJob): Promise<ClientRun> {
  const { gateway, secrets } = job;
  const ids: string[] = [];
  const owners: number[] = [];
  const authOf = (i: number) => ({ authorization: `Bearer ${secrets[owners[i]!]}` });
  const submitMs: number[] = [];
  const pollMs: number[] = [];
  let submitting = true;
  const atStart = await scrapeLoopDelay(gateway);
  let beforeSubmits = Promise.resolve(atStart);
  const started = Date.now();
  let pacedFrom = 0;
  const submitAll = async () => {
    let next = 0;
    const worker = async () => {
      while (next < job.tasks) {
        const index = next++;
        if (index >= job.backlog) {
          if (pacedFrom === 0) {
            pacedFrom = Date.now();
            beforeSubmits = scrapeLoopDelay(gateway);
          }
          const due = pacedFrom + ((index - job.backlog) * 1000) / job.capacityPerSecond;
          if (due > Date.now()) await sleep(due - Date.now());
        }
        const checkpoint = CHECKPOINTS[index % CHECKPOINTS.length]!;
        const body = { prompt: `fleet task ${index}`, model: checkpoint.ref.id, steps: 20, width: 64, height: 64, sampler_name: 'Euler a', seed: index };
        const t0 = performance.now();
        const owner = index % secrets.length;
        const response = await fetch(`${gateway}/api/sd/txt2img/async`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets[owner]}` }, body: JSON.stringify(body) });
        const answer = (await response.json()) as { code: number; data: { taskId: string } };
        submitMs.push(performance.now() - t0);
        if (answer.code !== 200) throw new Error(`submit refused: ${JSON.stringify(answer)}`);
        ids.push(answer.data.taskId);
        owners.push(owner);
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  };
  let submitsDoneAt = 0;
  let afterSubmits: Promise<LoopDelayCounts> | undefined;
  const cpuAt = (): CpuReading => ({ at: Date.now(), cpu: cpuSecondsOf(job.gatewayPid) });
  let cpuAfterSubmits = cpuAt();
  const submitted = submitAll().finally(() => {
    submitting = false;
    submitsDoneAt = Date.now();
    cpuAfterSubmits = cpuAt();
    afterSubmits = scrapeLoopDelay(gateway);
  });
  const pollAll = async () => {
    for (let round = 1; submitting || ids.length > 0; round++) {
      if (ids.length > 0) {
        const t0 = performance.now();
        const i = Math.floor(Math.random() * ids.length);
        await getData(`${gateway}/api/sd/task/${ids[i]}`, authOf(i));
        pollMs.push(performance.now() - t0);
      }
      await sleep(20);
      // Whether the queue has drained, every 25th round (half a second): the health document sorts the
      // gateway's latest overhead samples (2–3 ms), and asked every 20 ms it was a tenth of the gateway's
      // event loop in the measured window, a load no client puts on it.
      if (!submitting && round % 25 === 0 && (await getData<{ queued: number; running: number }>(`${gateway}/api/health`)).queued === 0) break;
    }
  };
  const polled = pollAll();
  const health: HealthReading[] = [];
  /** Scraped at the first health read after the submits with 10 % of the tasks or fewer left unfinished. */
  let atNinety: LoopDelayCounts | undefined;
  let cpuAtNinety = cpuAt();
  const watch = async () => {
    for (;;) {
      const data = await getData<{ queued: number; running: number; eventLoopDelayMs: OverheadSummary | null }>(`${gateway}/api/health`);
      health.push({ at: Date.now(), cpu: cpuSecondsOf(job.gatewayPid), eventLoop: data.eventLoopDelayMs, queued: data.queued, running: data.running });
      if (!submitting && atNinety === undefined && data.queued + data.running <= job.tasks / 10) {
        cpuAtNinety = cpuAt();
        atNinety = await scrapeLoopDelay(gateway);
      }
      if (!submitting && data.queued === 0 && data.running === 0) return;
      await sleep(2000);
    }
  };
  await Promise.all([submitted, polled, watch()]);
  return {
    ids,
    owners,
    submitMs,
    pollMs,
    health,
    started,
    pacedFrom,
    submitsDoneAt,
    atStart,
    beforeSubmits: await beforeSubmits,
    afterSubmits: await afterSubmits!,
    atNinety: atNinety ?? (await scrapeLoopDelay(gateway)),
    cpuAfterSubmits,
    cpuAtNinety,
  };
}

/**
 * Forks the client, lowers every thread of it to `nice` once it has started them, and runs `job` there.
 */
export function runClient(job: ClientJob, nice: number): Promise<ClientRun> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the client process exited (${code})`)));
    child.on('message', (message: { ready: true } | ClientRun) => {
      if ('ready' in message) {
        niceAllThreads(child.pid!, nice);
        child.send(job);
      } else resolve(message);
    });
  });
}

// Forked by `runClient`.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  process.once('message', (job: ClientJob) => {
    run(job).then(
      (result) => process.send!(result, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
  process.send({ ready: true });
}
