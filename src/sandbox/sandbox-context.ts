/**
 * @module sandbox/sandbox-context
 *
 * The state one sandbox server shares between its routes: what it offers, the
 * job queue, which checkpoint is configured and which is loaded, and counters.
 *
 * A1111 keeps two notions apart (A.7): `opts.sd_model_checkpoint` (configured,
 * what GET /options shows) and the weights actually in memory. An override with
 * `override_settings_restore_afterwards` (the default) loads another checkpoint
 * for one job and restores only the option, so the next job without an override
 * pays a switch back.
 */
import type { Clock } from '../util/clock.js';
import { checkpointByFileName, type CheckpointRecord, type Inventory } from './inventory.js';
import { JobQueue } from './job-queue.js';
import type { RunningJob } from './running-job.js';
import { toWallMs, type TimingOptions } from './time-model.js';

export interface SandboxCounters {
  jobs: number;
  checkpointSwitches: number;
  rejected: number;
}

export interface SandboxContext {
  inventory: Inventory;
  timing: TimingOptions;
  queue: JobQueue;
  configured: CheckpointRecord;
  loaded: CheckpointRecord;
  counters: SandboxCounters;
  /** Settings POSTed to /sdapi/v1/options other than the checkpoint; echoed by GET. */
  options: Record<string, unknown>;
  /** Forge: the modules configured to load with the checkpoint (`forge_additional_modules`), and those loaded with it. */
  modules: { configured: string[]; loaded: string[] };
}

export function createSandboxContext(inventory: Inventory, timing: TimingOptions, clock: Clock): SandboxContext {
  const first = inventory.checkpoints[0];
  if (!first) throw new Error('sandbox: offerings need at least one model');
  const loadedName = inventory.offerings.loadedModel;
  const loaded = loadedName === undefined ? first : checkpointByFileName(inventory, loadedName);
  return {
    inventory,
    timing,
    queue: new JobQueue(clock),
    configured: loaded,
    loaded,
    counters: { jobs: 0, checkpointSwitches: 0, rejected: 0 },
    options: {},
    modules: { configured: [], loaded: [] },
  };
}

/**
 * Loads `target` inside a running job, paying its load time (its own, else `switchSeconds`) when it is not
 * loaded yet. Forge loads the model again when its modules change too (`modules`, its
 * `forge_additional_modules`).
 */
export async function loadCheckpoint(ctx: SandboxContext, job: RunningJob, target: CheckpointRecord, modules = ctx.modules.loaded): Promise<void> {
  if (ctx.loaded === target && sameModules(ctx.modules.loaded, modules)) return;
  await job.wait('checkpoint load', toWallMs(ctx.timing, target.loadSeconds ?? ctx.timing.switchSeconds));
  ctx.loaded = target;
  ctx.modules.loaded = [...modules];
  ctx.counters.checkpointSwitches++;
}

/** The same files, in any order (Forge compares them so). */
function sameModules(a: readonly string[], b: readonly string[]): boolean {
  return [...a].sort().join('\n') === [...b].sort().join('\n');
}
