/**
 * Labelled form fields that show the API's refusal next to the field it names
 * (`errors[name]`), with the error tied to the input for screen readers.
 */
import { type ComponentChildren, createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { readTypedNumber } from './typed-numbers';

/** Messages by request field (`steps`, `upscale.scale`, `control_net[0].image`). */
export type FieldErrors = Record<string, string>;

interface FieldProps {
  /** The request field it edits: its id, and the key of its error. */
  name: string;
  label: string;
  errors: FieldErrors;
  hint?: string;
  children: ComponentChildren;
}

/** The form's name, which prefixes its fields' ids: several forms (one per view) share the page. */
export const FormNameContext = createContext('form');

/** The id of the input for request field `name` in the current form (`txt2img-steps`). */
export function useFieldId(name: string): string {
  return `${useContext(FormNameContext)}-${name.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
}

export function Field({ name, label, errors, hint, children }: FieldProps) {
  const error = errors[name];
  const id = useFieldId(name);
  return (
    <div class={`field${error ? ' field-invalid' : ''}`} data-field={name}>
      <label for={id}>{label}</label>
      {children}
      {hint && !error && <small class="hint">{hint}</small>}
      {error && (
        <small class="field-error" id={`${id}-error`} role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

/** The props that tie an input to its field's label and error (a hook: call it while rendering). */
export function useInputProps(name: string, errors: FieldErrors) {
  const id = useFieldId(name);
  return { id, name, 'aria-invalid': errors[name] ? true : undefined, 'aria-describedby': errors[name] ? `${id}-error` : undefined };
}

interface NumberInputProps {
  name: string;
  value: number;
  onChange: (value: number) => void;
  errors: FieldErrors;
  /** The range the API takes, for the reader of the code (the gateway checks it and says so). */
  min?: number;
  max?: number;
  /** Shown but not to be changed (a value the model's family fixes). */
  disabled?: boolean;
  step?: number;
}

/**
 * A number input; what the user types is sent as it is, so the API's range check speaks for itself. The
 * text is kept as typed ("-", "-0.", "1e", "7,") and the number it reads as passed up, so a half-typed
 * value is not rewritten under the user's fingers. A comma is taken as the decimal point (`7,5`); what
 * reads as no number is passed up as NaN, which the task refuses to send (use-task.ts). No decimal keypad
 * where the field takes negatives: iOS's has no minus key.
 */
export function NumberInput({ name, value, onChange, errors, min, disabled }: NumberInputProps) {
  const [text, setText] = useState(String(value));
  // A value set from outside (a preset, "reuse last"): shown, unless the text already reads as it.
  useEffect(() => {
    const read = readTypedNumber(text);
    if (read !== value && !(Number.isNaN(value) && Number.isNaN(read))) setText(Number.isFinite(value) ? String(value) : '');
  }, [value]);
  return (
    <input
      type="text"
      inputMode={min !== undefined && min < 0 ? 'text' : 'decimal'}
      {...useInputProps(name, errors)}
      value={text}
      disabled={disabled}
      onInput={(event) => {
        const typed = event.currentTarget.value;
        setText(typed);
        onChange(readTypedNumber(typed));
      }}
    />
  );
}

interface SelectProps {
  name: string;
  value: string;
  options: { value: string; label: string; disabled?: boolean }[];
  onChange: (value: string) => void;
  errors: FieldErrors;
}

export function Select({ name, value, options, onChange, errors }: SelectProps) {
  return (
    <select {...useInputProps(name, errors)} value={value} onChange={(event) => onChange(event.currentTarget.value)}>
      {options.map((option) => (
        <option key={option.value} value={option.value} disabled={option.disabled}>
          {option.label}
        </option>
      ))}
    </select>
  );
}

interface ChoiceFieldProps {
  name: string;
  label: string;
  value: number;
  /** The values the API takes, each with what it means. */
  choices: readonly (readonly [number, string])[];
  onChange: (value: number) => void;
  errors: FieldErrors;
}

/** A labelled choice of one of the numeric codes a field takes (resize mode, mask mode, …). */
export function ChoiceField({ name, label, value, choices, onChange, errors }: ChoiceFieldProps) {
  return (
    <Field name={name} label={label} errors={errors}>
      <Select name={name} value={String(value)} options={choices.map(([code, meaning]) => ({ value: String(code), label: meaning }))} onChange={(v) => onChange(Number(v))} errors={errors} />
    </Field>
  );
}

/** `resize_mode` of img2img and of a ControlNet unit. */
export const RESIZE_MODES = [
  [0, 'Just resize'],
  [1, 'Crop and resize'],
  [2, 'Resize and fill'],
] as const;
