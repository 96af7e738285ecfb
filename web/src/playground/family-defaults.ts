/**
 * A model of another family picked: the form moves to that family's settings
 * (docs/backends.md, "Model families"), or Generate is refused (Flux takes no
 * negative prompt; an SD 1.5 LoRA or ControlNet model does not fit SDXL).
 * What the user set and the new family takes stays: a size keeps its
 * proportions, a CFG other than the old family's own is kept where it is used.
 */
import type { FamilyInfo, SupportedInfo } from '../api/types';
import { controlNetFamilyOf, controlNetFor, familyInfo, familyLabel, fits, loraFamilyOf, modelFamilyOf } from './family-fit';
import { type GenerationForm, guidanceOf } from './generation-form';

/**
 * The families' defaults are the gateway's own (`supportedModelInfo`'s `Families`), so the form moves to what the
 * gateway would read a request with. Flux and Z-Image-Turbo take no negative prompt and run at CFG 1
 * (`guidanceOf`): Flux's strength is its distilled guidance, shown instead of CFG. The user's CFG is kept for the
 * next model that takes one; a value that is some family's default was not the user's choice, and the new
 * family's own replaces it.
 */
function familyDefaults(info: SupportedInfo | null): { cfgs: ReadonlySet<number>; guidances: ReadonlySet<number> } {
  const families = info?.Families ?? [];
  return {
    cfgs: new Set(families.map((f) => f.defaultCfgScale)),
    guidances: new Set(families.flatMap((f) => (f.defaultGuidance === null ? [] : [f.defaultGuidance]))),
  };
}

/** A size of `width` × `height`'s proportions at about `side`² pixels, in multiples of `multiple` (8; Flux.2's 16). */
function sizeAt(side: number, width: number, height: number, multiple: number): { width: number; height: number } {
  const scale = side / Math.sqrt(width * height);
  const round = (v: number) => Math.max(64, Math.round((v * scale) / multiple) * multiple);
  return { width: round(width), height: round(height) };
}

/**
 * The change to the form when `model` is picked, and what it says of it ("Flux.1 takes no negative prompt:
 * cleared"). The same family, or a model of unknown family: only the model changes.
 */
export function withModel(form: GenerationForm, model: string, info: SupportedInfo | null): { patch: Partial<GenerationForm>; notes: string[] } {
  const before = modelFamilyOf(info, form.model);
  const after = modelFamilyOf(info, model);
  // A form without a model of known family holds the playground's defaults, which are SD 1.5's.
  const from: FamilyInfo | null = familyInfo(info, before ?? 'sd15');
  const to = familyInfo(info, after);
  if (after === null || after === before || from === null || to === null) return { patch: { model }, notes: [] };
  const label = to.label;
  const defaults = familyDefaults(info);
  const patch: Partial<GenerationForm> = { model };
  const notes: string[] = [];
  const sizeKnown = Number.isFinite(form.width) && Number.isFinite(form.height) && form.width > 0 && form.height > 0;
  const offGrid = form.width % to.sideMultiple !== 0 || form.height % to.sideMultiple !== 0;
  if (sizeKnown && (from.nativeSide !== to.nativeSide || offGrid)) Object.assign(patch, sizeAt(to.nativeSide, form.width, form.height, to.sideMultiple));
  const guidance = guidanceOf(to);
  if (guidance === 'cfg' && defaults.cfgs.has(form.cfg_scale)) patch.cfg_scale = to.defaultCfgScale;
  if (form.sampler_name === from.defaultSampler) patch.sampler_name = to.defaultSampler;
  if (form.steps === from.defaultSteps && from.defaultSteps !== to.defaultSteps) patch.steps = to.defaultSteps;
  if (to.defaultGuidance !== null && defaults.guidances.has(form.guidance) && form.guidance !== to.defaultGuidance) patch.guidance = to.defaultGuidance;
  if (guidance !== 'cfg' && form.negative_prompt.trim() !== '') {
    patch.negative_prompt = '';
    notes.push(`${label} takes no negative prompt: it was cleared.`);
  }
  const loras = form.loras.filter((lora) => {
    const family = loraFamilyOf(info, lora.name);
    if (fits(family, after, info)) return true;
    notes.push(`LoRA ${lora.name} is for ${familyLabel(info, family!)} models: it was taken out.`);
    return false;
  });
  if (loras.length !== form.loras.length) patch.loras = loras;
  // The ControlNet model: the new family's of the same kind (canny for canny) when the network has one; else it
  // stays, marked where it is chosen (family-fit.ts), for the user to choose another or turn ControlNet off.
  const unit = form.controlNet.model;
  const unitFamily = controlNetFamilyOf(info, unit);
  if (!fits(unitFamily, after)) {
    const other = controlNetFor(info, after, form.controlNet.preprocess, unit);
    if (other !== null) patch.controlNet = { ...form.controlNet, model: other };
    if (form.controlNetOn) {
      notes.push(other !== null ? `ControlNet model ${unit} is for ${familyLabel(info, unitFamily!)} models: ${other} was chosen instead.` : `ControlNet model ${unit} is for ${familyLabel(info, unitFamily!)} models: see ControlNet.`);
    }
  }
  const size = patch.width !== undefined ? `${patch.width} × ${patch.height}, ` : '';
  const strength = { distilled: `distilled guidance ${patch.guidance ?? form.guidance}`, cfg: `CFG ${patch.cfg_scale ?? form.cfg_scale}`, none: 'CFG 1' }[guidance];
  const steps = patch.steps !== undefined ? `, ${patch.steps} steps` : '';
  notes.unshift(`${label}'s settings: ${size}${strength}, ${patch.sampler_name ?? form.sampler_name}${steps}.`);
  return { patch, notes };
}
