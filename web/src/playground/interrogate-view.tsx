/** interrogate: an image's caption, by CLIP or DeepDanbooru (or what a node offers). */
import { useEffect, useState } from 'preact/hooks';
import type { SupportedInfo, TaskStatus } from '../api/types';
import { Field, Select } from './fields';
import { resourceOptions } from './generation-fields';
import { ImageInput } from './image-input';
import { errorsOf, TaskForm } from './task-form';
import { useTask } from './use-task';

interface Props {
  info: SupportedInfo | null;
  incoming: { image: string } | null;
  onEnd: (status: TaskStatus, body: Record<string, unknown>) => void;
}

export function InterrogateView({ info, incoming, onEnd }: Props) {
  const [image, setImage] = useState<string | null>(null);
  const [model, setModel] = useState('clip');
  const { run, start, cancel } = useTask('interrogate', onEnd);
  useEffect(() => {
    if (incoming) setImage(incoming.image);
  }, [incoming]);
  const body = { image: image ?? '', model };
  const errors = errorsOf(run.refusal);
  return (
    <TaskForm kind="interrogate" label="interrogate" body={body} run={run} errors={errors} shows={(f) => f === 'image' || f === 'model'} submitLabel="Describe the image" onSubmit={() => void start('interrogate', body)} onCancel={() => void cancel()}>
      <Field name="image" label="Image" errors={errors}>
        <ImageInput name="image" value={image} onChange={setImage} errors={errors} />
      </Field>
      <Field name="model" label="Interrogator" errors={errors}>
        <Select name="model" value={model} options={resourceOptions(info?.Interrogators ?? [{ name: 'clip', available: true }, { name: 'deepdanbooru', available: true }])} onChange={setModel} errors={errors} />
      </Field>
    </TaskForm>
  );
}
