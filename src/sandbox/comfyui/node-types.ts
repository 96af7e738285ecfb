/**
 * @module sandbox/comfyui/node-types
 *
 * How the ComfyUI sandbox describes a node class: its inputs as ComfyUI's
 * `/object_info` shows them (a type name with options, a combo of choices, or
 * a link type such as `MODEL`), its outputs, and how it "runs" on the
 * sandbox's abstract values (no tensors: a latent or an image is pixels of the
 * seed pattern; a model is the names of its files).
 */
import type { RunningJob } from '../running-job.js';
import type { TimingOptions } from '../time-model.js';
import type { ComfyFiles } from './comfy-files.js';
import type { ComfyOfferings, Family } from './comfy-offerings.js';

/** ComfyUI's `nodes.MAX_RESOLUTION`: the largest side or offset its image nodes take. */
export const MAX_RESOLUTION = 16384;

export type InputSpec =
  | { kind: 'link'; type: string; tooltip?: string }
  | { kind: 'int'; default: number; min: number; max: number; step?: number; controlAfterGenerate?: boolean }
  | { kind: 'float'; default: number; min: number; max: number; step: number; round?: number }
  | { kind: 'string'; multiline: boolean; default?: string; dynamicPrompts?: boolean }
  | { kind: 'boolean'; default: boolean }
  /** Choices read when asked: file lists change as files are uploaded. `v3`: the newer `["COMBO", {options}]` shape. */
  | { kind: 'combo'; choices: (world: ComfyWorld) => readonly string[]; default?: string; imageUpload?: boolean; v3?: boolean };

export interface OutputSpec {
  type: string;
  name: string;
}

/** The state a node class reads when it lists choices or runs. */
export interface ComfyWorld {
  offerings: ComfyOfferings;
  files: ComfyFiles;
  timing: TimingOptions;
}

export interface ModelValue {
  type: 'MODEL';
  family: Family;
  /** Checkpoint or diffusion-model file the weights came from. */
  file: string;
  loras: readonly string[];
  /** `ModelSamplingAuraFlow`'s shift, when one was set. */
  shift?: number;
}
export interface ClipValue {
  type: 'CLIP';
  family: Family;
  loras: readonly string[];
  /** CLIPSetLastLayer's value, -1 = all layers. */
  stopAt: number;
}
export interface VaeValue {
  type: 'VAE';
  file: string;
  channels: LatentChannels;
}

/** Channels of a latent: SD 1.5's and SDXL's VAE make 4, Flux's, Qwen-Image's and SD3's 16, Flux.2's 128. */
export type LatentChannels = 4 | 16 | 128;

/** The family of the text encoding a model of `family` reads: FLUX.1 Kontext reads Flux.1's, Qwen-Image-Edit Qwen-Image's. */
export function encoderFamilyOf(family: Family): Family {
  if (family === 'flux-kontext') return 'flux';
  return family === 'qwen-image-edit' ? 'qwen-image' : family;
}

/** The channels a model of `family` samples. */
export function latentChannelsOf(family: Family): LatentChannels {
  if (family === 'flux2') return 128;
  return family === 'sd15' || family === 'sdxl' ? 4 : 16;
}

/** How many pixels a latent cell is each way: 16 for Flux.2's 128 channels, else 8. */
export function latentCellOf(channels: LatentChannels): number {
  return channels === 128 ? 16 : 8;
}

/** The channels a VAE file (`VAELoader`'s choices) encodes to: by its name, as the sandbox's files are named. */
export function vaeChannelsOf(file: string): LatentChannels {
  const name = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  if (/flux[-_.]?2/i.test(name)) return 128;
  return /^(ae|taesd3|taef1)(\.|$)|flux|qwen|wan/i.test(name) ? 16 : 4;
}
export interface ConditioningValue {
  type: 'CONDITIONING';
  family: Family;
  text: string;
  /** Flux's distilled guidance (FluxGuidance); null when none was set. */
  guidance: number | null;
  /** ControlNets applied to this conditioning; each one slows sampling down. */
  controls: number;
  /** The picture joined to it by `ReferenceLatent` or `TextEncodeQwenImageEditPlus` (an edit model's image to edit). */
  reference?: Buffer;
}
/** A latent kept in pixel space: `rgb` is what decoding it would give (null: empty, pure noise). */
export interface LatentValue {
  type: 'LATENT';
  width: number;
  height: number;
  channels: LatentChannels;
  rgb: Buffer | null;
  /** One byte per pixel, 255 = may change (SetLatentNoiseMask, VAEEncodeForInpaint). */
  noiseMask: Buffer | null;
}
export interface ImageValue {
  type: 'IMAGE';
  width: number;
  height: number;
  rgb: Buffer;
}
/** 0..255 per pixel; 255 is ComfyUI's 1.0. */
export interface MaskValue {
  type: 'MASK';
  width: number;
  height: number;
  data: Buffer;
}
export interface FileValue {
  type: 'CONTROL_NET' | 'UPSCALE_MODEL';
  file: string;
}
/** The custom sampler's parts (`comfy_extras/nodes_custom_sampler.py`). */
export interface NoiseValue {
  type: 'NOISE';
  seed: number;
}
export interface SamplerValue {
  type: 'SAMPLER';
  name: string;
}
/** A schedule: how many steps it has (its sigmas are one more). */
export interface SigmasValue {
  type: 'SIGMAS';
  steps: number;
  /** How far into a longer schedule it starts, as a share of that (0: from pure noise). */
  from: number;
}
export interface GuiderValue {
  type: 'GUIDER';
  model: ModelValue;
  positive: ConditioningValue;
  negative: ConditioningValue | null;
}
export interface StringValue {
  type: 'STRING';
  text: string;
}

export type ComfyValue =
  | ModelValue
  | ClipValue
  | VaeValue
  | ConditioningValue
  | LatentValue
  | ImageValue
  | MaskValue
  | FileValue
  | NoiseValue
  | SamplerValue
  | SigmasValue
  | GuiderValue
  | StringValue;

/** What a node's UI output adds to the history (`SaveImage`: its images; a tagger: its text). */
export type UiOutput = Record<string, unknown[]>;

export interface NodeRun {
  id: string;
  /** Inputs with links resolved to the values they point at. */
  inputs: Record<string, unknown>;
  world: ComfyWorld;
  job: RunningJob;
  /** Sampler progress, step by step (the `progress` websocket message). */
  onProgress(value: number, max: number, previewJpeg?: Buffer): void;
}

export interface NodeResult {
  outputs: ComfyValue[];
  ui?: UiOutput;
}

export interface NodeClass {
  name: string;
  displayName: string;
  category: string;
  description?: string;
  pythonModule?: string;
  required: Record<string, InputSpec>;
  optional?: Record<string, InputSpec>;
  outputs: readonly OutputSpec[];
  outputNode?: boolean;
  /** Inputs the node checks itself (its `VALIDATE_INPUTS` arguments): ComfyUI skips their range and list checks. */
  validates?: readonly string[];
  /** The node's own check (`VALIDATE_INPUTS`); returns the input and the problem, or null. */
  validate?(inputs: Record<string, unknown>, world: ComfyWorld): { input: string; message: string } | null;
  run(run: NodeRun): Promise<NodeResult>;
}

/** Thrown while a node runs: becomes the `execution_error` message (exception type and message, as Python names them). */
export class NodeExecutionError extends Error {
  constructor(
    readonly exceptionType: string,
    message: string,
  ) {
    super(message);
  }
}

export function link(type: string): InputSpec {
  return { kind: 'link', type };
}
