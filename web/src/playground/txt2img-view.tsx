/**
 * txt2img: the shared generation fields, hires upscale and ControlNet;
 * submitted async and followed to its end.
 */
import { useEffect, useState } from 'preact/hooks';
import type { SupportedInfo, TaskStatus } from '../api/types';
import { withModel } from './family-defaults';
import { familyConflicts, familyInfo, MISFIT, modelFamilyOf, withConflicts } from './family-fit';
import { Field, NumberInput, Select } from './fields';
import { ControlNetFields, ModelFields, PromptFields, resourceOptions, SamplingFields } from './generation-fields';
import { formFieldOf, isGenerationField } from './generation-form';
import { errorsOf, TaskForm } from './task-form';
import { defaultTxt2Img, type Txt2ImgForm, txt2imgBody } from './txt2img-form';
import { useFirstModel } from './use-first-model';
import { useTask } from './use-task';

interface Props {
  info: SupportedInfo | null;
  /** Settings to start from ("use these settings" in the gallery); a new object each time it is used. */
  preset: Txt2ImgForm | null;
  onEnd: (status: TaskStatus, body: Record<string, unknown>) => void;
}

export function Txt2ImgView({ info, preset, onEnd }: Props) {
  const [form, setForm] = useState<Txt2ImgForm>(preset ?? defaultTxt2Img);
  const [lastSeed, setLastSeed] = useState<number | null>(null);
  const { run, start, cancel, refuse } = useTask('txt2img', (status, body) => {
    if (status.seeds?.[0] !== undefined) setLastSeed(status.seeds[0]);
    onEnd(status, body);
  });
  useEffect(() => {
    if (preset) setForm(preset);
  }, [preset]);
  const update = (patch: Partial<Txt2ImgForm>) => setForm((f) => ({ ...f, ...patch }));
  useFirstModel(info, form.model, (model) => update(withModel(form, model, info).patch));
  const setUpscale = (patch: Partial<Txt2ImgForm['upscale']>) => update({ upscale: { ...form.upscale, ...patch } });
  const body = txt2imgBody(form, familyInfo(info, modelFamilyOf(info, form.model)));
  // A LoRA or ControlNet model that does not fit the checkpoint is said at once, and nothing is sent while there is one.
  const conflicts = familyConflicts(form, info, 'txt2img');
  const conflict = Object.entries(conflicts)[0];
  const errors = withConflicts(conflicts, run.refusal, (refusal) => errorsOf(refusal, formFieldOf));
  const shared = { form, update, info, errors };

  return (
    <TaskForm kind="txt2img" label="txt2img" body={body} run={run} errors={errors} shows={(f) => isGenerationField(f, form) || f.startsWith('upscale.')} submitLabel="Generate" onSubmit={() => (conflict ? refuse(...conflict, MISFIT) : void start('txt2img', body))} onCancel={() => void cancel()}>
      <PromptFields {...shared} />
      <ModelFields {...shared} />
      <SamplingFields {...shared} lastSeed={lastSeed} />
      <fieldset>
        <legend>
          <label>
            <input type="checkbox" checked={form.hires} onChange={(e) => update({ hires: e.currentTarget.checked })} /> Hires upscale
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
      <ControlNetFields {...shared} />
    </TaskForm>
  );
}
