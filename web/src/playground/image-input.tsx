/**
 * An image for a request: chosen from a file, dropped, or pasted; kept as a
 * data URL (the API takes the `data:image/…;base64,` prefix as it is).
 */
import { useState } from 'preact/hooks';
import { type FieldErrors, useInputProps } from './fields';

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error ?? new Error('could not read the file'));
    reader.readAsDataURL(file);
  });
}

interface ImageInputProps {
  name: string;
  value: string | null;
  onChange: (dataUrl: string | null) => void;
  errors: FieldErrors;
}

export function ImageInput({ name, value, onChange, errors }: ImageInputProps) {
  const [over, setOver] = useState(false);
  const take = async (file: Blob | null | undefined) => {
    if (file) onChange(await readAsDataUrl(file));
  };
  return (
    <div
      class={`image-input${over ? ' image-input-over' : ''}`}
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(event) => {
        event.preventDefault();
        setOver(false);
        void take(event.dataTransfer?.files[0]);
      }}
      onPaste={(event) => {
        const item = [...(event.clipboardData?.items ?? [])].find((i) => i.type.startsWith('image/'));
        if (item) void take(item.getAsFile());
      }}
    >
      <input type="file" accept="image/png,image/jpeg,image/webp" {...useInputProps(name, errors)} onChange={(event) => void take(event.currentTarget.files?.[0])} />
      <small class="hint">or drop or paste an image here</small>
      {value && (
        <div class="image-input-preview">
          <img src={value} alt="The image chosen" />
          <button type="button" class="secondary" onClick={() => onChange(null)}>
            Remove
          </button>
        </div>
      )}
    </div>
  );
}
