/**
 * Where a submitted task shows itself: its place in the queue and when it
 * should start, its progress and live preview while it runs, a cancel button,
 * and its end: the images, the caption, or why it failed.
 */
import { useFieldId } from './fields';
import { SendButtons } from './send-to';
import type { TaskRun } from './use-task';
import { isActive } from './use-task';

const seconds = (eta: number | null | undefined) => (eta === null || eta === undefined ? null : eta < 1 ? 'under a second' : `about ${Math.round(eta)} s`);

export function TaskPanel({ run, onCancel }: { run: TaskRun; onCancel: () => void }) {
  const { phase, status, preview } = run;
  const progressId = useFieldId('task-progress');
  if (phase === 'idle' && !status) return null;
  const percent = Math.round((status?.progress ?? 0) * 100);
  // The last status heard is stale: saying "Running: 28 %" with a live Cancel would be a guess.
  const unknown = run.unreachable && isActive(phase);
  return (
    <section class="task-panel" aria-live="polite" data-phase={phase} data-unreachable={unknown || undefined}>
      {phase === 'submitting' && <p>Submitting…</p>}
      {unknown && (
        <p class="task-line task-unknown" role="status">
          The gateway cannot be reached: this task's state is unknown until it is back (trying again).
        </p>
      )}
      {!unknown && phase === 'queued' && status && (
        <p class="task-line">
          {/* queuePosition is the 1-based rank: 1 is next. */}
          Queued{status.queuePosition > 1 ? `: ${status.queuePosition - 1} ahead` : ': next'}
          {seconds(status.eta) && ` · starts in ${seconds(status.eta)}`}
          {status.message && <span class="task-why"> · {status.message}</span>}
        </p>
      )}
      {!unknown && phase === 'running' && status && (
        <div class="task-running">
          <label class="task-line" for={progressId}>
            Running: {percent} %{seconds(status.eta) && ` · done in ${seconds(status.eta)}`}
          </label>
          <progress id={progressId} max={100} value={percent} />
          {preview && <img class="task-preview" src={`data:image/png;base64,${preview}`} alt="Live preview of the image being made" />}
        </div>
      )}
      {isActive(phase) && status && (
        <button type="button" class="secondary" disabled={unknown} onClick={onCancel}>
          Cancel
        </button>
      )}
      {phase === 'failed' && (
        <p class="task-failed" role="alert">
          Failed: {run.refusal?.message ?? status?.message ?? 'no reason given'}
          {status?.error && <code> {status.error}</code>}
        </p>
      )}
      {phase === 'cancelled' && <p class="task-line">Cancelled.</p>}
      {phase === 'succeeded' && status && <TaskResult status={status} />}
    </section>
  );
}

function TaskResult({ status }: { status: NonNullable<TaskRun['status']> }) {
  if (status.caption !== undefined) {
    return (
      <figure class="task-result">
        <figcaption>Caption</figcaption>
        <p class="caption">{status.caption}</p>
      </figure>
    );
  }
  return (
    <div class="task-result">
      {(status.images ?? []).map((image, i) => (
        <figure key={i}>
          <img src={`data:image/png;base64,${image}`} alt={`Result ${i + 1} of task ${status.taskId}`} />
          <figcaption>
            {status.seeds?.[i] !== undefined && <>seed {status.seeds[i]} · </>}
            <a href={`data:image/png;base64,${image}`} download={`dan-${status.taskId}-${i + 1}.png`}>
              Download
            </a>
          </figcaption>
          <SendButtons image={image} />
        </figure>
      ))}
    </div>
  );
}
