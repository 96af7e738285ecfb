/**
 * @module bench/schedule-nodes
 *
 * The simulated nodes of the schedule benchmark: synthetic checkpoints, the
 * `NodeCapabilities` an A1111 node holding some of them would declare, and the
 * standard fleet of the scheduler issue (2 fast, 4 mid, 2 slow nodes, each with
 * 3–5 of 8 checkpoints). Nodes are turned into offerings by the gateway's own
 * `toNodeOffering`, so matching goes through the same code as in production.
 */
import { createHash } from 'node:crypto';
import type { NodeCapabilities } from '../src/domain/capabilities.js';
import { catalogLoras, downloadStemOf } from '../src/domain/catalog.js';
import { type NodeOffering, toNodeOffering } from '../src/domain/offering.js';
import type { ModelFamily } from '../src/domain/families.js';
import type { ResourceRef } from '../src/domain/spec.js';
import type { StepCosts } from '../src/sandbox/time-model.js';
import type { NodeTiming } from './schedule-node-time.js';
import type { Random } from './schedule-random.js';

export interface Checkpoint {
  /** Model file stem, e.g. `ckpt-a`. */
  name: string;
  /** The model's family, which its node declares (absent: not known, planned as SD 1.5). */
  family?: ModelFamily;
  /** What the node takes as `sd_model_checkpoint` (and reports loaded). */
  title: string;
  ref: ResourceRef;
}

export const SpeedClasses = ['fast', 'mid', 'slow'] as const;
export type SpeedClass = (typeof SpeedClasses)[number];

export interface SimNodeSpec {
  id: string;
  speedClass: SpeedClass;
  /** Sampler steps per second at 512², first-order sampler (the sandbox's `itPerSecond`). */
  itPerSecond: number;
  switchSeconds: number;
  slots: number;
  /** Checkpoints on the node's disk (the sim checks assignments against this, not the offering). */
  checkpoints: readonly Checkpoint[];
  offering: NodeOffering;
  /** What a step of each family really takes on its GPU, against an SD 1.5 step (absent: the gateway's first guesses). */
  stepCosts?: StepCosts;
}

/** The VAE and text encoders a Forge node lists as modules, which its Flux models need. */
const FLUX_MODULES = ['ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors'];

/** Upscalers the simulated nodes offer for hires fix (the sandbox treats latent modes as free). */
export const LATENT_UPSCALE_MODES = ['Latent', 'Latent (bicubic)'];
export const SIM_SAMPLERS = ['Euler a', 'Euler', 'DPM++ 2M', 'DPM++ SDE'];
const MAX_SIDE_PX = 2048;

/**
 * `ckpt-a` … with a synthetic sha256 no catalog entry has (so each is offered under its own identity);
 * `families[i]`, when given, is the i-th one's.
 */
export function makeCheckpoints(count: number, families: readonly (ModelFamily | undefined)[] = []): Checkpoint[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `ckpt-${String.fromCharCode(97 + i)}`;
    const sha256 = createHash('sha256').update(`dan-schedule-bench:${name}`).digest('hex');
    const family = families[i];
    return { name, title: `${name}.safetensors [${sha256.slice(0, 10)}]`, ref: { id: sha256, name }, ...(family === undefined ? {} : { family }) };
  });
}

/** An A1111 WebUI's, or Forge's (with Flux's modules) when it holds a Flux model. */
export function capabilitiesOf(checkpoints: readonly Checkpoint[]): NodeCapabilities {
  const forge = checkpoints.some((c) => c.family === 'flux');
  return {
    backend: forge ? { kind: 'a1111', version: 'f2.0.1v1.10.1-previous-669-gdfdcbab6', modules: FLUX_MODULES } : { kind: 'a1111', version: 'v1.10.1' },
    models: checkpoints.map((c) => ({ title: c.title, name: c.name, fileName: `${c.name}.safetensors`, sha256: c.ref.id, ...(c.family === undefined ? {} : { family: c.family }) })),
    loras: catalogLoras.map((entry) => {
      const stem = downloadStemOf(entry);
      return { name: stem, alias: stem, fileName: `${stem}.safetensors`, sha256: null };
    }),
    samplers: SIM_SAMPLERS,
    schedulers: ['Automatic', 'Karras'],
    upscalers: ['None', 'Lanczos', 'R-ESRGAN 4x+'],
    latentUpscaleModes: LATENT_UPSCALE_MODES,
    controlNet: { models: ['control_v11p_sd15_canny [d14c016b]'], modules: ['none', 'canny'], maxUnits: 3 },
    interrogators: ['clip'],
    maxPixels: MAX_SIDE_PX * MAX_SIDE_PX,
  };
}

/** How the node's GPU times work (bench/schedule-node-time.ts): its speed and loads, and its families' step costs. */
export function timingOf(spec: SimNodeSpec, itPerSecond = spec.itPerSecond): NodeTiming {
  return {
    itPerSecond,
    switchSeconds: spec.switchSeconds,
    latentUpscaleModes: LATENT_UPSCALE_MODES,
    ...(spec.stepCosts === undefined ? {} : { stepCosts: spec.stepCosts }),
    familyOf: (title) => spec.checkpoints.find((c) => c.title === title)?.family,
  };
}

export function makeSimNode(options: {
  id: string;
  speedClass: SpeedClass;
  itPerSecond: number;
  switchSeconds: number;
  checkpoints: readonly Checkpoint[];
  slots?: number;
  stepCosts?: StepCosts;
}): SimNodeSpec {
  return { slots: 1, ...options, offering: toNodeOffering(capabilitiesOf(options.checkpoints)) };
}

export const STANDARD_FLEET: readonly { speedClass: SpeedClass; itPerSecond: number; count: number }[] = [
  { speedClass: 'fast', itPerSecond: 20, count: 2 },
  { speedClass: 'mid', itPerSecond: 12, count: 4 },
  { speedClass: 'slow', itPerSecond: 6, count: 2 },
];

/** The standard fleet; popular checkpoints are on more disks (drawn by popularity). */
export function makeStandardNodes(random: Random, checkpoints: readonly Checkpoint[], popularity: readonly number[], switchSeconds: number): SimNodeSpec[] {
  const classes = STANDARD_FLEET.flatMap((f) => Array.from({ length: f.count }, () => f));
  const holdings = drawHoldings(random, classes.map((c) => c.speedClass), popularity);
  const seen = new Map<SpeedClass, number>();
  return classes.map((fleet, i) => {
    const n = (seen.get(fleet.speedClass) ?? 0) + 1;
    seen.set(fleet.speedClass, n);
    const held = holdings[i]!.map((c) => checkpoints[c]!);
    return makeSimNode({ id: `${fleet.speedClass}-${n}`, speedClass: fleet.speedClass, itPerSecond: fleet.itPerSecond, switchSeconds, checkpoints: held });
  });
}

/** 3–5 checkpoints per node, drawn without replacement by popularity; then every checkpoint gets a fast or mid holder. */
function drawHoldings(random: Random, classes: readonly SpeedClass[], popularity: readonly number[]): number[][] {
  const holdings = classes.map(() => {
    const weights = [...popularity];
    const count = random.int(3, 5);
    const chosen: number[] = [];
    while (chosen.length < count) {
      const pick = random.weightedIndex(weights);
      chosen.push(pick);
      weights[pick] = 0;
    }
    return chosen;
  });
  const strong = classes.flatMap((c, i) => (c === 'slow' ? [] : [i]));
  for (let checkpoint = 0; checkpoint < popularity.length; checkpoint++) {
    if (strong.some((i) => holdings[i]!.includes(checkpoint))) continue;
    giveCheckpoint(random, holdings, strong, checkpoint);
  }
  return holdings.map((h) => [...h].sort((a, b) => a - b));
}

/** Adds `checkpoint` to a fast or mid node, with room if one has it, else in place of its most widely held one. */
function giveCheckpoint(random: Random, holdings: number[][], strong: readonly number[], checkpoint: number): void {
  const roomy = strong.filter((i) => holdings[i]!.length < 5);
  const pool = roomy.length > 0 ? roomy : strong;
  const node = holdings[pool[random.int(0, pool.length - 1)]!]!;
  if (roomy.length > 0) {
    node.push(checkpoint);
    return;
  }
  // Replace one that other fast/mid nodes also hold, so no earlier repair is undone.
  const strongHolders = (c: number) => strong.filter((i) => holdings[i]!.includes(c)).length;
  const victim = [...node].sort((a, b) => strongHolders(b) - strongHolders(a))[0]!;
  node[node.indexOf(victim)] = checkpoint;
}
