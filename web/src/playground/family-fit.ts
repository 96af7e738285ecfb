/**
 * Which LoRAs and ControlNet models fit the chosen checkpoint. One made for
 * another family (an SD 1.5 LoRA with an SDXL checkpoint) is refused by the
 * gateway (docs/backends.md, "Model families"), so the form marks it where it
 * is offered and says so, in the gateway's words, where it is chosen, before
 * anything is sent. A family no one knows fits anything: the gateway holds it
 * to no family either. The families are the gateway's (`supportedModelInfo`),
 * not guessed here from names, so the page and the gateway agree.
 */
import type { ApiError } from '../api/client';
import type { FamilyInfo, ModelFamily, SupportedInfo } from '../api/types';
import type { FieldErrors } from './fields';
import type { GenerationForm } from './generation-form';

/** A family as the gateway lists it (`supportedModelInfo`'s `Families`); null before the listing comes, or for none. */
export function familyInfo(info: SupportedInfo | null, family: ModelFamily | null): FamilyInfo | null {
  return family === null ? null : (info?.Families.find((f) => f.name === family) ?? null);
}

/** "SDXL"; the family's name where the listing has no label for it. */
export const familyLabel = (info: SupportedInfo | null, family: ModelFamily): string => familyInfo(info, family)?.label ?? family;

/** "an SDXL model", "a Flux.1 model". */
function aModelOf(info: SupportedInfo | null, family: ModelFamily): string {
  const known = familyInfo(info, family);
  return known ? `${known.article} ${known.label} model` : `a ${family} model`;
}

/** Whether a model is an edit model (FLUX.1 Kontext, Qwen-Image-Edit): it edits an image it is given, in img2img only, with no mask. */
export function isEditModel(info: SupportedInfo | null, model: string): boolean {
  return familyInfo(info, modelFamilyOf(info, model))?.edits === true;
}

/** What a form runs its model for: an edit model runs only in img2img. */
export type ModelUse = 'txt2img' | 'img2img' | 'inpaint';

/** A checkpoint's family as the network knows it; null when no one does (then no family's rules apply). */
export function modelFamilyOf(info: SupportedInfo | null, model: string): ModelFamily | null {
  return info?.Models.find((m) => m.name === model)?.family ?? null;
}

export function loraFamilyOf(info: SupportedInfo | null, lora: string): ModelFamily | null {
  return info?.LoRAs.find((l) => l.name === lora)?.family ?? null;
}

export function controlNetFamilyOf(info: SupportedInfo | null, model: string): ModelFamily | null {
  return info?.ControlNet.models.find((m) => m.name === model)?.family ?? null;
}

/**
 * Whether something made for `family` may go with a checkpoint of `modelFamily`, as the gateway decides it: of the
 * same family, or of one whose LoRAs its models take (FLUX.1 Kontext takes Flux.1's: `info`'s `loraFamilies`).
 */
export function fits(family: ModelFamily | null, modelFamily: ModelFamily | null, info: SupportedInfo | null = null): boolean {
  return family === null || modelFamily === null || family === modelFamily || (familyInfo(info, modelFamily)?.loraFamilies?.includes(family) ?? false);
}

/** What an option made for another family says of itself ("— does not fit SDXL"); '' when it fits. */
export function misfitNote(family: ModelFamily | null, modelFamily: ModelFamily | null, info: SupportedInfo | null): string {
  return fits(family, modelFamily, info) ? '' : ` — does not fit ${familyLabel(info, modelFamily!)}`;
}

/**
 * The ControlNet model to use with a checkpoint of `modelFamily` for `preprocess`: `current` when it fits and
 * does that kind of work, else the first (served ones first) made for that family whose name says the kind
 * (`openpose` for `openpose_full`: `control_v11p_sd15_openpose`, `controlnet-openpose-sdxl-1.0`); null when
 * the network has none: an SDXL canny model does not stand in for an openpose one.
 */
export function controlNetFor(info: SupportedInfo | null, modelFamily: ModelFamily | null, preprocess: string, current: string): string | null {
  const kind = preprocess.toLowerCase().split('_')[0] ?? '';
  const ofKind = (name: string) => kind !== '' && name.toLowerCase().includes(kind);
  if (fits(controlNetFamilyOf(info, current), modelFamily) && ofKind(current)) return current;
  const models = info?.ControlNet.models ?? [];
  const fitting = models.filter((m) => ofKind(m.name) && (modelFamily === null || m.family === modelFamily));
  return (fitting.find((m) => m.available) ?? fitting[0])?.name ?? null;
}

/**
 * The id of the form's own refusal of a misfit. That refusal only brings the misfit into view (focused, scrolled
 * to): the message is `familyConflicts`' of the form as it stands, so it goes once the user resolves it.
 */
export const MISFIT = 'misfit';

/** Errors by field: `conflicts` (familyConflicts), then the refusal's, unless it is a misfit's (shown by the conflicts while they hold). */
export function withConflicts(conflicts: FieldErrors, refusal: ApiError | null, refused: (refusal: ApiError | null) => FieldErrors): FieldErrors {
  return { ...conflicts, ...refused(refusal?.error === MISFIT ? null : refusal) };
}

/**
 * The LoRAs and ControlNet model of the form that do not fit its checkpoint, by field, each in the gateway's
 * words and with what to do: the form shows them there at once and sends nothing while there are any.
 */
export function familyConflicts(form: GenerationForm, info: SupportedInfo | null, use: ModelUse = 'img2img'): FieldErrors {
  const modelFamily = modelFamilyOf(info, form.model);
  if (modelFamily === null) return {};
  const conflicts: FieldErrors = {};
  const model = `${form.model} is ${aModelOf(info, modelFamily)}`;
  // The gateway refuses an edit model's txt2img and a mask for it; said here at once, with where it does run.
  if (use !== 'img2img' && familyInfo(info, modelFamily)?.edits) {
    const what = use === 'txt2img' ? 'which edits an image it is given' : 'which edits a whole image, with no mask';
    conflicts['model'] = `${model}, ${what}: use it in img2img, or choose another model.`;
  }
  const label = (family: ModelFamily) => familyLabel(info, family);
  form.loras.forEach(({ name }, i) => {
    const family = loraFamilyOf(info, name);
    if (!fits(family, modelFamily, info)) conflicts[`loras[${i}]`] = `${name} is a LoRA for ${label(family!)} models; ${model}. Choose one for ${label(modelFamily)} models, or remove it.`;
  });
  const unit = form.controlNet.model;
  const unitFamily = controlNetFamilyOf(info, unit);
  if (form.controlNetOn && !fits(unitFamily, modelFamily)) {
    const any = info?.ControlNet.models.some((m) => m.family === modelFamily);
    const todo = any ? `Choose one for ${label(modelFamily)} models, or turn ControlNet off.` : `The network has none for ${label(modelFamily)} models: turn ControlNet off.`;
    conflicts['control_net[0].model'] = `${unit} is a ControlNet model for ${label(unitFamily!)} models; ${model}. ${todo}`;
  }
  return conflicts;
}
