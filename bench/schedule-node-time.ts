/**
 * @module bench/schedule-node-time
 *
 * How long a simulated node works on a task: the sandbox's time model
 * (src/sandbox/time-model.ts) applied to the A1111 request the node would
 * really receive (`toA1111Request(spec, binding)`), read the way the sandbox
 * reads it (generation-run.ts, hires-plan.ts): latent-aligned sizes, the
 * second pass at `hr_second_pass_steps || steps`, a model upscaler's cost
 * unless the hires upscaler is a latent mode, ControlNet units on both
 * passes, second-order samplers by the sandbox's own table, plus the
 * checkpoint switch when the requested checkpoint is not the loaded one, and
 * a step of another family than SD 1.5 at its cost on the node's GPU.
 *
 * Deliberately not scheduler/cost.ts: the scheduler's estimates are judged
 * against this independent reading of what the node is sent.
 */
import type { A1111Request } from '../src/node/backends/a1111/translate.js';
import { isSecondOrder } from '../src/sandbox/a1111-tables.js';
import { toLatentSize } from '../src/sandbox/generation-plan.js';
import type { ModelFamily } from '../src/domain/families.js';
import { DEFAULT_STEP_COSTS, img2imgSteps, secondsPerStep, type StepCosts, type TimingOptions, upscalerSeconds } from '../src/sandbox/time-model.js';

export interface NodeTiming {
  itPerSecond: number;
  switchSeconds: number;
  latentUpscaleModes: readonly string[];
  /** What a step of each family takes on the GPU against an SD 1.5 step. @defaultValue the sandbox's */
  stepCosts?: StepCosts;
  /** The family of the checkpoint with this title (absent: SD 1.5's step cost). */
  familyOf?: (checkpointTitle: string) => ModelFamily | undefined;
}

export interface NodeWork {
  /** Modelled seconds, the switch included. */
  seconds: number;
  switchSeconds: number;
  /** `override_settings.sd_model_checkpoint`: what the node has loaded afterwards. */
  checkpointTitle: string;
}

type Body = Record<string, unknown>;
type Pass = 'first' | 'hires';
type StepSeconds = (pixels: number, pass: Pass) => number;

function numberField(body: Body, field: string, fallback?: number): number {
  const value = body[field] ?? fallback;
  if (typeof value !== 'number') throw new Error(`A1111 body has no number "${field}"`);
  return value;
}

function checkpointOf(body: Body): string {
  const title = (body['override_settings'] as Body | undefined)?.['sd_model_checkpoint'];
  if (typeof title !== 'string') throw new Error('A1111 body has no override_settings.sd_model_checkpoint');
  return title;
}

function controlNetUnitsOf(body: Body, pass: Pass): number {
  const scripts = body['alwayson_scripts'] as { controlnet?: { args?: Body[] } } | undefined;
  const skip = pass === 'first' ? 'High res only' : 'Low res only';
  return (scripts?.controlnet?.args ?? []).filter((u) => u['enabled'] === true && (u['hr_option'] ?? 'Both') !== skip).length;
}

/** Sampling seconds of one txt2img/img2img request (no switch). */
export function samplingSeconds(request: A1111Request, node: NodeTiming): number {
  const body = request.body;
  const timing: TimingOptions = { speed: Infinity, itPerSecond: node.itPerSecond, switchSeconds: node.switchSeconds, stepCosts: node.stepCosts ?? DEFAULT_STEP_COSTS };
  const family = node.familyOf?.(checkpointOf(body));
  const batchSize = numberField(body, 'batch_size', 1);
  const sampler = body['sampler_name'];
  if (typeof sampler !== 'string') throw new Error('A1111 body has no sampler_name');
  const step: StepSeconds = (pixels, pass) =>
    secondsPerStep(timing, { pixels, secondOrder: isSecondOrder(sampler), batchSize, controlNetUnits: controlNetUnitsOf(body, pass), ...(family === undefined ? {} : { family }) });
  const size = toLatentSize({ width: numberField(body, 'width'), height: numberField(body, 'height') });
  const steps = numberField(body, 'steps');
  const img2img = request.path === '/sdapi/v1/img2img';
  const firstSteps = img2img ? img2imgSteps(steps, numberField(body, 'denoising_strength')) : steps;
  let seconds = firstSteps * step(size.width * size.height, 'first');
  if (!img2img && body['enable_hr'] === true) seconds += hiresSeconds(body, node, step);
  return seconds * numberField(body, 'n_iter', 1);
}

/** The second pass: `calculate_target_resolution` by `hr_scale`, then an upscaler (free if latent) and sampling. */
function hiresSeconds(body: Body, node: NodeTiming, step: StepSeconds): number {
  const scale = numberField(body, 'hr_scale', 2);
  const target = toLatentSize({ width: Math.floor(numberField(body, 'width') * scale), height: Math.floor(numberField(body, 'height') * scale) });
  const pixels = target.width * target.height;
  const steps = numberField(body, 'hr_second_pass_steps', 0) || numberField(body, 'steps');
  const upscaler = body['hr_upscaler'] ?? 'Latent';
  if (typeof upscaler !== 'string') throw new Error('A1111 body has a non-string "hr_upscaler"');
  const upscale = node.latentUpscaleModes.includes(upscaler) ? 0 : upscalerSeconds(pixels * numberField(body, 'batch_size', 1));
  return upscale + steps * step(pixels, 'hires');
}

/** What the node spends on `request` with `loadedTitle` loaded. */
export function nodeWorkOf(request: A1111Request, node: NodeTiming, loadedTitle: string | null): NodeWork {
  if (request.path !== '/sdapi/v1/txt2img' && request.path !== '/sdapi/v1/img2img') {
    throw new Error(`the schedule simulator models txt2img and img2img only, not ${request.path}`);
  }
  const checkpointTitle = checkpointOf(request.body);
  const switchSeconds = checkpointTitle === loadedTitle ? 0 : node.switchSeconds;
  return { seconds: switchSeconds + samplingSeconds(request, node), switchSeconds, checkpointTitle };
}
