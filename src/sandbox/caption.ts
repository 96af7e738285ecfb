/**
 * @module sandbox/caption
 *
 * The sandbox's "interrogators": a caption that depends only on the image (its
 * size and dominant colour), so tests can predict it. CLIP answers a sentence,
 * DeepDanbooru comma-separated tags, as the real ones do.
 */

const PALETTE: readonly [name: string, r: number, g: number, b: number][] = [
  ['black', 0, 0, 0],
  ['white', 255, 255, 255],
  ['grey', 128, 128, 128],
  ['red', 220, 30, 30],
  ['green', 30, 180, 30],
  ['blue', 30, 30, 220],
  ['yellow', 240, 220, 30],
  ['cyan', 30, 220, 220],
  ['magenta', 220, 30, 220],
  ['orange', 250, 140, 20],
  ['purple', 120, 40, 160],
  ['brown', 120, 70, 30],
  ['pink', 250, 170, 190],
];

/** The palette name nearest to the colour (squared RGB distance). */
export function colourName(colour: { r: number; g: number; b: number }): string {
  let best = 'grey';
  let bestDistance = Infinity;
  for (const [name, r, g, b] of PALETTE) {
    const distance = (colour.r - r) ** 2 + (colour.g - g) ** 2 + (colour.b - b) ** 2;
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

export interface CaptionInput {
  width: number;
  height: number;
  colour: string;
}

export function captionOf(model: 'clip' | 'deepdanbooru', input: CaptionInput): string {
  const shape = input.width === input.height ? 'square' : input.width > input.height ? 'landscape' : 'portrait';
  if (model === 'deepdanbooru') {
    return `no_humans, ${input.colour}_theme, ${shape}, ${input.width}x${input.height}, sandbox`;
  }
  return `a ${shape} sandbox picture of ${input.width}x${input.height} pixels, mostly ${input.colour}`;
}
