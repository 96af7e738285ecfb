/**
 * A model of another family picked: the form moves to that family's settings
 * (docs/backends.md, "Model families"), or Generate is refused (Flux takes no
 * negative prompt; an SD 1.5 LoRA or ControlNet model does not fit SDXL).
 * What the user set and the new family takes stays: a size keeps its
 * proportions, a CFG other than the old family's own is kept where it is used.
 */
import type { ModelFamily, SupportedInfo } from '../api/types';
import { controlNetFamilyOf, controlNetFor, familyLabel, fits, loraFamilyOf, modelFamilyOf } from './family-fit';
import { type GenerationForm, guidanceOf } from './generation-form';

interface FamilySettings {
  /** The side it was trained at: the default width and height. */
  side: number;
  cfg_scale: number;
  sampler_name: string;
  steps: number;
  /** Its distilled guidance's default (Flux). */
  guidance?: number;
  /** What its sides are multiples of, when not 8 (the gateway rounds down to it). */
  sideMultiple?: number;
}

/**
 * The gateway's defaults for each family (docs/backends.md, "Model families"). Flux and Z-Image-Turbo take no
 * negative prompt and run at CFG 1 (the gateway's default for them; `guidanceOf`): Flux's strength is its
 * distilled guidance, shown instead of CFG. The user's CFG is kept for the next model that takes one.
 */
const FAMILIES: Record<ModelFamily, FamilySettings> = {
  sd15: { side: 512, cfg_scale: 7, sampler_name: 'Euler a', steps: 20 },
  sdxl: { side: 1024, cfg_scale: 7, sampler_name: 'Euler a', steps: 20 },
  flux: { side: 1024, cfg_scale: 1, sampler_name: 'Euler', steps: 20, guidance: 3.5 },
  flux2: { side: 1024, cfg_scale: 1, sampler_name: 'Euler', steps: 20, guidance: 4, sideMultiple: 16 },
  'qwen-image': { side: 1328, cfg_scale: 2.5, sampler_name: 'Euler', steps: 20 },
  'z-image-turbo': { side: 1024, cfg_scale: 1, sampler_name: 'Euler', steps: 8 },
};

const DEFAULT_CFGS: ReadonlySet<number> = new Set(Object.values(FAMILIES).map((f) => f.cfg_scale));
const DEFAULT_GUIDANCES: ReadonlySet<number> = new Set(Object.values(FAMILIES).flatMap((f) => (f.guidance === undefined ? [] : [f.guidance])));

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
  if (after === null || after === before) return { patch: { model }, notes: [] };
  // A form without a model of known family holds the playground's defaults, which are SD 1.5's.
  const from = FAMILIES[before ?? 'sd15'];
  const to = FAMILIES[after];
  const label = familyLabel(after);
  const patch: Partial<GenerationForm> = { model };
  const notes: string[] = [];
  const sizeKnown = Number.isFinite(form.width) && Number.isFinite(form.height) && form.width > 0 && form.height > 0;
  const multiple = to.sideMultiple ?? 8;
  const offGrid = form.width % multiple !== 0 || form.height % multiple !== 0;
  if (sizeKnown && (from.side !== to.side || offGrid)) Object.assign(patch, sizeAt(to.side, form.width, form.height, multiple));
  // Flux and Z-Image-Turbo show no CFG: the user's waits for the next model that takes one. A CFG of 1 left by a
  // Flux request of before (the gallery's "use these settings") is no SD model's.
  const guidance = guidanceOf(after);
  // A CFG that is some family's default was not the user's choice: the new family's own replaces it (SD's 7 left
  // under a Flux model is no Qwen-Image one's).
  if (guidance === 'cfg' && DEFAULT_CFGS.has(form.cfg_scale)) patch.cfg_scale = to.cfg_scale;
  if (form.sampler_name === from.sampler_name) patch.sampler_name = to.sampler_name;
  if (form.steps === from.steps && from.steps !== to.steps) patch.steps = to.steps;
  // Likewise a distilled guidance that is some family's default (Flux.1's 3.5, Flux.2's 4).
  if (to.guidance !== undefined && DEFAULT_GUIDANCES.has(form.guidance) && form.guidance !== to.guidance) patch.guidance = to.guidance;
  if (guidance !== 'cfg' && form.negative_prompt.trim() !== '') {
    patch.negative_prompt = '';
    notes.push(`${label} takes no negative prompt: it was cleared.`);
  }
  const loras = form.loras.filter((lora) => {
    const family = loraFamilyOf(info, lora.name);
    if (fits(family, after)) return true;
    notes.push(`LoRA ${lora.name} is for ${familyLabel(family!)} models: it was taken out.`);
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
      notes.push(other !== null ? `ControlNet model ${unit} is for ${familyLabel(unitFamily!)} models: ${other} was chosen instead.` : `ControlNet model ${unit} is for ${familyLabel(unitFamily!)} models: see ControlNet.`);
    }
  }
  const size = patch.width !== undefined ? `${patch.width} × ${patch.height}, ` : '';
  const strength = { distilled: `distilled guidance ${patch.guidance ?? form.guidance}`, cfg: `CFG ${patch.cfg_scale ?? form.cfg_scale}`, none: 'CFG 1' }[guidance];
  const steps = patch.steps !== undefined ? `, ${patch.steps} steps` : '';
  notes.unshift(`${label}'s settings: ${size}${strength}, ${patch.sampler_name ?? form.sampler_name}${steps}.`);
  return { patch, notes };
}
