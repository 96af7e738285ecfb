/**
 * @module domain/request-context
 *
 * What request parsing needs to know about the network, without knowing the
 * network: how to resolve a model or LoRA value to an identity, which names
 * are acceptable for the other lists, and the bounds on request values. The
 * gateway builds one from the catalog plus the offerings of the nodes
 * connected right now; the HTTP edge parses with it.
 */
import type { ModelFamily } from './families.js';
import { SpecBounds, type ResourceRef } from './spec.js';

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
  /** The family of a resolved model or LoRA (catalog, else what nodes say); null when no one knows it. */
  familyOf(kind: 'model' | 'lora', ref: ResourceRef): ModelFamily | null;
  /** Names accepted in each list (catalog values plus what connected nodes offer). */
  samplers: readonly string[];
  /** Schedule labels (`Karras`, `Simple`, …) a `scheduler` field may name. */
  schedulers: readonly string[];
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

/** The default request limits; the gateway's configuration may set others (config/gateway-config.ts). */
export const defaultLimits: RequestLimits = Object.freeze({
  maxSide: 2048,
  maxInputSide: 4096,
  maxUpscalePixels: 4096 * 4096,
  maxSteps: 150,
  maxLoras: 8,
  maxControlNetUnits: 3,
} satisfies RequestLimits);

/**
 * The most a limit may be set to: what a node accepts in an assignment (the spec
 * schema, spec.ts). A task within a higher limit would pass the gateway and be
 * dropped by the node as a broken frame, then retried as "node lost".
 */
export const limitCeilings: Readonly<Partial<Record<keyof RequestLimits, number>>> = Object.freeze({
  maxSide: SpecBounds.side,
  maxSteps: SpecBounds.steps,
  maxLoras: SpecBounds.loras,
  maxControlNetUnits: SpecBounds.controlNetUnits,
});
