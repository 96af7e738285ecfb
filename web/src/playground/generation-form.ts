/**
 * What txt2img and img2img share: prompt, model, LoRAs, sampler, steps, CFG
 * (or Flux's distilled guidance), size, seed and ControlNet, and the request
 * fields they make. What a form shows is exactly what is sent (no hidden
 * defaults), so "Show API call" and the request agree.
 */
import type { FamilyInfo } from '../api/types';

export interface LoraChoice {
  name: string;
  weight: number;
}

export interface ControlNetChoice {
  image: string | null;
  preprocess: string;
  model: string;
  preprocess_param1: number;
  preprocess_param2: number;
  weight: number;
  resize_mode: number;
  guidance_start: number;
  guidance_end: number;
  guessmode: boolean;
}

export interface GenerationForm {
  prompt: string;
  negative_prompt: string;
  model: string;
  loras: LoraChoice[];
  sampler_name: string;
  steps: number;
  cfg_scale: number;
  /** Flux's distilled guidance (Forge's "Distilled CFG Scale"): sent, and shown, for a Flux model only. */
  guidance: number;
  width: number;
  height: number;
  /** -1: a new random seed each time. */
  seed: number;
  controlNetOn: boolean;
  controlNet: ControlNetChoice;
}

export const SIZE_PRESETS: [number, number][] = [
  [512, 512],
  [512, 768],
  [768, 512],
  [768, 1024],
  [1024, 768],
  [1024, 1024],
];

export const defaultGeneration: GenerationForm = {
  prompt: '',
  negative_prompt: '',
  model: '',
  loras: [],
  sampler_name: 'Euler a',
  steps: 20,
  cfg_scale: 7,
  // The API's default for Flux (src/api/requests/rules.ts, guidanceRule).
  guidance: 3.5,
  width: 512,
  height: 512,
  seed: -1,
  controlNetOn: false,
  controlNet: {
    image: null,
    preprocess: 'canny',
    model: 'sd15_canny',
    preprocess_param1: 100,
    preprocess_param2: 200,
    weight: 1,
    resize_mode: 0,
    guidance_start: 0,
    guidance_end: 1,
    guessmode: false,
  },
};

/**
 * How a model of `family` is guided, as the gateway holds it (docs/backends.md, "Model families"): CFG with a
 * negative prompt; Flux's distilled guidance (Flux.1 and Flux.2), at CFG 1 (the API's default for it, so none
 * is sent); or neither, at CFG 1 (Z-Image-Turbo). `guidance` is refused for any model but Flux, one of unknown
 * family too.
 */
export function guidanceOf(family: FamilyInfo | null): FamilyInfo['guidance'] {
  return family?.guidance ?? 'cfg';
}

/** The request fields of the shared part; `family`: the model's (family-fit.ts `familyInfo`), which decides CFG or guidance. */
export function generationBody(form: GenerationForm, family: FamilyInfo | null): Record<string, unknown> {
  const guidance = guidanceOf(family);
  const strength = guidance === 'distilled' ? { guidance: form.guidance } : guidance === 'cfg' ? { cfg_scale: form.cfg_scale } : {};
  const body: Record<string, unknown> = {
    prompt: form.prompt,
    // None for Flux.1 and Z-Image-Turbo (the API refuses one; its field is disabled).
    ...(guidance === 'cfg' ? { negative_prompt: form.negative_prompt } : {}),
    model: form.model,
    sampler_name: form.sampler_name,
    steps: form.steps,
    ...strength,
    width: form.width,
    height: form.height,
    seed: form.seed,
  };
  if (form.loras.length > 0) body['loras'] = form.loras.map((lora) => [lora.name, lora.weight]);
  if (form.controlNetOn) body['control_net'] = [{ ...form.controlNet, image: form.controlNet.image ?? '' }];
  return body;
}

/** The shared part of a form from a request made before (a gallery item's parameters). */
export function generationFormOf(params: Record<string, unknown>): GenerationForm {
  const form: GenerationForm = structuredClone(defaultGeneration);
  for (const key of ['prompt', 'negative_prompt', 'model', 'sampler_name'] as const) {
    if (typeof params[key] === 'string') form[key] = params[key];
  }
  for (const key of ['steps', 'cfg_scale', 'guidance', 'width', 'height', 'seed'] as const) {
    if (typeof params[key] === 'number') form[key] = params[key];
  }
  if (Array.isArray(params['loras'])) form.loras = (params['loras'] as [string, number][]).map(([name, weight]) => ({ name, weight }));
  const unit = (params['control_net'] as Partial<ControlNetChoice>[] | undefined)?.[0];
  if (unit) form.controlNet = { ...form.controlNet, ...unit, image: null };
  form.controlNetOn = unit !== undefined;
  return form;
}

/**
 * The form's name for a request field the API refused: a LoRA is a `[name, weight]` pair in the request
 * (`loras[0][0]`, `loras[0][1]`), a row of two fields in the form (`loras[0]`, `loras[0].weight`).
 */
export function formFieldOf(field: string): string {
  return field.replace(/^loras\[(\d+)\]\[0\]$/, 'loras[$1]').replace(/^loras\[(\d+)\]\[1\]$/, 'loras[$1].weight');
}

/** The fields the shared part shows (by their form names), each with a place for its error. */
const SHOWN = /^(prompt|negative_prompt|model|sampler_name|steps|cfg_scale|guidance|width|height|seed|loras(\[\d+\](\.weight)?)?|control_net\[0\]\.(image|preprocess|model|preprocess_param1|preprocess_param2|weight|resize_mode|guidance_start|guidance_end))$/;

/**
 * Fields of the shared part that `form` shows, for telling a refusal of one of them from one the form has no
 * place for (those go to the top of the form: `control_net[0].guessmode`, a whole `control_net`). A LoRA's
 * is shown only while the form has its row: one typed in the prompt (`<lora:NAME:W>`) is refused as the
 * LoRA after those of the field (`loras[0]` when there are none), which has no row.
 */
export function isGenerationField(field: string, form: GenerationForm): boolean {
  const row = /^loras\[(\d+)\]/.exec(field);
  return SHOWN.test(field) && (row === null || Number(row[1]) < form.loras.length);
}
