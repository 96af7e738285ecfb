/**
 * The frame of every playground view: a form sent async as `kind`, the
 * refusal of a field the form has no place for at its top, the Generate
 * button, the task's progress and end, and "Show API call".
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { TaskKind } from '../api/types';
import { ApiCall } from './api-call';
import { type FieldErrors, FormNameContext } from './fields';
import { TaskPanel } from './task-panel';
import { isActive, type TaskRun } from './use-task';

/**
 * The API's refusal as messages by field (`_form` when it names none); `formField` names the request's
 * field as the form does, where the two differ (generation-form.ts's `formFieldOf`).
 */
export function errorsOf(refusal: { field: string | null; message: string } | null, formField: (field: string) => string = (field) => field): FieldErrors {
  if (!refusal) return {};
  return { [refusal.field === null ? '_form' : formField(refusal.field)]: refusal.message };
}

interface Props {
  kind: TaskKind;
  label: string;
  body: Record<string, unknown>;
  run: TaskRun;
  errors: FieldErrors;
  /** Whether the form shows this field (its error is shown there); others go to the top. */
  shows: (field: string) => boolean;
  submitLabel: string;
  onSubmit: () => void;
  onCancel: () => void;
  children: ComponentChildren;
}

export function TaskForm({ kind, label, body, run, errors, shows, submitLabel, onSubmit, onCancel, children }: Props) {
  const unplaced = Object.entries(errors).find(([field]) => !shows(field));
  const form = useRef<HTMLFormElement>(null);
  // A refusal is shown where its field is, which may be far above the button (a long prompt on a phone):
  // Generate would seem to do nothing. The field at fault is focused and brought into view, or its message.
  useEffect(() => {
    if (!run.refusal) return;
    const first = form.current?.querySelector<HTMLElement>('[aria-invalid="true"], .field-error, .form-error');
    if (!first) return;
    first.scrollIntoView({ block: 'center' });
    if (first.matches('[aria-invalid="true"]')) first.focus({ preventScroll: true });
  }, [run.refusal]);
  return (
    <form
      ref={form}
      class="playground-form"
      aria-label={label}
      // The gateway checks every field and says what is allowed; the browser's own checks would stop a request before it.
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      <FormNameContext.Provider value={label}>{children}</FormNameContext.Provider>
      {unplaced && (
        <p class="form-error" role="alert">
          {unplaced[1]}
        </p>
      )}
      <div class="submit-row">
        <button type="submit" disabled={isActive(run.phase)}>
          {submitLabel}
        </button>
      </div>
      <TaskPanel run={run} onCancel={onCancel} />
      <ApiCall kind={kind} body={body} />
    </form>
  );
}
