/**
 * @module util/buffer-pool
 *
 * Reuses the big buffers that answers are written into (a 512² result
 * is a ~430 KiB answer). Each fresh buffer of that size is allocated by
 * malloc and, once the garbage collector frees it, often handed back to the
 * operating system, so the next answer faults its pages in again, on the
 * event loop. A buffer is taken for one answer and given back once the
 * response is closed, when the socket no longer holds it.
 */
export class BufferPool {
  /** Free buffers by capacity (a power of two). */
  readonly #free = new Map<number, Buffer[]>();
  /** Each taken view → the whole buffer it is cut from. */
  readonly #taken = new WeakMap<Buffer, Buffer>();

  /**
   * @param minBytes smaller requests are plain allocations (Node's own pool serves them well)
   * @param keepPerSize free buffers kept per capacity; more are left to the garbage collector
   */
  constructor(
    readonly minBytes = 64 * 1024,
    readonly keepPerSize = 4,
  ) {}

  /** A buffer of exactly `size` bytes, its contents undefined. */
  readonly take = (size: number): Buffer => {
    if (size < this.minBytes) return Buffer.allocUnsafe(size);
    const capacity = 2 ** Math.ceil(Math.log2(size));
    const whole = this.#free.get(capacity)?.pop() ?? Buffer.allocUnsafeSlow(capacity);
    const view = whole.subarray(0, size);
    this.#taken.set(view, whole);
    return view;
  };

  /** Gives back a buffer from `take`; it must no longer be used. Others are ignored. */
  give(view: Buffer): void {
    const whole = this.#taken.get(view);
    if (!whole) return;
    this.#taken.delete(view);
    const free = this.#free.get(whole.length) ?? [];
    if (free.length < this.keepPerSize) free.push(whole);
    this.#free.set(whole.length, free);
  }
}
