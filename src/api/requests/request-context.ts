/**
 * @module api/requests/request-context
 *
 * What request parsing needs to know about the network, without knowing the
 * network: how to resolve a model or LoRA value to an identity, and which names
 * are acceptable for the other lists. The gateway builds one from the catalog
 * plus the offerings of the nodes connected right now.
 */
import type { ResourceRef } from '../../domain/spec.js';

export interface RequestLimits {
  /** Largest width or height of a generated image (before hires fix). */
  maxSide: number;
  /** Largest side of an input image (init image, mask, ControlNet image, image to interrogate/upscale). */
  maxInputSide: number;
  /** Largest number of pixels of an upscale result. */
  maxUpscalePixels: number;
  /** Largest sampling steps. */
  maxSteps: number;
  /** Most LoRAs in one request. */
  maxLoras: number;
  /** Most ControlNet units in one request. */
  maxControlNetUnits: number;
}

export interface RequestContext {
  /** A model named by sha256 or name (catalog, or a file a connected node has); null if unknown. */
  resolveModel(value: string): ResourceRef | null;
  /** A LoRA named by sha256 or name; null if unknown. */
  resolveLora(value: string): ResourceRef | null;
  /** Names accepted in each list (catalog values plus what connected nodes offer). */
  samplers: readonly string[];
  hiresUpscalers: readonly string[];
  upscalers: readonly string[];
  controlNetModels: readonly string[];
  preprocessors: readonly string[];
  interrogators: readonly string[];
  /** For error messages: the model and LoRA values a client may send. */
  modelNames: readonly string[];
  loraNames: readonly string[];
  limits: RequestLimits;
}
