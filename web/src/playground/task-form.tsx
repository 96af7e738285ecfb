/**
 * The frame of every playground view: a form sent async as `kind`, the
 * refusal of a field the form has no place for at its top, the Generate
 * button, the task's progress and end, and "Show API call".
 */
import type { ComponentChildren } from 'preact';
import type { TaskKind } from '../api/types';
import { ApiCall } from './api-call';
import { type FieldErrors, FormNameContext } from './fields';
import { TaskPanel } from './task-panel';
import { isActive, type TaskRun } from './use-task';

/** The API's refusal as messages by field (`_form` when it names none). */
export function errorsOf(refusal: { field: string | null; message: string } | null): FieldErrors {
  if (!refusal) return {};
  return { [refusal.field ?? '_form']: refusal.message };
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
  return (
    <form
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
