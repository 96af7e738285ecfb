/**
 * @module sandbox
 *
 * An AUTOMATIC1111-compatible HTTP server standing in for a GPU machine, for
 * tests, demos and benchmarks. It speaks A1111 v1.10's wire format (plus the
 * sd-webui-controlnet and Lora extension routes) but is STRICTER than the real
 * API, so translation mistakes in a driver fail loudly instead of silently
 * producing the wrong picture:
 * - unknown body fields and wrong JSON types are 422 (FastAPI's shape), never coerced;
 * - unknown samplers, schedulers, checkpoints, LoRAs, styles, upscalers, ControlNet
 *   models/modules and legacy ControlNet keys are refused (checks the real WebUI
 *   does not make carry `type: "value_error.sandbox_strict"`);
 * - every image must decode to PNG, JPEG or WebP.
 *
 * Outputs are real PNGs of the requested size with an A1111 `parameters` chunk;
 * their content is a pattern of the seed and prompt (img2img: the init image moved
 * towards it, inside the mask only). Time follows a GPU model (see time-model.ts)
 * compressed by `speed`, one job at a time, like A1111's queue lock, on an
 * injected clock: a test passes a fake one and moves it through each wait the
 * sandbox announces on `jobs`.
 *
 * @example
 * const sandbox = await startSandbox({ speed: Infinity });
 * const res = await fetch(`${sandbox.url}/sdapi/v1/txt2img`, {
 *   method: 'POST', headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ prompt: 'a cat', steps: 20, sampler_name: 'Euler a' }),
 * });
 * await sandbox.close();
 */
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../util/clock.js';
import type { SandboxStats } from './introspection-routes.js';
import type { JobEvents } from './job-queue.js';
import { defaultOfferings, forgeOfferings, resolveOfferings, type SandboxOfferings } from './offerings.js';
import type { RecordedRequest } from './request-log.js';
import { createSandboxApp } from './server.js';
import { resolveComfyOfferings, type ComfyOfferings } from './comfyui/comfy-offerings.js';
import { createComfySandboxApp } from './comfyui/comfy-server.js';
import { DEFAULT_STEP_COSTS, type StepCosts } from './time-model.js';

export { defaultOfferings, loadSandboxOfferings, type SandboxOfferings } from './offerings.js';
export { defaultComfyOfferings, loadComfyOfferings, type ComfyOfferings } from './comfyui/comfy-offerings.js';
export type { RecordedRequest } from './request-log.js';
export type { SandboxStats } from './introspection-routes.js';
export type { JobEvents } from './job-queue.js';
export type { ModelledWait, WaitKind } from './running-job.js';

export const SandboxFlavors = ['a1111', 'forge', 'comfyui'] as const;
export type SandboxFlavor = (typeof SandboxFlavors)[number];

export interface SandboxOptions {
  /**
   * Which backend's API it speaks: AUTOMATIC1111's `/sdapi/v1`, Forge's (A1111's with its modules and Flux:
   * `forgeOfferings`), or ComfyUI's (comfyui/comfy-server.ts). @defaultValue 'a1111'
   */
  flavor?: SandboxFlavor;
  /** 0 = ephemeral. @defaultValue 0 (the CLI uses 7860) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** Time compression: 1 = real GPU time, 100 = 100× faster, Infinity = no waiting. @defaultValue 1 */
  speed?: number;
  /** Sampler steps per second at 512×512 for a first-order sampler. @defaultValue 15 */
  itPerSecond?: number;
  /** Checkpoint switch (load) cost in seconds. @defaultValue 4 */
  switchSeconds?: number;
  /**
   * What a step of a model family costs against an SD 1.5 step at the same size, for the families given
   * (time-model.ts). @defaultValue the gateway's first guesses (`DEFAULT_STEP_COSTS`)
   */
  stepCosts?: Partial<StepCosts>;
  /** Overrides of what the A1111 flavour offers; see `defaultOfferings`. */
  offerings?: Partial<SandboxOfferings>;
  /** Overrides of what the ComfyUI flavour has installed; see `defaultComfyOfferings`. */
  comfyOfferings?: Partial<ComfyOfferings>;
  /** Fastify logging. @defaultValue false */
  logger?: boolean;
  /**
   * Jobs wait out modelled time on its timers (modelled seconds × 1000 / `speed`
   * ms) and read progress, `busyMs` and `job_timestamp` from its `now()`; tests
   * pass a fake one. @defaultValue systemClock
   */
  clock?: Clock;
}

export interface Sandbox {
  /** `http://host:port` */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): SandboxStats;
  requests(): RecordedRequest[];
  /** Jobs asking for the queue lock and starting modelled waits, for tests that drive a fake clock. */
  jobs: EventEmitter<JobEvents>;
  [Symbol.asyncDispose](): Promise<void>;
}

function assertPositive(name: string, value: number, allowZero = false): number {
  const ok = allowZero ? value >= 0 : value > 0;
  if (!ok || Number.isNaN(value)) throw new Error(`startSandbox: ${name} must be ${allowZero ? '≥ 0' : '> 0'}, got ${value}`);
  return value;
}

function checkedStepCosts(costs: Partial<StepCosts>): Partial<StepCosts> {
  for (const [family, cost] of Object.entries(costs)) assertPositive(`stepCosts.${family}`, cost);
  return costs;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const timing = {
    speed: assertPositive('speed', options.speed ?? 1),
    itPerSecond: assertPositive('itPerSecond', options.itPerSecond ?? 15),
    switchSeconds: assertPositive('switchSeconds', options.switchSeconds ?? 4, true),
    stepCosts: { ...DEFAULT_STEP_COSTS, ...checkedStepCosts(options.stepCosts ?? {}) },
  };
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? false;
  const { app, jobs, log, stats } =
    options.flavor === 'comfyui'
      ? await (async () => {
          const comfy = await createComfySandboxApp({ timing, clock, logger, offerings: resolveComfyOfferings(options.comfyOfferings) });
          return { ...comfy, jobs: comfy.queue };
        })()
      : (() => {
          const defaults = options.flavor === 'forge' ? forgeOfferings : defaultOfferings;
          const a1111 = createSandboxApp({ timing, clock, logger, offerings: resolveOfferings(options.offerings, defaults) });
          return { ...a1111, jobs: a1111.ctx.queue };
        })();
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const { port } = app.server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= app.close());
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close,
    [Symbol.asyncDispose]: close,
    stats,
    requests: () => log.entries(),
    jobs,
  };
}
