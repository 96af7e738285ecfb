/** upscale: an image made larger by an upscaler (and optionally a second one blended in). */
import { useEffect, useState } from 'preact/hooks';
import type { SupportedInfo, TaskStatus } from '../api/types';
import { Field, NumberInput, Select } from './fields';
import { resourceOptions } from './generation-fields';
import { ImageInput } from './image-input';
import { errorsOf, TaskForm } from './task-form';
import { useTask } from './use-task';

interface Props {
  info: SupportedInfo | null;
  incoming: { image: string } | null;
  onEnd: (status: TaskStatus, body: Record<string, unknown>) => void;
}

const NONE = 'None';

export function UpscaleView({ info, incoming, onEnd }: Props) {
  const [image, setImage] = useState<string | null>(null);
  const [upscalingRate, setRate] = useState(2);
  const [upscaler, setUpscaler] = useState('R-ESRGAN 4x+');
  const [upscaler2, setUpscaler2] = useState(NONE);
  const [factor, setFactor] = useState(0.5);
  const { run, start, cancel } = useTask('upscale', onEnd);
  useEffect(() => {
    if (incoming) setImage(incoming.image);
  }, [incoming]);
  const upscalers = info?.Upscalers.filter((u) => u.name.toLowerCase() !== 'none') ?? [{ name: upscaler, available: true }];
  const body: Record<string, unknown> = { image: image ?? '', upscalingRate, upscaler };
  if (upscaler2 !== NONE) Object.assign(body, { upscaler2, upscaler2_factor: factor });
  const errors = errorsOf(run.refusal);
  return (
    <TaskForm kind="upscale" label="upscale" body={body} run={run} errors={errors} shows={(f) => ['image', 'upscalingRate', 'upscaler', 'upscaler2', 'upscaler2_factor'].includes(f)} submitLabel="Upscale" onSubmit={() => void start('upscale', body)} onCancel={() => void cancel()}>
      <Field name="image" label="Image" errors={errors}>
        <ImageInput name="image" value={image} onChange={setImage} errors={errors} />
      </Field>
      <div class="row">
        <Field name="upscalingRate" label="Scale" errors={errors} hint="More than 1, at most 8">
          <NumberInput name="upscalingRate" value={upscalingRate} min={1.05} max={8} step={0.05} onChange={setRate} errors={errors} />
        </Field>
        <Field name="upscaler" label="Upscaler" errors={errors}>
          <Select name="upscaler" value={upscaler} options={resourceOptions(upscalers)} onChange={setUpscaler} errors={errors} />
        </Field>
      </div>
      <div class="row">
        <Field name="upscaler2" label="Second upscaler" errors={errors}>
          <Select name="upscaler2" value={upscaler2} options={[{ value: NONE, label: 'None' }, ...resourceOptions(upscalers)]} onChange={setUpscaler2} errors={errors} />
        </Field>
        {upscaler2 !== NONE && (
          <Field name="upscaler2_factor" label="Its visibility" errors={errors}>
            <NumberInput name="upscaler2_factor" value={factor} min={0} max={1} step={0.05} onChange={setFactor} errors={errors} />
          </Field>
        )}
      </div>
    </TaskForm>
  );
}
