/**
 * img2img and inpainting: an image (chosen, dropped, pasted or sent from the
 * gallery), how it is resized and how much of it is redrawn, and for
 * inpainting a mask painted over it; the shared generation fields and
 * ControlNet.
 */
import { useEffect, useState } from 'preact/hooks';
import type { SupportedInfo, TaskStatus } from '../api/types';
import { withModel } from './family-defaults';
import { familyConflicts, familyInfo, MISFIT, modelFamilyOf, withConflicts } from './family-fit';
import { ChoiceField, Field, type FieldErrors, NumberInput, RESIZE_MODES } from './fields';
import { ControlNetFields, ModelFields, PromptFields, SamplingFields } from './generation-fields';
import { formFieldOf, isGenerationField } from './generation-form';
import { ImageInput } from './image-input';
import { defaultImg2Img, type Img2ImgForm, img2imgBody, scaleImage, sizeFor } from './img2img-form';
import { MaskPainter } from './mask-painter';
import { errorsOf, TaskForm } from './task-form';
import { useFirstModel } from './use-first-model';
import { useTask } from './use-task';

interface Props {
  info: SupportedInfo | null;
  /** Inpainting: the mask painter is shown and the mask sent. */
  inpaint: boolean;
  /** An image sent here from a result or the gallery (a new object each time). */
  incoming: { image: string } | null;
  /** Settings to start from ("use these settings" in the gallery; the image is not kept there). */
  preset: Img2ImgForm | null;
  onEnd: (status: TaskStatus, body: Record<string, unknown>) => void;
}

const MASK_MODES = [
  [0, 'The painted area'],
  [1, 'Everything but the painted area'],
] as const;
const INPAINT_AREAS = [
  [0, 'Whole picture'],
  [1, 'Only the masked area'],
] as const;

/**
 * Nothing painted (or all of it erased): refused here rather than sent as an all-black mask, which would
 * run a task that changes nothing.
 */
const NOTHING_PAINTED = 'Nothing is painted: paint over what to regenerate first.';

const IMG2IMG_FIELDS = /^(init_image|resize_mode|denoising_strength|inpaint)\b/;

export function Img2ImgView({ info, inpaint, incoming, preset, onEnd }: Props) {
  const [form, setForm] = useState<Img2ImgForm>({ ...defaultImg2Img, inpaintOn: inpaint });
  const [lastSeed, setLastSeed] = useState<number | null>(null);
  const { run, start, cancel, refuse } = useTask(inpaint ? 'inpaint' : 'img2img', (status, body) => {
    if (status.seeds?.[0] !== undefined) setLastSeed(status.seeds[0]);
    onEnd(status, body);
  });
  const update = (patch: Partial<Img2ImgForm>) => setForm((f) => ({ ...f, ...patch }));
  useFirstModel(info, form.model, (model) => update(withModel(form, model, info).patch), !inpaint);
  useEffect(() => update({ inpaintOn: inpaint }), [inpaint]);
  // The image and mask stay: the gallery keeps neither.
  useEffect(() => {
    if (preset) setForm((f) => ({ ...preset, init_image: f.init_image, mask: f.mask, inpaintOn: inpaint }));
  }, [preset]);
  // An image chosen: the size follows it (multiples of 8, the longest side at most 1024), as the original's playground did.
  // A larger image (a phone's 12 MP photo) is scaled down to that size here: the mask is painted at the
  // image's size, and a 12 MP one would cost the phone a 48 MB buffer per stroke.
  const takeImage = (image: string | null) => {
    update({ init_image: image, mask: null });
    if (!image) return;
    const probe = new Image();
    probe.onload = () => {
      const size = sizeFor(probe.naturalWidth, probe.naturalHeight);
      const scaled = size.width < probe.naturalWidth || size.height < probe.naturalHeight ? scaleImage(probe, size) : image;
      update({ ...size, init_image: scaled });
    };
    probe.src = image;
  };
  useEffect(() => {
    if (incoming) takeImage(incoming.image);
  }, [incoming]);

  const family = familyInfo(info, modelFamilyOf(info, form.model));
  const body = img2imgBody(form, family);
  // A LoRA or ControlNet model that does not fit the checkpoint is said at once, and nothing is sent while there is one.
  const conflicts = familyConflicts(form, info, inpaint ? 'inpaint' : 'img2img');
  const conflict = Object.entries(conflicts)[0];
  const errors = withConflicts(conflicts, run.refusal, (refusal) => inPageWords(errorsOf(refusal, formFieldOf), form));
  const shared = { form, update, info, errors };
  const label = inpaint ? 'inpaint' : 'img2img';
  return (
    <TaskForm kind="img2img" label={label} body={body} run={run} errors={errors} shows={(f) => isGenerationField(f, form) || IMG2IMG_FIELDS.test(f)} submitLabel="Generate" onSubmit={() => (conflict ? refuse(...conflict, MISFIT) : inpaint && form.init_image && !form.mask ? refuse('inpaint.mask', NOTHING_PAINTED) : void start('img2img', body))} onCancel={() => void cancel()}>
      <Field name="init_image" label="Image" errors={errors}>
        <ImageInput name="init_image" value={inpaint ? null : form.init_image} onChange={takeImage} errors={errors} />
      </Field>
      {/* A painter per image: a new image starts with an empty mask of its own size. */}
      {inpaint && form.init_image && (
        <Field name="inpaint.mask" label="Mask" errors={errors} hint="Paint over what to regenerate">
          <MaskPainter key={form.init_image} image={form.init_image} onChange={(mask) => update({ mask })} />
        </Field>
      )}
      <PromptFields {...shared} />
      <div class="row">
        {/* An edit model redraws the whole image, as the prompt asks: it has no strength to set. */}
        {!family?.edits && (
          <Field name="denoising_strength" label="Denoising strength" errors={errors} hint="0 keeps the image, 1 redraws it">
            <NumberInput name="denoising_strength" value={form.denoising_strength} min={0} max={1} step={0.05} onChange={(v) => update({ denoising_strength: v })} errors={errors} />
          </Field>
        )}
        <ChoiceField name="resize_mode" label="Resize mode" value={form.resize_mode} choices={RESIZE_MODES} onChange={(v) => update({ resize_mode: v })} errors={errors} />
      </div>
      {inpaint && (
        <div class="row">
          <Field name="inpaint.mask_blur" label="Mask blur" errors={errors}>
            <NumberInput name="inpaint.mask_blur" value={form.mask_blur} min={0} max={64} onChange={(v) => update({ mask_blur: v })} errors={errors} />
          </Field>
          <ChoiceField name="inpaint.mask_mode" label="Regenerate" value={form.mask_mode} choices={MASK_MODES} onChange={(v) => update({ mask_mode: v })} errors={errors} />
          <ChoiceField name="inpaint.inpaint_area" label="Inpaint area" value={form.inpaint_area} choices={INPAINT_AREAS} onChange={(v) => update({ inpaint_area: v })} errors={errors} />
        </div>
      )}
      <ModelFields {...shared} />
      <SamplingFields {...shared} lastSeed={lastSeed} />
      <ControlNetFields {...shared} />
    </TaskForm>
  );
}

/** The API's refusals of what the user has not given yet, in the page's words ("send the image as base64" is for API callers). */
function inPageWords(errors: FieldErrors, form: Img2ImgForm): FieldErrors {
  const words = { ...errors };
  if (words['init_image'] !== undefined && !form.init_image) words['init_image'] = 'Choose an image first.';
  if (words['inpaint.mask'] !== undefined && !form.mask) words['inpaint.mask'] = NOTHING_PAINTED;
  return words;
}
