/**
 * @module gateway/key-policy
 *
 * What a key's own limits (auth/api-key.ts) allow of one request: the size of
 * the images it makes, its steps and its checkpoint. Checked at submit, after
 * the request has parsed within the gateway's limits, so a refusal names the
 * field and the key's bound. The key's task budget and request rate are the
 * dispatcher's and the HTTP edge's.
 */
import type { KeyLimits } from '../auth/api-key.js';
import { type GenerationSpec, isDiffusion, peakPixelsOf, type ResourceRef } from '../domain/spec.js';
import { DanError } from '../errors/dan-error.js';

function notAllowed(field: string, message: string): DanError {
  return new DanError('DAN_ERR_KEY_NOT_ALLOWED', `${field}: ${message}`, { field });
}

/** Whether `allowed` (names or hashes as clients send them) names the checkpoint `model`. */
export function modelAllowed(model: ResourceRef, allowed: readonly string[]): boolean {
  const name = model.name.toLowerCase();
  const id = model.id.toLowerCase();
  return allowed.some((entry) => {
    const value = entry.toLowerCase();
    // A short hash (the WebUI's 10-character one) names the file whose sha256 it starts.
    return value === name || value === id || (value.length >= 8 && /^[0-9a-f]+$/.test(value) && id.startsWith(value));
  });
}

/** Throws DAN_ERR_KEY_NOT_ALLOWED (403) when the task asks for more than the key may have. */
export function assertWithinKeyLimits(spec: GenerationSpec, limits: KeyLimits): void {
  if (limits.maxPixels > 0) {
    const pixels = peakPixelsOf(spec);
    if (pixels > limits.maxPixels) {
      const field = spec.kind === 'upscale' ? 'upscalingRate' : spec.kind === 'txt2img' && spec.hires ? 'upscale.scale' : 'width';
      throw notAllowed(field, `the image made would have ${pixels} pixels; this API key may make at most ${limits.maxPixels} (${describeSquare(limits.maxPixels)})`);
    }
  }
  if (!isDiffusion(spec)) return;
  if (limits.maxSteps > 0 && spec.steps > limits.maxSteps) {
    throw notAllowed('steps', `this API key may use at most ${limits.maxSteps} steps, got ${spec.steps}`);
  }
  if (limits.models !== null && !modelAllowed(spec.model, limits.models)) {
    throw notAllowed('model', `this API key may use only ${limits.models.map((m) => `"${m}"`).join(', ')}, not "${spec.model.name}"`);
  }
}

/** `about 1024×1024` for a pixel count. */
function describeSquare(pixels: number): string {
  const side = Math.floor(Math.sqrt(pixels));
  return `about ${side}×${side}`;
}
