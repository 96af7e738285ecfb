/**
 * @module sandbox/pattern
 *
 * The "generated" picture: a deterministic pattern of diagonal colour gradients
 * and a checkerboard, chosen by a hash of seed and prompt. Same inputs, same
 * bytes; another seed changes colours, gradient direction and cell size, so
 * tests can tell images apart. Smooth regions keep PNG encoding cheap.
 */

/** FNV-1a over the text, then a murmur3 finaliser for avalanche. */
function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** mulberry32: a tiny seeded generator, enough for picking pattern parameters. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface PatternParams {
  base: [number, number, number];
  slopeX: [number, number, number];
  slopeY: [number, number, number];
  checker: [number, number, number];
  cellPx: number;
}

function paramsOf(seed: number, prompt: string): PatternParams {
  const random = createRandom(hashText(`${seed}\u0000${prompt}`));
  const channel = (scale: number): [number, number, number] => [
    (random() - 0.5) * scale,
    (random() - 0.5) * scale,
    (random() - 0.5) * scale,
  ];
  return {
    base: [random() * 255, random() * 255, random() * 255],
    slopeX: channel(320),
    slopeY: channel(320),
    checker: channel(160),
    cellPx: 8 + Math.floor(random() * 57),
  };
}

/** Raw interleaved RGB, `width × height × 3` bytes. */
export function renderSeedPattern(seed: number, prompt: string, width: number, height: number): Buffer {
  const p = paramsOf(seed, prompt);
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const v = y / height;
    const rowCell = Math.floor(y / p.cellPx);
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const on = (Math.floor(x / p.cellPx) + rowCell) & 1;
      const at = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const value = p.base[c]! + p.slopeX[c]! * u + p.slopeY[c]! * v + on * p.checker[c]!;
        out[at + c] = wrapByte(value);
      }
    }
  }
  return out;
}

/** Folds into 0..255 by reflection, so gradients bounce instead of jumping. */
function wrapByte(value: number): number {
  const period = ((Math.round(value) % 510) + 510) % 510;
  return period > 255 ? 510 - period : period;
}
