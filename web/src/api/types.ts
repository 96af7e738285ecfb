/**
 * What the gateway's API answers, as the web app reads it (the OpenAPI
 * document at /openapi.json is the full description).
 */

/** The envelope of every answer: `data` on success (code 200), `error` and `field` on a refusal. */
export interface Envelope<T> {
  code: number;
  message: string;
  data?: T;
  error?: string;
  field?: string;
  taskId?: string;
}

/** 0 queued, 1 running, 2 succeeded, 3 failed, 4 cancelled. */
export type TaskState = 0 | 1 | 2 | 3 | 4;

export interface TaskStatus {
  taskId: string;
  status: TaskState;
  queuePosition: number;
  progress?: number;
  /** Seconds until it starts (queued) or ends (running). */
  eta?: number | null;
  images?: string[];
  seeds?: number[];
  caption?: string;
  message?: string;
  error?: string;
}

export interface NameInfo {
  name: string;
  available: boolean;
}

/** A model family's name (`sd15`, `sdxl`, `flux`, …): the gateway lists every one it knows in `Families`. */
export type ModelFamily = string;

/** A family as the gateway lists it: the defaults and rules it reads a request for one of its models with. */
export interface FamilyInfo {
  name: ModelFamily;
  label: string;
  article: 'a' | 'an';
  nativeSide: number;
  defaultSampler: string;
  /** cfg: CFG and a negative prompt; distilled: `guidance` at CFG 1, no negative prompt; none: CFG 1 only, neither. */
  guidance: 'cfg' | 'distilled' | 'none';
  defaultCfgScale: number;
  defaultGuidance: number | null;
  defaultSteps: number;
  sideMultiple: number;
  controlNet: boolean;
  /** An edit model (FLUX.1 Kontext, Qwen-Image-Edit): img2img only, no denoising strength, no mask. */
  edits: boolean;
  /** The families whose LoRAs its models take: its own; FLUX.1 Kontext also Flux.1's. */
  loraFamilies: ModelFamily[];
  /** Which nodes run it: every WebUI and ComfyUI, Forge and ComfyUI, or ComfyUI only. */
  backends: 'any' | 'forge-or-comfyui' | 'comfyui';
}

export interface ResourceInfo extends NameInfo {
  /** The model family; null when no one knows it. */
  family: ModelFamily | null;
  hash: string | null;
  /** Connected nodes that serve it now. */
  nodes: number;
  download: string | null;
}

export interface ControlNetModelInfo extends NameInfo {
  /** The family it is made for, as the gateway checks a request against it; null when its name says none. */
  family: ModelFamily | null;
}

export interface SupportedInfo {
  Models: ResourceInfo[];
  LoRAs: ResourceInfo[];
  Samplers: NameInfo[];
  HiresUpscalers: NameInfo[];
  Upscalers: NameInfo[];
  ControlNet: { models: ControlNetModelInfo[]; preprocessors: NameInfo[] };
  Interrogators: NameInfo[];
  Families: FamilyInfo[];
  nodes: { connected: number; ready: number };
}

export type NodeState = 'ready' | 'busy' | 'webui-down' | 'draining' | 'set-aside' | 'reconnecting';

export interface NodeInfo {
  id: string;
  name: string;
  state: NodeState;
  slots: number;
  /** Tasks it holds ready beyond its slots; `running` counts them too. */
  prefetch: number;
  running: number;
  loadedModel: string | null;
  models: string[];
  itPerSecond: number | null;
  fixedSeconds: number | null;
  switchSeconds: number | null;
  loadSeconds: Record<string, number>;
  problem: string | null;
  setAsideUntil: string | null;
  agent: string;
  backend: 'a1111' | 'comfyui';
  done: number;
  failed: number;
  /** What it runs now: progress (0–1) and seconds since it was sent, per task. */
  current: { progress: number; seconds: number }[];
  /** The gateway it is connected to when that is another one sharing the database; null: the one answering. */
  gateway: string | null;
}

export interface Network {
  queue: { queued: number; running: number; oldestWaitSeconds: number | null; byCheckpoint: { model: string; queued: number }[] };
  lastHour: { at: string; images: number; failed: number; queued: number }[];
  recent: { kind: TaskKind | null; model: string | null; state: 'succeeded' | 'failed' | 'cancelled'; width: number | null; height: number | null; seconds: number | null; endedAt: string }[];
}

export interface Health {
  status: 'ok';
  canServe: boolean;
  problem: string | null;
  nodes: { connected: number; ready: number };
  queued: number;
  running: number;
}

/** The task kinds the API takes, each with its submit path. */
export type TaskKind = 'txt2img' | 'img2img' | 'interrogate' | 'upscale';
