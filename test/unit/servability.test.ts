import { describe, expect, it } from 'vitest';
import { toNodeOffering } from '../../src/domain/offering.js';
import type { GenerationSpec } from '../../src/domain/spec.js';
import { assertServable } from '../../src/gateway/servability.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { txt2img } from '../helpers/specs.js';

/** A node whose WebUI makes images of at most 2048² pixels (`dan node --max-pixels`' default). */
const node = { offering: toNodeOffering(makeCapabilities({ maxPixels: 2048 * 2048 })), backendUp: true };
const upscale = (side: number, scale: number): GenerationSpec => ({ kind: 'upscale', image: 'x', scale, upscaler: 'Lanczos', upscaler2: null, upscaler2Visibility: 0, sourceWidth: side, sourceHeight: side });

describe('a task larger than any node makes', () => {
  it('is refused with the upscaling rate that fits the roomiest node, for this image', () => {
    expect(() => assertServable(upscale(1200, 2), [node])).toThrow(/the largest result a node makes is 4194304 pixels: use a rate of at most 1\.70 for this image/);
    expect(() => assertServable(upscale(3000, 1.1), [node])).toThrow(/no node makes a result that large \(the largest is 4194304 pixels\)/);
    expect(() => assertServable(upscale(1000, 2), [node])).not.toThrow();
  });

  it('is refused with the hires scale that fits', () => {
    const spec = txt2img({ width: 1024, height: 1024, hires: { scale: 3, upscaler: 'Latent', denoisingStrength: 0.5 } });
    expect(() => assertServable(spec, [node])).toThrow(/the largest image a node makes is 4194304 pixels: use a hires scale of at most 2\.00$/);
  });
});
