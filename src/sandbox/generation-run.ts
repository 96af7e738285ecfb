/**
 * @module sandbox/generation-run
 *
 * Runs a `GenerationPlan` as one queued job: load the checkpoint (paying a
 * switch when another one is loaded), sample each batch iteration for its
 * modelled time (hires fix as a second job of the iteration, as A1111 counts
 * it). Then, the queue lock let go, render and encode the images: A1111 encodes
 * its answer after leaving the lock (A.2, step 7), so the next job waiting on
 * it begins meanwhile. An interrupted job still answers 200 with images (A.4).
 */
import type { GenerationPlan } from './generation-plan.js';
import { holdsFluxModules } from './forge-fields.js';
import { renderImages } from './generation-render.js';
import { infoOf } from './infotext.js';
import type { RunningJob } from './running-job.js';
import { loadCheckpoint, type SandboxContext } from './sandbox-context.js';
import { isSecondOrder } from './a1111-tables.js';
import { secondsPerStep, toWallMs, upscalerSeconds } from './time-model.js';
import type { ModelFamily } from '../domain/families.js';

export interface GenerationResponse {
  images: string[];
  parameters: Record<string, unknown>;
  /** `Processed.js()` serialised: clients must parse it again. */
  info: string;
}

export async function runGeneration(ctx: SandboxContext, plan: GenerationPlan): Promise<GenerationResponse> {
  const { checkpoint, black, info } = await ctx.queue.run(plan.kind, async (job) => {
    const passes = plan.hires ? 2 : 1;
    job.jobCount = plan.nIter * passes;
    const checkpoint = plan.checkpoint ?? ctx.configured;
    const modules = plan.forge.modules ?? ctx.modules.configured;
    await loadCheckpoint(ctx, job, checkpoint, modules);
    if (plan.checkpoint && !plan.restoreAfterwards) ctx.configured = plan.checkpoint;
    if (plan.forge.modules && !plan.restoreAfterwards) ctx.modules.configured = plan.forge.modules;
    for (let iteration = 0; iteration < plan.nIter; iteration++) {
      job.beginIteration(iteration * passes);
      await sampleIteration(ctx, job, plan, iteration * passes, checkpoint.family);
    }
    // The refiner's load, paid once its turn comes (its steps are part of the sampling already timed); it stays loaded.
    if (plan.refiner) await loadCheckpoint(ctx, job, plan.refiner);
    ctx.counters.jobs++;
    // A Flux UNet without its VAE and text encoders: Forge decodes nothing usable (its users see black images).
    const black = checkpoint.needsModules === true && !holdsFluxModules(modules);
    return { checkpoint, black, info: infoOf(plan, checkpoint, job.jobTimestamp) };
  });
  // The next job queued on the lock begins first (sets its timer): rendering the pattern holds the event
  // loop for milliseconds, and a GPU would not wait for it.
  await new Promise((resolve) => setImmediate(resolve));
  const images = plan.sendImages ? await renderImages(plan, checkpoint, { black }) : [];
  return { images, parameters: plan.parameters, info: JSON.stringify(info) };
}

async function sampleIteration(ctx: SandboxContext, job: RunningJob, plan: GenerationPlan, jobNo: number, family: ModelFamily | undefined): Promise<void> {
  const firstPassUnits = plan.controlNet.filter((u) => u.hrOption !== 'High res only').length;
  const firstSteps = plan.img2img?.sampledSteps ?? plan.steps;
  const firstStepSeconds = secondsPerStep(ctx.timing, {
    pixels: plan.size.width * plan.size.height,
    secondOrder: isSecondOrder(plan.sampler.sampler),
    batchSize: plan.batchSize,
    controlNetUnits: firstPassUnits,
    ...(family === undefined ? {} : { family }),
  });
  await job.sample(jobNo, firstSteps, toWallMs(ctx.timing, firstSteps * firstStepSeconds));
  const hires = plan.hires;
  if (!hires) return;
  const pixels = hires.size.width * hires.size.height;
  if (!hires.latent) await job.wait('upscaler', toWallMs(ctx.timing, upscalerSeconds(pixels * plan.batchSize)));
  const secondStepSeconds = secondsPerStep(ctx.timing, {
    pixels,
    secondOrder: isSecondOrder(hires.sampler.sampler),
    batchSize: plan.batchSize,
    controlNetUnits: plan.controlNet.filter((u) => u.hrOption !== 'Low res only').length,
    ...(family === undefined ? {} : { family }),
  });
  await job.sample(jobNo + 1, hires.steps, toWallMs(ctx.timing, hires.steps * secondStepSeconds));
}
