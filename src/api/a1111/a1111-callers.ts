/**
 * @module api/a1111/a1111-callers
 *
 * What the WebUI-compatible API remembers of each caller (an API key, or an
 * address without one): the checkpoint it chose with
 * `POST /sdapi/v1/options {sd_model_checkpoint}` (its default, where a WebUI
 * would load it for everyone: DAN never switches a GPU for it), in the store
 * (store/caller-defaults.ts); and, in this gateway's memory, its latest tasks,
 * which `GET /sdapi/v1/progress` reports on and `POST /sdapi/v1/interrupt`
 * stops, as a WebUI does for the job it runs.
 */
import type { CallerDefaults } from '../../store/caller-defaults.js';

/** Callers remembered at most; the ones unheard of longest are forgotten first. */
const MAX_CALLERS = 10_000;
/** Tasks remembered per caller. */
const MAX_TASKS = 32;

export class A1111Callers {
  readonly #defaults: CallerDefaults;
  /** Per caller, its latest tasks and the sampling steps of each (`/sdapi/v1/progress` counts them). */
  readonly #tasks = new Map<string, { id: string; steps: number }[]>();

  constructor(defaults: CallerDefaults) {
    this.#defaults = defaults;
  }

  /** The checkpoint the caller chose, if it chose one. */
  defaultOf(owner: string): Promise<string | undefined> {
    return this.#defaults.get(owner);
  }

  setDefault(owner: string, checkpoint: string, at = Date.now()): Promise<void> {
    return this.#defaults.set(owner, checkpoint, at);
  }

  /** Tasks the caller submitted through the WebUI-compatible API, newest last, with their sampling steps. */
  tasksOf(owner: string): readonly { id: string; steps: number }[] {
    return this.#tasks.get(owner) ?? [];
  }

  /** Tasks of `steps` sampling steps each (0: not a generation) the caller submitted. */
  noteTasks(owner: string, ids: readonly string[], steps: number): void {
    remember(this.#tasks, owner, [...this.tasksOf(owner), ...ids.map((id) => ({ id, steps }))].slice(-MAX_TASKS));
  }
}

/** Sets `key` as the newest entry of `map`, dropping the oldest past MAX_CALLERS. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_CALLERS) map.delete(map.keys().next().value!);
}
