/**
 * @module domain/binding
 *
 * Binding a spec to one node: for every resource the spec names, the node's own
 * name for it. The same function answers "can this node serve this task?" (it
 * binds) and "why not?" (the list of what is missing), so the gateway's refusals
 * and the scheduler's matching can never disagree.
 */
import { Type, type Static } from '@sinclair/typebox';
import { catalogControlNetModels, toNameKey } from './catalog.js';
import { familyTraits, fluxModulesOf, type ModelFamily } from './families.js';
import type { NodeOffering } from './offering.js';
import { resolveSampler } from './samplers.js';
import { type DiffusionSpec, type GenerationSpec, peakPixelsOf, type ResourceRef } from './spec.js';

const Local = Type.String({ maxLength: 512 });

/** Node-local names for what a spec uses; sent with the task so the driver needs no catalog. */
export const Binding = Type.Object(
  {
    /** `sd_model_checkpoint` title on this node. */
    checkpoint: Type.Optional(Local),
    /** The refiner checkpoint's title on this node (SDXL). */
    refiner: Type.Optional(Local),
    /** Local LoRA names, in the order of `spec.loras`. */
    loras: Type.Optional(Type.Array(Local, { maxItems: 64 })),
    sampler: Type.Optional(
      Type.Object({ sampler: Local, scheduler: Type.Union([Local, Type.Null()]) }, { additionalProperties: false }),
    ),
    hiresUpscaler: Type.Optional(Local),
    /** Local ControlNet model title and module, in the order of `spec.controlNet`. */
    controlNet: Type.Optional(
      Type.Array(Type.Object({ model: Local, module: Local }, { additionalProperties: false }), { maxItems: 16 }),
    ),
    upscaler: Type.Optional(Local),
    upscaler2: Type.Optional(Local),
    interrogator: Type.Optional(Local),
    /**
     * Forge: the VAE and text-encoder files to load with the checkpoint (`forge_additional_modules`):
     * Flux's; empty for other models, which the node then sends its owner's own choice (a VAE), never
     * Flux's, which would stay on otherwise. Absent: not Forge.
     */
    forgeModules: Type.Optional(Type.Array(Local, { maxItems: 8 })),
  },
  { additionalProperties: false },
);
export type Binding = Static<typeof Binding>;

export type BindOutcome = { ok: true; binding: Binding } | { ok: false; missing: string[] };

/** The node's name for a catalog ControlNet model (`sd15_canny` → `control_v11p_sd15_canny [d14c016b]`). */
export function findControlNetModel(danName: string, titles: readonly string[]): string | undefined {
  const entry = catalogControlNetModels.find((m) => m.name === danName);
  const stems = entry ? entry.stems : [danName.toLowerCase()];
  return titles.find((title) => {
    const stem = title.replace(/\s*\[[0-9a-fA-F]+\]$/, '').toLowerCase();
    return stems.some((s) => stem === s || stem.includes(s));
  });
}

/** The node's name for an upscaler, compared by `toNameKey` (so `ESRGAN 4x` meets `ESRGAN_4x`). */
export function findByNameKey(wanted: string, names: readonly string[]): string | undefined {
  const key = toNameKey(wanted);
  return names.find((n) => toNameKey(n) === key);
}

function bindDiffusion(spec: DiffusionSpec, offering: NodeOffering, missing: string[], networkFamily: ModelFamily | null): Binding {
  const caps = offering.capabilities;
  const binding: Binding = {};
  const model = offering.models.get(spec.model.id);
  if (model) binding.checkpoint = model.title;
  else missing.push(`model ${spec.model.name}`);
  if (spec.kind === 'txt2img' && spec.refiner) {
    const refiner = offering.models.get(spec.refiner.model.id);
    if (refiner) binding.refiner = refiner.title;
    else missing.push(`refiner ${spec.refiner.model.name}`);
  }
  // Of the A1111-compatible WebUIs only Forge runs Flux, with its text encoders and VAE named as modules; the
  // newer families only ComfyUI (as DAN drives them). The family is the node's word for its file, else the
  // network's (the catalog's, or another node's, which the request was read with): a WebUI that cannot tell
  // its copy of a Qwen-Image file is no place to run it.
  if (caps.backend.kind === 'a1111') {
    const modules = caps.backend.modules;
    const family = model?.family ?? networkFamily;
    const traits = family ? familyTraits[family] : null;
    if (traits?.backends === 'comfyui') missing.push(`a backend that runs ${traits.label} models (ComfyUI) for ${spec.model.name}`);
    else if (modules !== undefined && family === 'flux') {
      const flux = fluxModulesOf(modules);
      if ('found' in flux) binding.forgeModules = flux.found;
      else missing.push(`Flux's VAE and both text encoders as Forge modules for ${spec.model.name} (the node has only ${flux.partial.join(', ')})`);
    } else if (modules !== undefined) binding.forgeModules = [];
    else if (traits?.backends === 'forge-or-comfyui') missing.push(`a backend that runs ${traits.label} models (Forge or ComfyUI) for ${spec.model.name}`);
  }

  binding.loras = spec.loras.map(({ lora }) => {
    const offer = offering.loras.get(lora.id);
    if (!offer) missing.push(`LoRA ${lora.name}`);
    return offer?.localName ?? '';
  });

  const sampler = resolveSampler(spec.sampler, caps.samplers, caps.schedulers);
  if (sampler) binding.sampler = sampler;
  else missing.push(`sampler "${spec.sampler}"`);

  if (spec.kind === 'txt2img' && spec.hires) {
    const name = findByNameKey(spec.hires.upscaler, [...caps.latentUpscaleModes, ...caps.upscalers]);
    if (name) binding.hiresUpscaler = name;
    else missing.push(`hires upscaler "${spec.hires.upscaler}"`);
  }

  if (spec.controlNet.length > 0) binding.controlNet = bindControlNet(spec, offering, missing);
  return binding;
}

function bindControlNet(spec: DiffusionSpec, offering: NodeOffering, missing: string[]) {
  const cn = offering.capabilities.controlNet;
  if (!cn) {
    missing.push('the ControlNet extension');
    return [];
  }
  if (spec.controlNet.length > cn.maxUnits) missing.push(`${spec.controlNet.length} ControlNet units (node allows ${cn.maxUnits})`);
  return spec.controlNet.map((unit) => {
    const model = findControlNetModel(unit.model, cn.models);
    if (!model) missing.push(`ControlNet model ${unit.model}`);
    const module = cn.modules.find((m) => m.toLowerCase() === unit.module.toLowerCase());
    if (!module) missing.push(`ControlNet preprocessor ${unit.module}`);
    // Guess mode is sd-webui-controlnet's control mode; ComfyUI's core has no equivalent.
    if (unit.guessMode && offering.capabilities.backend.kind !== 'a1111') missing.push('ControlNet guess mode (an A1111 WebUI with the ControlNet extension)');
    return { model: model ?? '', module: module ?? '' };
  });
}

/**
 * Everything of `spec` that `bindSpec` reads, as one string: two specs with the same key bind alike
 * on every node (same binding, or the same things missing). Prompts, seeds, steps and images do not
 * count, so a queue of thousands of tasks has a handful of keys, and the scheduler binds each key
 * once per node instead of each task (scheduler.ts).
 */
export function needsKeyOf(spec: GenerationSpec): string {
  const parts: (string | number)[] = [spec.kind, peakPixelsOf(spec)];
  switch (spec.kind) {
    case 'txt2img':
    case 'img2img':
      parts.push(spec.model.id, spec.sampler, spec.loras.map((l) => l.lora.id).join('+'), spec.kind === 'txt2img' && spec.refiner ? `refiner:${spec.refiner.model.id}` : '');
      if (spec.kind === 'txt2img' && spec.hires) parts.push(`hires:${spec.hires.upscaler}`);
      for (const unit of spec.controlNet) parts.push(`cn:${unit.model}:${unit.module}:${unit.guessMode ? 'guess' : ''}`);
      break;
    case 'interrogate':
      parts.push(spec.interrogator);
      break;
    case 'upscale':
      parts.push(spec.upscaler, spec.upscaler2 ?? '');
      break;
  }
  // JSON keeps names apart whatever characters they hold.
  return JSON.stringify(parts);
}

/** The family the network knows `spec`'s model by (through `familyOf`, the gateway's catalog); null for a task without a model. */
export function networkFamilyOf(spec: GenerationSpec, familyOf: ((model: ResourceRef) => ModelFamily | null) | undefined): ModelFamily | null {
  return familyOf !== undefined && (spec.kind === 'txt2img' || spec.kind === 'img2img') ? familyOf(spec.model) : null;
}

/**
 * Binds `spec` to the node behind `offering`, or lists what the node lacks. `networkFamily`: the family the
 * network knows the task's model by (what its request was read with), for a node that cannot tell its file's.
 */
export function bindSpec(spec: GenerationSpec, offering: NodeOffering, networkFamily: ModelFamily | null = null): BindOutcome {
  const caps = offering.capabilities;
  const missing: string[] = [];
  let binding: Binding = {};
  switch (spec.kind) {
    case 'txt2img':
    case 'img2img':
      binding = bindDiffusion(spec, offering, missing, networkFamily);
      break;
    case 'interrogate': {
      const name = caps.interrogators.find((i) => i.toLowerCase() === spec.interrogator.toLowerCase());
      if (name) binding.interrogator = name;
      else missing.push(`interrogator ${spec.interrogator}`);
      break;
    }
    case 'upscale': {
      const first = findByNameKey(spec.upscaler, caps.upscalers);
      if (first) binding.upscaler = first;
      else missing.push(`upscaler "${spec.upscaler}"`);
      if (spec.upscaler2 !== null) {
        const second = findByNameKey(spec.upscaler2, caps.upscalers);
        if (second) binding.upscaler2 = second;
        else missing.push(`upscaler "${spec.upscaler2}"`);
      }
      break;
    }
  }
  const pixels = peakPixelsOf(spec);
  if (pixels > caps.maxPixels) missing.push(`room for ${pixels} pixels (node allows ${caps.maxPixels})`);
  return missing.length === 0 ? { ok: true, binding } : { ok: false, missing };
}
