import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/util/buffer-pool.js';

describe('BufferPool', () => {
  it('hands out buffers of the asked size and reuses one only after it is given back', () => {
    const pool = new BufferPool(1024, 4);
    const first = pool.take(3000);
    expect(first.length).toBe(3000);
    const second = pool.take(3000);
    expect(second.buffer).not.toBe(first.buffer);
    pool.give(first);
    const third = pool.take(2500);
    expect(third.length).toBe(2500);
    expect(third.buffer).toBe(first.buffer);
  });

  it('leaves small buffers, foreign buffers and extra free buffers to the garbage collector', () => {
    const pool = new BufferPool(1024, 1);
    const small = pool.take(100);
    pool.give(small);
    const next = pool.take(100);
    // Small ones come from Node's own shared pool: the same slab, never the same bytes.
    expect(next.buffer === small.buffer && next.byteOffset === small.byteOffset).toBe(false);
    pool.give(Buffer.alloc(4096));
    const [a, b] = [pool.take(4000), pool.take(4000)];
    pool.give(a);
    pool.give(b);
    pool.give(a);
    expect(pool.take(4000).buffer).toBe(a.buffer);
    expect(pool.take(4000).buffer).not.toBe(b.buffer);
  });
});
