/**
 * @module api/requests/limits
 *
 * The default request limits. The gateway may pass others (configuration);
 * parsing reads them from `RequestContext.limits`, never from here.
 */
import type { RequestLimits } from './request-context.js';

export const defaultLimits: RequestLimits = Object.freeze({
  maxSide: 2048,
  maxInputSide: 4096,
  maxUpscalePixels: 4096 * 4096,
  maxSteps: 150,
  maxLoras: 8,
  maxControlNetUnits: 3,
} satisfies RequestLimits);
