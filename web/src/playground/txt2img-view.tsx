/**
 * txt2img: prompt, model and LoRAs from what the connected nodes offer now,
 * sampler, steps, CFG, size, seed, hires upscale and ControlNet; submitted
 * async and followed to its end.
 */
import { useEffect, useState } from 'preact/hooks';
import type { NameInfo, ResourceInfo, SupportedInfo, TaskStatus } from '../api/types';
import { ApiCall } from './api-call';
import { Field, type FieldErrors, inputProps, NumberInput, Select } from './fields';
import { ImageInput } from './image-input';
import { TaskPanel } from './task-panel';
import { defaultTxt2Img, SIZE_PRESETS, type Txt2ImgForm, txt2imgBody } from './txt2img-form';
import { isActive, useTask } from './use-task';

interface Props {
  info: SupportedInfo | null;
  /** Settings to start from ("use these settings" in the gallery); a new object each time it is used. */
  preset: Txt2ImgForm | null;
  onEnd: (status: TaskStatus, body: Record<string, unknown>) => void;
}

/** A resource as an option: one no connected node serves is shown, disabled, saying so. */
function resourceOptions(list: (ResourceInfo | NameInfo)[]) {
  return list.map((item) => ({ value: item.name, label: item.available ? item.name : `${item.name} (no connected node has it)`, disabled: !item.available }));
}

/** The API's refusal as messages by field; one that names no field of the form goes to the form's top. */
export function errorsOf(refusal: { field: string | null; message: string } | null): FieldErrors {
  if (!refusal) return {};
  return { [refusal.field ?? '_form']: refusal.message };
}

export function Txt2ImgView({ info, preset, onEnd }: Props) {
  const [form, setForm] = useState<Txt2ImgForm>(preset ?? defaultTxt2Img);
  const [lastSeed, setLastSeed] = useState<number | null>(null);
  const { run, start, cancel } = useTask((status, body) => {
    if (status.seeds?.[0] !== undefined) setLastSeed(status.seeds[0]);
    onEnd(status, body);
  });
  useEffect(() => {
    if (preset) setForm(preset);
  }, [preset]);
  // The first model a node serves, once the network is known.
  useEffect(() => {
    if (!info || form.model !== '') return;
    const first = info.Models.find((m) => m.available) ?? info.Models[0];
    if (first) setForm((f) => ({ ...f, model: first.name }));
  }, [info]);

  const set = <K extends keyof Txt2ImgForm>(key: K, value: Txt2ImgForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const setUpscale = (patch: Partial<Txt2ImgForm['upscale']>) => setForm((f) => ({ ...f, upscale: { ...f.upscale, ...patch } }));
  const setCn = (patch: Partial<Txt2ImgForm['controlNet']>) => setForm((f) => ({ ...f, controlNet: { ...f.controlNet, ...patch } }));
  const body = txt2imgBody(form);
  const errors = errorsOf(run.refusal);
  const fieldNames = new Set(['prompt', 'negative_prompt', 'model', 'sampler_name', 'steps', 'cfg_scale', 'width', 'height', 'seed', 'upscale.scale', 'upscale.upscaler', 'upscale.denoising_strength', 'loras']);
  const formError = Object.entries(errors).find(([field]) => !fieldNames.has(field) && !field.startsWith('control_net') && !field.startsWith('loras'));
  const sizeKey = `${form.width}x${form.height}`;

  return (
    <form
      class="playground-form"
      aria-label="txt2img"
      // The gateway checks every field and says what is allowed; the browser's own checks would stop a request before it.
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        void start('txt2img', body);
      }}
    >
      <Field name="prompt" label="Prompt" errors={errors}>
        <textarea {...inputProps('prompt', errors)} rows={3} value={form.prompt} placeholder="a lighthouse on a cliff at dusk, oil painting" onInput={(e) => set('prompt', e.currentTarget.value)} />
      </Field>
      <Field name="negative_prompt" label="Negative prompt" errors={errors}>
        <textarea {...inputProps('negative_prompt', errors)} rows={2} value={form.negative_prompt} onInput={(e) => set('negative_prompt', e.currentTarget.value)} />
      </Field>
      <div class="row">
        <Field name="model" label="Model" errors={errors} hint={info && !info.Models.some((m) => m.available) ? 'No connected node serves a model now' : undefined}>
          <Select name="model" value={form.model} options={resourceOptions(info?.Models ?? [])} onChange={(v) => set('model', v)} errors={errors} />
        </Field>
        <Field name="sampler_name" label="Sampler" errors={errors}>
          <Select name="sampler_name" value={form.sampler_name} options={resourceOptions(info?.Samplers ?? [{ name: form.sampler_name, available: true }])} onChange={(v) => set('sampler_name', v)} errors={errors} />
        </Field>
      </div>
      <fieldset class="loras">
        <legend>LoRAs</legend>
        {form.loras.map((lora, i) => (
          <div class="row" key={i}>
            <Field name={`loras[${i}]`} label={`LoRA ${i + 1}`} errors={errors}>
              <Select name={`loras[${i}]`} value={lora.name} options={resourceOptions(info?.LoRAs ?? [])} onChange={(v) => set('loras', form.loras.map((l, j) => (j === i ? { ...l, name: v } : l)))} errors={errors} />
            </Field>
            <Field name={`loras[${i}].weight`} label="Weight" errors={errors}>
              <NumberInput name={`loras[${i}].weight`} value={lora.weight} min={-4} max={4} step={0.05} onChange={(v) => set('loras', form.loras.map((l, j) => (j === i ? { ...l, weight: v } : l)))} errors={errors} />
            </Field>
            <button type="button" class="secondary" aria-label={`Remove LoRA ${i + 1}`} onClick={() => set('loras', form.loras.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        {errors['loras'] && <small class="field-error" role="alert">{errors['loras']}</small>}
        <button type="button" class="secondary" disabled={!info?.LoRAs.length} onClick={() => set('loras', [...form.loras, { name: info?.LoRAs.find((l) => l.available)?.name ?? info?.LoRAs[0]?.name ?? '', weight: 0.8 }])}>
          Add a LoRA
        </button>
      </fieldset>
      <div class="row">
        <Field name="steps" label="Steps" errors={errors}>
          <NumberInput name="steps" value={form.steps} min={1} max={150} onChange={(v) => set('steps', v)} errors={errors} />
        </Field>
        <Field name="cfg_scale" label="CFG scale" errors={errors}>
          <NumberInput name="cfg_scale" value={form.cfg_scale} min={1} max={30} step={0.5} onChange={(v) => set('cfg_scale', v)} errors={errors} />
        </Field>
      </div>
      <div class="row">
        <Field name="size" label="Size" errors={errors}>
          <Select
            name="size"
            value={SIZE_PRESETS.some(([w, h]) => `${w}x${h}` === sizeKey) ? sizeKey : 'free'}
            options={[...SIZE_PRESETS.map(([w, h]) => ({ value: `${w}x${h}`, label: `${w} × ${h}` })), { value: 'free', label: 'Other size' }]}
            onChange={(v) => {
              const [w, h] = v.split('x').map(Number);
              if (w && h) setForm((f) => ({ ...f, width: w, height: h }));
            }}
            errors={errors}
          />
        </Field>
        <Field name="width" label="Width" errors={errors}>
          <NumberInput name="width" value={form.width} min={64} max={2048} step={8} onChange={(v) => set('width', v)} errors={errors} />
        </Field>
        <Field name="height" label="Height" errors={errors}>
          <NumberInput name="height" value={form.height} min={64} max={2048} step={8} onChange={(v) => set('height', v)} errors={errors} />
        </Field>
      </div>
      <div class="row">
        <Field name="seed" label="Seed (-1: random)" errors={errors}>
          <NumberInput name="seed" value={form.seed} min={-1} onChange={(v) => set('seed', v)} errors={errors} />
        </Field>
        <div class="buttons">
          <button type="button" class="secondary" onClick={() => set('seed', -1)}>
            Random
          </button>
          <button type="button" class="secondary" disabled={lastSeed === null} onClick={() => lastSeed !== null && set('seed', lastSeed)}>
            Reuse last{lastSeed !== null ? ` (${lastSeed})` : ''}
          </button>
        </div>
      </div>
      <fieldset>
        <legend>
          <label>
            <input type="checkbox" checked={form.hires} onChange={(e) => set('hires', e.currentTarget.checked)} /> Hires upscale
          </label>
        </legend>
        {form.hires && (
          <div class="row">
            <Field name="upscale.upscaler" label="Upscaler" errors={errors}>
              <Select name="upscale.upscaler" value={form.upscale.upscaler} options={resourceOptions(info?.HiresUpscalers ?? [{ name: form.upscale.upscaler, available: true }])} onChange={(v) => setUpscale({ upscaler: v })} errors={errors} />
            </Field>
            <Field name="upscale.scale" label="Scale" errors={errors}>
              <NumberInput name="upscale.scale" value={form.upscale.scale} min={1.05} max={2} step={0.05} onChange={(v) => setUpscale({ scale: v })} errors={errors} />
            </Field>
            <Field name="upscale.denoising_strength" label="Denoising" errors={errors}>
              <NumberInput name="upscale.denoising_strength" value={form.upscale.denoising_strength} min={0} max={1} step={0.05} onChange={(v) => setUpscale({ denoising_strength: v })} errors={errors} />
            </Field>
          </div>
        )}
      </fieldset>
      <fieldset>
        <legend>
          <label>
            <input type="checkbox" checked={form.controlNetOn} onChange={(e) => set('controlNetOn', e.currentTarget.checked)} /> ControlNet
          </label>
        </legend>
        {form.controlNetOn && (
          <>
            <Field name="control_net[0].image" label="Reference image" errors={errors}>
              <ImageInput name="control_net[0].image" value={form.controlNet.image} onChange={(image) => setCn({ image })} errors={errors} />
            </Field>
            <div class="row">
              <Field name="control_net[0].preprocess" label="Preprocessor" errors={errors}>
                <Select
                  name="control_net[0].preprocess"
                  value={form.controlNet.preprocess}
                  options={resourceOptions(info?.ControlNet.preprocessors ?? [{ name: 'canny', available: true }, { name: 'openpose', available: true }])}
                  onChange={(v) => setCn({ preprocess: v, model: v === 'openpose' ? 'sd15_openpose' : v === 'canny' ? 'sd15_canny' : form.controlNet.model })}
                  errors={errors}
                />
              </Field>
              <Field name="control_net[0].model" label="ControlNet model" errors={errors}>
                <Select name="control_net[0].model" value={form.controlNet.model} options={resourceOptions(info?.ControlNet.models ?? [{ name: 'sd15_canny', available: true }, { name: 'sd15_openpose', available: true }])} onChange={(v) => setCn({ model: v })} errors={errors} />
              </Field>
            </div>
            {form.controlNet.preprocess === 'canny' && (
              <div class="row">
                <Field name="control_net[0].preprocess_param1" label="Canny low threshold" errors={errors}>
                  <NumberInput name="control_net[0].preprocess_param1" value={form.controlNet.preprocess_param1} min={1} max={255} onChange={(v) => setCn({ preprocess_param1: v })} errors={errors} />
                </Field>
                <Field name="control_net[0].preprocess_param2" label="Canny high threshold" errors={errors}>
                  <NumberInput name="control_net[0].preprocess_param2" value={form.controlNet.preprocess_param2} min={1} max={255} onChange={(v) => setCn({ preprocess_param2: v })} errors={errors} />
                </Field>
              </div>
            )}
            <div class="row">
              <Field name="control_net[0].weight" label="Weight" errors={errors}>
                <NumberInput name="control_net[0].weight" value={form.controlNet.weight} min={0} max={2} step={0.05} onChange={(v) => setCn({ weight: v })} errors={errors} />
              </Field>
              <Field name="control_net[0].resize_mode" label="Resize mode" errors={errors}>
                <Select
                  name="control_net[0].resize_mode"
                  value={String(form.controlNet.resize_mode)}
                  options={[{ value: '0', label: 'Just resize' }, { value: '1', label: 'Crop and resize' }, { value: '2', label: 'Resize and fill' }]}
                  onChange={(v) => setCn({ resize_mode: Number(v) })}
                  errors={errors}
                />
              </Field>
            </div>
            <div class="row">
              <Field name="control_net[0].guidance_start" label="Guidance start" errors={errors}>
                <NumberInput name="control_net[0].guidance_start" value={form.controlNet.guidance_start} min={0} max={1} step={0.05} onChange={(v) => setCn({ guidance_start: v })} errors={errors} />
              </Field>
              <Field name="control_net[0].guidance_end" label="Guidance end" errors={errors}>
                <NumberInput name="control_net[0].guidance_end" value={form.controlNet.guidance_end} min={0} max={1} step={0.05} onChange={(v) => setCn({ guidance_end: v })} errors={errors} />
              </Field>
              <label class="checkbox">
                <input type="checkbox" checked={form.controlNet.guessmode} onChange={(e) => setCn({ guessmode: e.currentTarget.checked })} /> Guess mode
              </label>
            </div>
          </>
        )}
      </fieldset>
      {formError && (
        <p class="form-error" role="alert">
          {formError[1]}
        </p>
      )}
      <div class="submit-row">
        <button type="submit" disabled={isActive(run.phase)}>
          Generate
        </button>
      </div>
      <TaskPanel run={run} onCancel={() => void cancel()} />
      <ApiCall kind="txt2img" body={body} />
    </form>
  );
}
