/**
 * @module sandbox/infotext
 *
 * The "parameters" text A1111 writes into each PNG and `info.infotexts`
 * (backends.md A.4), and the `info` object (`Processed.js()`), for the
 * checkpoint that actually ran the job. `Version: sandbox` marks our output.
 */
import type { ControlUnitPlan } from './controlnet-units.js';
import type { GenerationPlan } from './generation-plan.js';
import type { CheckpointRecord } from './inventory.js';
import { pyBool, pyFloat } from './py-format.js';

const SANDBOX_VERSION = 'sandbox';

function quoteIfNeeded(value: string): string {
  return /[,:\n"]/.test(value) ? JSON.stringify(value) : value;
}

function controlNetEntry(unit: ControlUnitPlan): string {
  const fields: [string, string][] = [
    ['Module', unit.module],
    ['Model', unit.model],
    ['Weight', pyFloat(unit.weight)],
    ['Resize Mode', unit.resizeMode],
    ['Processor Res', String(unit.processorRes)],
    ['Threshold A', pyFloat(unit.thresholdA)],
    ['Threshold B', pyFloat(unit.thresholdB)],
    ['Guidance Start', pyFloat(unit.guidanceStart)],
    ['Guidance End', pyFloat(unit.guidanceEnd)],
    ['Pixel Perfect', pyBool(unit.pixelPerfect)],
    ['Control Mode', unit.controlMode],
  ];
  return fields.map(([k, v]) => `${k}: ${v}`).join(', ');
}

/** The generation parameters line, in A1111's key order; absent values are left out. */
function parameterEntries(plan: GenerationPlan, index: number, checkpoint: CheckpointRecord): [string, string][] {
  const entries: [string, string | null][] = [
    ['Steps', String(plan.steps)],
    ['Sampler', plan.sampler.sampler],
    ['Schedule type', plan.sampler.schedulerLabel],
    ['CFG scale', pyFloat(plan.cfgScale)],
    // Forge's, for Flux.
    ['Distilled CFG Scale', plan.forge.distilledCfgScale === null ? null : pyFloat(plan.forge.distilledCfgScale)],
    ['Seed', String(plan.seeds[index] ?? 0)],
    ['Size', `${plan.requested.width}x${plan.requested.height}`],
    ['Model hash', checkpoint.shorthash],
    ['Model', checkpoint.stem],
    ['Variation seed', plan.subseedStrength > 0 ? String(plan.subseeds[index] ?? 0) : null],
    ['Variation seed strength', plan.subseedStrength > 0 ? pyFloat(plan.subseedStrength) : null],
    ['Denoising strength', denoisingOf(plan)],
    ...Object.entries(plan.hires?.infotext ?? {}),
    ['Hires CFG Scale', plan.hires && plan.forge.hrCfg !== null ? pyFloat(plan.forge.hrCfg) : null],
    ['Lora hashes', plan.loras.length > 0 ? plan.loras.map((l) => `${l.name}: ${l.shorthash}`).join(', ') : null],
    ...plan.controlNet.map((u): [string, string] => [`ControlNet ${u.index}`, controlNetEntry(u)]),
    ['Version', SANDBOX_VERSION],
  ];
  return entries.filter((e): e is [string, string] => e[1] !== null);
}

function denoisingOf(plan: GenerationPlan): string | null {
  const strength = plan.img2img?.denoisingStrength ?? plan.hires?.denoisingStrength;
  return strength === undefined ? null : pyFloat(strength);
}

export function infotextOf(plan: GenerationPlan, index: number, checkpoint: CheckpointRecord): string {
  const lines = [plan.prompt];
  if (plan.negativePrompt) lines.push(`Negative prompt: ${plan.negativePrompt}`);
  lines.push(parameterEntries(plan, index, checkpoint).map(([k, v]) => `${k}: ${quoteIfNeeded(v)}`).join(', '));
  return lines.join('\n');
}

/** `Processed.js()`; the response carries it as a JSON string. */
export function infoOf(plan: GenerationPlan, checkpoint: CheckpointRecord, jobTimestamp: string): Record<string, unknown> {
  const count = plan.seeds.length;
  return {
    prompt: plan.prompt,
    all_prompts: Array<string>(count).fill(plan.prompt),
    negative_prompt: plan.negativePrompt,
    all_negative_prompts: Array<string>(count).fill(plan.negativePrompt),
    seed: plan.seeds[0],
    all_seeds: plan.seeds,
    subseed: plan.subseeds[0],
    all_subseeds: plan.subseeds,
    subseed_strength: plan.subseedStrength,
    width: plan.requested.width,
    height: plan.requested.height,
    sampler_name: plan.sampler.sampler,
    cfg_scale: plan.cfgScale,
    steps: plan.steps,
    batch_size: plan.batchSize,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: checkpoint.stem,
    sd_model_hash: checkpoint.shorthash,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: plan.img2img?.denoisingStrength ?? plan.hires?.denoisingStrength ?? 0,
    extra_generation_params: extraParamsOf(plan),
    index_of_first_image: 0,
    infotexts: plan.seeds.map((_, i) => infotextOf(plan, i, checkpoint)),
    styles: [],
    job_timestamp: jobTimestamp,
    clip_skip: 1,
    is_using_inpainting_conditioning: false,
    version: SANDBOX_VERSION,
  };
}

function extraParamsOf(plan: GenerationPlan): Record<string, string> {
  const extra: Record<string, string> = { ...plan.hires?.infotext };
  if (plan.loras.length > 0) extra['Lora hashes'] = plan.loras.map((l) => `${l.name}: ${l.shorthash}`).join(', ');
  for (const unit of plan.controlNet) extra[`ControlNet ${unit.index}`] = controlNetEntry(unit);
  return extra;
}
