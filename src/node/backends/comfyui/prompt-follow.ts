/**
 * @module node/backends/comfyui/prompt-follow
 *
 * Waits for one queued prompt to end, however it ends:
 * - its websocket says so (`executing` with node null, `execution_error`,
 *   `execution_interrupted`), reporting progress and previews on the way;
 * - a watchdog asks ComfyUI now and then (often once the socket is lost): a
 *   prompt found in `/history` has ended; one that is neither in the queue
 *   nor in the history twice in a row is gone (ComfyUI restarted, or its
 *   owner cleared the queue) and fails, to be retried elsewhere; ComfyUI not
 *   answering several times in a row is the backend unreachable;
 * - an abort cancels it (deleted if it waits, interrupted if it runs) and
 *   waits a little for a running one to stop, so ComfyUI is free when the
 *   run settles;
 * - the request timeout cancels it too.
 * Every timer is armed before events can settle the wait and cleared when it
 * settles, so nothing outlives the run.
 */
import { DanError } from '../../../errors/dan-error.js';
import type { Clock } from '../../../util/clock.js';
import type { RunOptions } from '../../backend-driver.js';
import type { BackendClient } from '../backend-client.js';
import { cancelPrompt, endOf, historyEntry, queueState } from './comfy-queue.js';
import type { BuiltGraph } from './graph-builder.js';
import type { PromptEnd, PromptWatch } from './prompt-watch.js';
import { progressReporter } from './progress-reporter.js';

export interface FollowOptions extends RunOptions {
  client: BackendClient;
  clock: Clock;
  /** The longest the prompt may take. */
  timeoutMs: number;
  /** How long to wait for an interrupted prompt to stop. */
  abortGraceMs: number;
  /** How often the watchdog asks ComfyUI while the socket is up. */
  watchIntervalMs: number;
}

/** When the socket is lost, the watchdog asks this often. */
const LOST_WATCH_INTERVAL_MS = 1000;
/** Checks in a row that find the prompt nowhere before it counts as gone. */
const ABSENT_CHECKS = 2;
/** Checks in a row ComfyUI does not answer before it counts as unreachable. */
const FAILED_CHECKS = 3;

/** Node start times, in order (the clock's ms); '' marks the prompt's end. */
export type Timeline = [node: string, at: number][];

export function followPrompt(watch: PromptWatch, promptId: string, built: BuiltGraph, timeline: Timeline, options: FollowOptions): Promise<PromptEnd> {
  const { signal, onProgress, client } = options;
  return new Promise<PromptEnd>((resolve, reject) => {
    let settled = false;
    let watchdog: NodeJS.Timeout | undefined;
    const timers: NodeJS.Timeout[] = [];
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      clearTimeout(watchdog);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    // An interrupt this run asked for ends the prompt too: the abort's reason is the outcome then.
    const ended = (end: PromptEnd): void => finish(() => (signal?.aborted ? reject(signal.reason) : resolve(end)));
    const fail = (error: unknown): void => finish(() => reject(error));

    const onAbort = (): void => {
      void cancelPrompt(client, promptId).then((running) => {
        // Taken off the queue, it never runs and sends nothing: done at once.
        if (running === false) fail(signal!.reason);
      });
      if (!settled) timers.push(setTimeout(() => fail(signal!.reason), options.abortGraceMs));
    };
    timers.push(
      setTimeout(() => {
        void cancelPrompt(client, promptId);
        fail(new DanError('DAN_ERR_BACKEND_FAILED', `ComfyUI at ${client.baseUrl} did not finish the prompt within ${options.timeoutMs} ms`));
      }, options.timeoutMs),
    );

    let absent = 0;
    let failed = 0;
    let checking = false;
    // The queue first, then the history: a prompt that ends between the two asks is found in the history.
    const check = async (): Promise<void> => {
      try {
        if ((await queueState(client, promptId)) !== 'absent') {
          absent = 0;
        } else {
          const entry = await historyEntry(client, promptId);
          if (entry) return ended(endOf(entry));
          absent += 1;
        }
        failed = 0;
        if (absent >= ABSENT_CHECKS) fail(new DanError('DAN_ERR_BACKEND_FAILED', `ComfyUI at ${client.baseUrl} dropped the prompt (it restarted, or its queue was cleared)`));
      } catch (error) {
        failed += 1;
        if (failed >= FAILED_CHECKS) fail(new DanError('DAN_ERR_BACKEND_UNREACHABLE', `ComfyUI at ${client.baseUrl} stopped answering while it ran the prompt`, { cause: error }));
      }
    };
    /** The next check, one at a time: a socket lost during a check only makes the next one sooner. */
    const scheduleCheck = (): void => {
      if (settled || checking) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        checking = true;
        void check().then(() => {
          checking = false;
          scheduleCheck();
        });
      }, watch.lost ? LOST_WATCH_INTERVAL_MS : options.watchIntervalMs);
    };

    const progress = onProgress ? progressReporter(built, options.clock, onProgress) : null;
    watch.on('node', (node, at) => timeline.push([node, at]));
    watch.on('progress', (node, value, max) => progress?.step(node, value, max));
    watch.on('preview', (image) => progress?.preview(image));
    watch.on('end', ended);
    watch.on('lost', scheduleCheck);
    if (signal) {
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    scheduleCheck();
    // Last: following replays the events that came before the prompt's id was known, which may end the wait.
    watch.follow(promptId);
  });
}
