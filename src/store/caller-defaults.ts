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
  /**
   * Forgets the choices of callers without a key (`anon:<address>`) made before `at`: addresses come and
   * go, and every one that set a default would otherwise keep a row for good. Kept as long as tasks are
   * (the gateway's retention sweep). Returns how many were forgotten.
   */
  forgetAnonymousBefore(at: number): Promise<number>;
}
