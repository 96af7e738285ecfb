/**
 * The fields txt2img and img2img share: prompt, model and LoRAs from what the
 * connected nodes offer now (unavailable ones shown, disabled, saying why),
 * sampler, steps, CFG or Flux's distilled guidance, size, seed, and a
 * ControlNet unit. LoRAs and ControlNet models made for another family than
 * the checkpoint's are shown, disabled, saying so (family-fit.ts).
 */
import { useState } from 'preact/hooks';
import type { ModelFamily, NameInfo, SupportedInfo } from '../api/types';
import { withModel } from './family-defaults';
import { controlNetFamilyOf, controlNetFor, familyInfo, familyLabel, fits, misfitNote, modelFamilyOf } from './family-fit';
import { ChoiceField, Field, type FieldErrors, NumberInput, RESIZE_MODES, Select, useInputProps } from './fields';
import { type GenerationForm, guidanceOf, SIZE_PRESETS } from './generation-form';
import { ImageInput } from './image-input';

/**
 * A resource as an option: one no connected node serves is shown, disabled, saying so; so is one made for
 * another family than `modelFamily` (the checkpoint's), after those that fit, which the gateway would refuse.
 * `info`: the listing whose family labels it shows.
 */
export function resourceOptions(list: (NameInfo & { family?: ModelFamily | null })[], modelFamily: ModelFamily | null = null, info: SupportedInfo | null = null) {
  const fitting = (item: { family?: ModelFamily | null }) => fits(item.family ?? null, modelFamily, info);
  return [...list.filter(fitting), ...list.filter((item) => !fitting(item))].map((item) => {
    const family = item.family ?? null;
    const name = `${item.name}${family ? ` · ${familyLabel(info, family)}` : ''}${misfitNote(family, modelFamily, info)}`;
    return { value: item.name, label: item.available ? name : `${name} (no connected node has it)`, disabled: !item.available || !fitting(item) };
  });
}

interface Props {
  form: GenerationForm;
  update: (patch: Partial<GenerationForm>) => void;
  info: SupportedInfo | null;
  errors: FieldErrors;
  /** The seed of the last result, for "reuse last". */
  lastSeed: number | null;
}

export function PromptFields({ form, update, info, errors }: Pick<Props, 'form' | 'update' | 'info' | 'errors'>) {
  // Flux.1 and Z-Image-Turbo run without classifier-free guidance: nothing for a negative prompt to steer away from (the API refuses one).
  const family = familyInfo(info, modelFamilyOf(info, form.model));
  const noNegative = family !== null && guidanceOf(family) !== 'cfg' ? `${family.label} models take no negative prompt` : undefined;
  return (
    <>
      <Field name="prompt" label="Prompt" errors={errors}>
        <textarea {...useInputProps('prompt', errors)} rows={3} value={form.prompt} placeholder="a lighthouse on a cliff at dusk, oil painting" onInput={(e) => update({ prompt: e.currentTarget.value })} />
      </Field>
      <Field name="negative_prompt" label="Negative prompt" errors={errors} hint={noNegative}>
        <textarea {...useInputProps('negative_prompt', errors)} rows={2} value={noNegative ? '' : form.negative_prompt} disabled={noNegative !== undefined} onInput={(e) => update({ negative_prompt: e.currentTarget.value })} />
      </Field>
    </>
  );
}

export function ModelFields({ form, update, info, errors }: Omit<Props, 'lastSeed'>) {
  const setLora = (i: number, patch: Partial<GenerationForm['loras'][number]>) => update({ loras: form.loras.map((l, j) => (j === i ? { ...l, ...patch } : l)) });
  // What a move to another family changed, said until the next pick.
  const [moved, setMoved] = useState<string[]>([]);
  const noServer = info && !info.Models.some((m) => m.available) ? 'No connected node serves a model now' : undefined;
  const family = modelFamilyOf(info, form.model);
  // "Add a LoRA" adds one that fits the checkpoint (served ones first) and is not in the form yet: one of another
  // family would be refused, and so would one listed twice.
  const fitting = (info?.LoRAs ?? []).filter((l) => fits(l.family, family, info));
  const unused = fitting.filter((l) => !form.loras.some((used) => used.name === l.name));
  const toAdd = unused.find((l) => l.available) ?? unused[0];
  const noneFits = info !== null && info.LoRAs.length > 0 && fitting.length === 0 && family !== null;
  const allUsed = fitting.length > 0 && unused.length === 0;
  return (
    <>
      <div class="row">
        <Field name="model" label="Model" errors={errors} hint={noServer ?? (moved.length > 0 ? moved.join(' ') : undefined)}>
          <Select
            name="model"
            value={form.model}
            options={resourceOptions(info?.Models ?? [], null, info)}
            onChange={(v) => {
              const { patch, notes } = withModel(form, v, info);
              update(patch);
              setMoved(notes);
            }}
            errors={errors}
          />
        </Field>
        <Field name="sampler_name" label="Sampler" errors={errors}>
          <Select name="sampler_name" value={form.sampler_name} options={resourceOptions(info?.Samplers ?? [{ name: form.sampler_name, available: true }])} onChange={(v) => update({ sampler_name: v })} errors={errors} />
        </Field>
      </div>
      <fieldset class="loras">
        <legend>LoRAs</legend>
        {form.loras.map((lora, i) => (
          <div class="row" key={i}>
            <Field name={`loras[${i}]`} label={`LoRA ${i + 1}`} errors={errors}>
              <Select name={`loras[${i}]`} value={lora.name} options={resourceOptions(info?.LoRAs ?? [], family, info)} onChange={(v) => setLora(i, { name: v })} errors={errors} />
            </Field>
            <Field name={`loras[${i}].weight`} label="Weight" errors={errors}>
              <NumberInput name={`loras[${i}].weight`} value={lora.weight} min={-4} max={4} step={0.05} onChange={(v) => setLora(i, { weight: v })} errors={errors} />
            </Field>
            <button type="button" class="secondary" aria-label={`Remove LoRA ${i + 1}`} onClick={() => update({ loras: form.loras.filter((_, j) => j !== i) })}>
              Remove
            </button>
          </div>
        ))}
        {errors['loras'] && (
          <small class="field-error" role="alert">
            {errors['loras']}
          </small>
        )}
        <div class="buttons">
          <button type="button" class="secondary" disabled={toAdd === undefined} onClick={() => toAdd && update({ loras: [...form.loras, { name: toAdd.name, weight: 0.8 }] })}>
            Add a LoRA
          </button>
          {noneFits && <small class="hint">The network has no LoRA for {familyLabel(info, family)} models.</small>}
          {allUsed && <small class="hint">Every LoRA of the network{family ? ` for ${familyLabel(info, family)} models` : ''} is in the form.</small>}
        </div>
      </fieldset>
    </>
  );
}

export function SamplingFields({ form, update, info, errors, lastSeed }: Props) {
  const sizeKey = `${form.width}x${form.height}`;
  const family = familyInfo(info, modelFamilyOf(info, form.model));
  const guidance = guidanceOf(family);
  return (
    <>
      <div class="row">
        <Field name="steps" label="Steps" errors={errors}>
          <NumberInput name="steps" value={form.steps} min={1} max={150} onChange={(v) => update({ steps: v })} errors={errors} />
        </Field>
        {/* Flux runs at CFG 1, which the API takes for it and refuses to change: its strength is the distilled guidance, in
            CFG's place (keyed: a field of its own, not CFG's input holding CFG's text). Z-Image-Turbo takes neither. */}
        {guidance === 'distilled' ? (
          <Field key="guidance" name="guidance" label="Distilled guidance" errors={errors} hint={`${family!.label}'s strength in place of CFG, which it runs at 1${family!.backends === 'forge-or-comfyui' ? " (Forge's Distilled CFG Scale)" : ''}; ${family!.defaultGuidance ?? 3.5} is usual`}>
            <NumberInput name="guidance" value={form.guidance} min={0} max={30} step={0.5} onChange={(v) => update({ guidance: v })} errors={errors} />
          </Field>
        ) : guidance === 'none' ? (
          <Field key="no-cfg" name="cfg_scale" label="CFG scale" errors={errors} hint={`${family!.label} is distilled to run at CFG 1, with no guidance of either kind`}>
            <NumberInput name="cfg_scale" value={1} min={1} max={1} step={1} disabled onChange={() => undefined} errors={errors} />
          </Field>
        ) : (
          <Field key="cfg_scale" name="cfg_scale" label="CFG scale" errors={errors}>
            <NumberInput name="cfg_scale" value={form.cfg_scale} min={1} max={30} step={0.5} onChange={(v) => update({ cfg_scale: v })} errors={errors} />
          </Field>
        )}
      </div>
      <div class="row">
        <Field name="size" label="Size" errors={errors}>
          <Select
            name="size"
            value={SIZE_PRESETS.some(([w, h]) => `${w}x${h}` === sizeKey) ? sizeKey : 'free'}
            options={[...SIZE_PRESETS.map(([w, h]) => ({ value: `${w}x${h}`, label: `${w} × ${h}` })), { value: 'free', label: 'Other size' }]}
            onChange={(v) => {
              const [width, height] = v.split('x').map(Number);
              if (width && height) update({ width, height });
            }}
            errors={errors}
          />
        </Field>
        <Field name="width" label="Width" errors={errors}>
          <NumberInput name="width" value={form.width} min={64} max={2048} step={8} onChange={(v) => update({ width: v })} errors={errors} />
        </Field>
        <Field name="height" label="Height" errors={errors}>
          <NumberInput name="height" value={form.height} min={64} max={2048} step={8} onChange={(v) => update({ height: v })} errors={errors} />
        </Field>
      </div>
      <div class="row">
        <Field name="seed" label="Seed (-1: random)" errors={errors}>
          <NumberInput name="seed" value={form.seed} min={-1} onChange={(v) => update({ seed: v })} errors={errors} />
        </Field>
        <div class="buttons">
          <button type="button" class="secondary" onClick={() => update({ seed: -1 })}>
            Random
          </button>
          <button type="button" class="secondary" disabled={lastSeed === null} onClick={() => lastSeed !== null && update({ seed: lastSeed })}>
            Reuse last{lastSeed !== null ? ` (${lastSeed})` : ''}
          </button>
        </div>
      </div>
    </>
  );
}

export function ControlNetFields({ form, update, info, errors }: Omit<Props, 'lastSeed'>) {
  const cn = form.controlNet;
  const setCn = (patch: Partial<GenerationForm['controlNet']>) => update({ controlNet: { ...cn, ...patch } });
  const family = modelFamilyOf(info, form.model);
  // The model for a preprocessor: one of its kind that fits the checkpoint, when the network has one.
  const modelFor = (preprocess: string) => controlNetFor(info, family, preprocess, cn.model) ?? cn.model;
  return (
    <fieldset>
      <legend>
        <label>
          <input type="checkbox" checked={form.controlNetOn} onChange={(e) => update({ controlNetOn: e.currentTarget.checked, controlNet: { ...cn, model: fits(controlNetFamilyOf(info, cn.model), family) ? cn.model : modelFor(cn.preprocess) } })} /> ControlNet
        </label>
      </legend>
      {form.controlNetOn && (
        <>
          <Field name="control_net[0].image" label="Reference image" errors={errors}>
            <ImageInput name="control_net[0].image" value={cn.image} onChange={(image) => setCn({ image })} errors={errors} />
          </Field>
          <div class="row">
            <Field name="control_net[0].preprocess" label="Preprocessor" errors={errors}>
              <Select
                name="control_net[0].preprocess"
                value={cn.preprocess}
                options={resourceOptions(info?.ControlNet.preprocessors ?? [{ name: 'canny', available: true }, { name: 'openpose', available: true }])}
                onChange={(v) => setCn({ preprocess: v, model: modelFor(v) })}
                errors={errors}
              />
            </Field>
            <Field name="control_net[0].model" label="ControlNet model" errors={errors}>
              <Select name="control_net[0].model" value={cn.model} options={resourceOptions(info?.ControlNet.models ?? [{ name: 'sd15_canny', available: true }, { name: 'sd15_openpose', available: true }], family, info)} onChange={(v) => setCn({ model: v })} errors={errors} />
            </Field>
          </div>
          {cn.preprocess === 'canny' && (
            <div class="row">
              <Field name="control_net[0].preprocess_param1" label="Canny low threshold" errors={errors}>
                <NumberInput name="control_net[0].preprocess_param1" value={cn.preprocess_param1} min={1} max={255} onChange={(v) => setCn({ preprocess_param1: v })} errors={errors} />
              </Field>
              <Field name="control_net[0].preprocess_param2" label="Canny high threshold" errors={errors}>
                <NumberInput name="control_net[0].preprocess_param2" value={cn.preprocess_param2} min={1} max={255} onChange={(v) => setCn({ preprocess_param2: v })} errors={errors} />
              </Field>
            </div>
          )}
          <div class="row">
            <Field name="control_net[0].weight" label="Weight" errors={errors}>
              <NumberInput name="control_net[0].weight" value={cn.weight} min={0} max={2} step={0.05} onChange={(v) => setCn({ weight: v })} errors={errors} />
            </Field>
            <ChoiceField name="control_net[0].resize_mode" label="Resize mode" value={cn.resize_mode} choices={RESIZE_MODES} onChange={(v) => setCn({ resize_mode: v })} errors={errors} />
          </div>
          <div class="row">
            <Field name="control_net[0].guidance_start" label="Guidance start" errors={errors}>
              <NumberInput name="control_net[0].guidance_start" value={cn.guidance_start} min={0} max={1} step={0.05} onChange={(v) => setCn({ guidance_start: v })} errors={errors} />
            </Field>
            <Field name="control_net[0].guidance_end" label="Guidance end" errors={errors}>
              <NumberInput name="control_net[0].guidance_end" value={cn.guidance_end} min={0} max={1} step={0.05} onChange={(v) => setCn({ guidance_end: v })} errors={errors} />
            </Field>
            <label class="checkbox">
              <input type="checkbox" checked={cn.guessmode} onChange={(e) => setCn({ guessmode: e.currentTarget.checked })} /> Guess mode
            </label>
          </div>
        </>
      )}
    </fieldset>
  );
}
