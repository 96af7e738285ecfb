/**
 * @module store/caller-defaults
 *
 * The checkpoint each caller (an API key, or an address without one) chose
 * with the WebUI-compatible API's `POST /sdapi/v1/options {sd_model_checkpoint}`:
 * its default for requests that name none. Kept in the store, not in a
 * gateway's memory: a WebUI client sets its model once, when its user picks
 * it, and a gateway that forgot it on a restart (or another gateway behind the
 * same load balancer) silently made its images with another checkpoint.
 */
export interface CallerDefaults {
  /** The checkpoint (its catalog name) `owner` chose, if it chose one. */
  get(owner: string): Promise<string | undefined>;
  /** `owner`'s choice from now on, `at` epoch ms. */
  set(owner: string, checkpoint: string, at: number): Promise<void>;
}

/** Defaults kept in memory only: for an app without a store (tests, tools). */
export class MemoryCallerDefaults implements CallerDefaults {
  readonly #byOwner = new Map<string, string>();

  get(owner: string): Promise<string | undefined> {
    return Promise.resolve(this.#byOwner.get(owner));
  }

  set(owner: string, checkpoint: string): Promise<void> {
    this.#byOwner.set(owner, checkpoint);
    return Promise.resolve();
  }
}
