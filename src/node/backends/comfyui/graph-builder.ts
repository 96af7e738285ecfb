/**
 * @module node/backends/comfyui/graph-builder
 *
 * Turns a backend-neutral `GenerationSpec` into a ComfyUI API graph, pure: the
 * input images are already uploaded (their names come in `GraphFiles`), the
 * node-local names come from the `Binding`, and how models load and what each
 * upscaler is come from the `ComfyInventory` the driver discovered.
 *
 * - SD 1.5, SDXL and checkpoints of unknown family: `CheckpointLoaderSimple`,
 *   a LoRA chain (`LoraLoader`, the weight on model and text encoder as A1111's
 *   `<lora:name:w>` does), positive and negative `CLIPTextEncode`, `KSampler`.
 * - Flux: `UNETLoader` + `DualCLIPLoader(t5xxl, clip_l, flux)` + `VAELoader`
 *   (or a Flux checkpoint), the positive through `FluxGuidance`, an empty
 *   negative, cfg 1 and the `simple` schedule unless one is named, as ComfyUI's
 *   own Flux examples do; `EmptySD3LatentImage` for its 16-channel latent.
 * - Flux.2 [dev], as ComfyUI's example runs it: `UNETLoader` + `CLIPLoader`
 *   (Mistral Small 3 as `flux2`) + its VAE, the positive through `FluxGuidance`
 *   into a `BasicGuider` (no negative), `RandomNoise`, `KSamplerSelect`, its own
 *   `Flux2Scheduler` for the latent's size (or `BasicScheduler` for a schedule
 *   named), `EmptyFlux2LatentImage`, `SamplerCustomAdvanced`; img2img and the
 *   hires pass start part way into the schedule through `SplitSigmas`.
 * - Qwen-Image and Z-Image-Turbo, as ComfyUI's templates load them: `UNETLoader`
 *   + `CLIPLoader` (Qwen2.5-VL as `qwen_image`; Qwen3-4B as `lumina2`) +
 *   `VAELoader`, the model through `ModelSamplingAuraFlow` at the template's
 *   shift, the 16-channel latent and the `simple` schedule; Qwen-Image with its
 *   negative prompt at the request's cfg, Z-Image-Turbo at cfg 1 with the
 *   positive zeroed out as the negative.
 * - FLUX.1 Kontext, an edit model, as ComfyUI's template runs it: Flux.1's loaders, the image to edit
 *   encoded and joined to the prompt by `ReferenceLatent` before `FluxGuidance`, the prompt's encoding zeroed
 *   out as the negative, and all the steps sampled from that image's latent (denoise 1).
 * - Qwen-Image-Edit (2509, 2511), as its template runs it: Qwen-Image's loaders, the model through
 *   `ModelSamplingAuraFlow` (shift 3; 2511's 3.1) and `CFGNorm`, both prompts encoded with the image by
 *   `TextEncodeQwenImageEditPlus`, all the steps sampled from the image's latent at the request's cfg.
 * - img2img: the init image through `VAEEncode`, sampled by `KSamplerAdvanced`
 *   from where A1111 starts in the task's schedule (the last
 *   `int(denoise × steps) + 1` steps), so a task costs and looks alike on both.
 * - inpainting: the mask (white = regenerate, prepared by the driver) through
 *   `ImageToMask`, rounded by `ThresholdMask` for the sampler, through
 *   `InpaintModelConditioning` (or `VAEEncode` + `SetLatentNoiseMask` where
 *   ComfyUI lacks it); the result pasted over the original with the soft mask
 *   doubled (`MaskComposite`, `ImageCompositeMasked`), as A1111 overlays it.
 * - SDXL's refiner: `KSamplerAdvanced` for the base's part of the steps, then the refiner's checkpoint and text
 *   encoding for the rest, the noise handed on between them.
 * - hires fix: a latent upscale (`LatentUpscale` to A1111's target size), or decode → upscale model
 *   or filter → `ImageScale` to the target → encode, then a second `KSampler`
 *   at the hires denoise.
 * - ControlNet: `Canny` (thresholds 0–255 → 0–1) or the installed OpenPose
 *   preprocessor, then `ControlNetApplyAdvanced` per unit.
 * - upscale: the model (`ImageUpscaleWithModel`) or filter, then `ImageScale`
 *   to exactly `scale ×` the source; a second upscaler blended in with
 *   `ImageBlend`. Interrogation: `WD14Tagger|pysssss`.
 */
import type { Binding } from '../../../domain/binding.js';
import type { ControlNetUnitSpec, DiffusionSpec, GenerationSpec, Img2ImgSpec, Txt2ImgSpec, UpscaleSpec } from '../../../domain/spec.js';
import { FLUX_DEFAULT_GUIDANCE, familyTraits, type GuidanceKind, type ModelFamily, UNGUIDED_CFG_SCALE } from '../../../domain/families.js';
import { DanError } from '../../../errors/dan-error.js';
import { AUTOMATIC_SCHEDULER, SAMPLERS, SCHEDULERS } from './comfy-names.js';
import { ComfyGraph, out, type Link } from './comfy-graph.js';
import { type ComfyInventory, type ModelRecipe, isQwenEdit2511, REFERENCE_METHOD_NODE, TIMESTEP_ZERO_INDEX } from './discover.js';

/** Names of the uploaded input images, in ComfyUI's input folder. */
export interface GraphFiles {
  /** img2img's init image, already at the task's size (for the masked area only: that area, scaled to it). */
  initImage?: string;
  /** The inpainting mask as a grey image at the task's size: white = regenerate. */
  mask?: string;
  /** The node pastes the result back into the original itself (inpainting the masked area only): no paste in the graph. */
  pastedByNode?: boolean;
  /** Control images in `spec.controlNet` order, at the task's size. */
  control?: string[];
  /** The image an upscale or interrogation works on. */
  image?: string;
}

/** What a sampler is given besides its latent: the model and the two encoded prompts. */
interface Conditioning {
  model: Link;
  positive: Link;
  negative: Link;
}

export interface BuiltGraph {
  graph: ComfyGraph;
  /**
   * The node whose history output holds the result: `PreviewImage`, which writes into ComfyUI's temp folder
   * (emptied at each start), not `SaveImage`'s output folder, where every network task's image would pile up
   * on the GPU owner's disk; or the tagger.
   */
  output: string;
  /** The sampler nodes and their steps, in order: progress is counted over all of them. */
  samplerPasses: { node: string; steps: number }[];
  /** Nodes that load model weights: their run time is the checkpoint load. */
  loaders: string[];
}

/** How a family's graph samples, as ComfyUI's own examples and templates do it. */
interface FamilyGraph {
  /** The empty latent of txt2img: SD's 4 channels, the flow transformers' 16 (`EmptySD3LatentImage`), Flux.2's own. */
  latent: 'EmptyLatentImage' | 'EmptySD3LatentImage' | 'EmptyFlux2LatentImage';
  /** The schedule of `Automatic`: the sampler's own (SD's), or `simple`, which the flow transformers are trained for. */
  automatic: 'sampler' | 'simple';
  /** Sampled by the custom sampler nodes (`SamplerCustomAdvanced`) on the family's own schedule: Flux.2. */
  custom: boolean;
  /**
   * `ModelSamplingAuraFlow`'s shift, where the templates set one: Qwen-Image's 3.1 (its model's own default,
   * 1.15, gives softer pictures) and Z-Image-Turbo's 3 (its own default: the example leaves the node out).
   */
  shift?: number;
  /**
   * How an edit model is given the image it edits: joined to the prompt's encoding by `ReferenceLatent` (FLUX.1
   * Kontext), or encoded with each prompt by `TextEncodeQwenImageEditPlus` (Qwen-Image-Edit).
   */
  edit?: 'reference-latent' | 'qwen-plus';
  /** The model through `CFGNorm` (strength 1) before sampling, as Qwen-Image-Edit's template has it. */
  cfgNorm?: boolean;
}

const SD_GRAPH: FamilyGraph = { latent: 'EmptyLatentImage', automatic: 'sampler', custom: false };
const FLOW_GRAPH: FamilyGraph = { latent: 'EmptySD3LatentImage', automatic: 'simple', custom: false };
const FAMILY_GRAPHS: Readonly<Record<ModelFamily, FamilyGraph>> = {
  sd15: SD_GRAPH,
  sdxl: SD_GRAPH,
  flux: FLOW_GRAPH,
  flux2: { latent: 'EmptyFlux2LatentImage', automatic: 'simple', custom: true },
  'qwen-image': { ...FLOW_GRAPH, shift: 3.1 },
  'z-image-turbo': { ...FLOW_GRAPH, shift: 3 },
  'flux-kontext': { ...FLOW_GRAPH, edit: 'reference-latent' },
  'qwen-image-edit': { ...FLOW_GRAPH, shift: 3, edit: 'qwen-plus', cfgNorm: true },
};

/** Qwen-Image-Edit 2511's shift in its template (2509's is the family's, 3). */
const QWEN_EDIT_2511_SHIFT = 3.1;

/** `Flux2Scheduler`'s most steps. */
const FLUX2_MAX_SCHEDULE = 4096;
/** The pixels of a latent cell each way where the family is unknown: SD's. */
const SD_LATENT_CELL = 8;

/** A1111's canny thresholds when a unit gives none (0–255). */
const CANNY_DEFAULTS: [number, number] = [100, 200];
const TAGGER_NODE = 'WD14Tagger|pysssss';

export function buildGraph(spec: GenerationSpec, binding: Binding, inventory: ComfyInventory, files: GraphFiles, seed: number): BuiltGraph {
  const graph = new ComfyGraph();
  switch (spec.kind) {
    case 'txt2img':
    case 'img2img':
      return new DiffusionGraph(graph, spec, binding, inventory, files, seed).build();
    case 'upscale':
      return { graph, output: buildUpscale(graph, spec, binding, inventory, files), samplerPasses: [], loaders: [] };
    case 'interrogate': {
      const image = out(graph.add('LoadImage', { image: required(files.image, 'source image') }, 'Image to interrogate'));
      const output = graph.add(TAGGER_NODE, {
        image,
        model: required(inventory.taggerModel ?? undefined, 'tagger model'),
        threshold: 0.35,
        character_threshold: 0.85,
        replace_underscore: false,
        trailing_comma: false,
        exclude_tags: '',
      });
      return { graph, output, samplerPasses: [], loaders: [] };
    }
  }
}

class DiffusionGraph {
  readonly #passes: { node: string; steps: number }[] = [];
  readonly #loaders: string[] = [];
  readonly #recipe: ModelRecipe;
  readonly #guidance: GuidanceKind;
  readonly #how: FamilyGraph;
  /** The pixels of a latent cell each way (the family's `sideMultiple`: Flux.2's 16). */
  readonly #cell: number;
  /** An edit model's (FLUX.1 Kontext, Qwen-Image-Edit). */
  readonly #edits: boolean;

  constructor(
    readonly graph: ComfyGraph,
    readonly spec: DiffusionSpec,
    readonly binding: Binding,
    readonly inventory: ComfyInventory,
    readonly files: GraphFiles,
    readonly seed: number,
  ) {
    const title = required(binding.checkpoint, 'checkpoint');
    const recipe = inventory.models.get(title);
    // Retried elsewhere: the GPU owner removed it since the node last looked, and the node looks again after a failure.
    if (!recipe) throw new DanError('DAN_ERR_BACKEND_FAILED', `ComfyUI no longer lists the model ${title}; the node will look again`);
    this.#recipe = recipe;
    const traits = recipe.family ? familyTraits[recipe.family] : null;
    this.#guidance = traits?.guidance ?? 'cfg';
    this.#how = recipe.family ? FAMILY_GRAPHS[recipe.family] : SD_GRAPH;
    this.#cell = traits?.sideMultiple ?? SD_LATENT_CELL;
    this.#edits = traits?.edits ?? false;
  }

  build(): BuiltGraph {
    // A gateway never asks an edit model for a txt2img; one of an older protocol sharing its database does not know
    // the family, and would: refused as ComfyUI would refuse a graph it cannot run, not drawn without the image.
    if (this.#edits && this.spec.kind === 'txt2img') {
      throw new DanError('DAN_ERR_BACKEND_REJECTED', `${this.#recipe.file} is an edit model: it edits an image it is given (img2img), and cannot run txt2img`);
    }
    const g = this.graph;
    const { model: base, clip: baseClip, vae } = this.#loadModel();
    let model = base;
    let clip = baseClip;
    const loras = this.spec.loras.length > 0 ? required(this.binding.loras, 'LoRA names') : [];
    this.spec.loras.forEach((use, i) => {
      const name = required(loras[i], `LoRA ${use.lora.name}`);
      // The binding names the LoRA as the node declared it (its stem); ComfyUI wants the file as it lists it.
      const file = this.inventory.loras.get(name) ?? name;
      const id = g.add('LoraLoader', { model, clip, lora_name: file, strength_model: use.weight, strength_clip: use.weight });
      model = out(id, 0);
      clip = out(id, 1);
    });
    const shift = isQwenEdit2511(this.#recipe.family, this.#recipe.file) ? QWEN_EDIT_2511_SHIFT : this.#how.shift;
    if (shift !== undefined) model = out(g.add('ModelSamplingAuraFlow', { model, shift }));
    if (this.#how.cfgNorm) model = out(g.add('CFGNorm', { model, strength: 1 }));
    // An edit model is given the image to edit with its prompt, and samples all of its steps from that image's
    // latent, as ComfyUI's templates do.
    const editImage = this.#edits && this.spec.kind === 'img2img' ? this.#editImage(vae) : null;
    if (editImage && this.#how.edit === 'qwen-plus') return this.#buildQwenEdit({ model, clip, vae }, editImage);
    const edit = editImage?.latent ?? null;
    const prompt = out(g.add('CLIPTextEncode', { text: this.spec.prompt, clip }, 'Positive prompt'));
    let positive = prompt;
    // FLUX.1 Kontext: the image's latent is a reference joined to the prompt.
    if (edit) positive = out(g.add('ReferenceLatent', { conditioning: positive, latent: edit }));
    if (this.#guidance === 'distilled') {
      const fallback = (this.#recipe.family ? familyTraits[this.#recipe.family].defaultGuidance : null) ?? FLUX_DEFAULT_GUIDANCE;
      positive = out(g.add('FluxGuidance', { conditioning: positive, guidance: this.spec.guidance ?? fallback }));
    }
    // Flux and Z-Image-Turbo take no negative prompt; at cfg 1 the negative is never evaluated. Z-Image's template
    // zeroes the positive out rather than encode a second text.
    // Kontext's template zeroes the prompt's encoding out (before the reference and guidance).
    let negative =
      this.#guidance === 'none' || edit
        ? out(g.add('ConditioningZeroOut', { conditioning: edit ? prompt : positive }, 'Negative prompt'))
        : out(g.add('CLIPTextEncode', { text: this.#guidance === 'cfg' ? this.spec.negativePrompt : '', clip }, 'Negative prompt'));
    this.spec.controlNet.forEach((unit, i) => {
      const applied = this.#controlNet(unit, i, positive, negative, vae);
      positive = applied.positive;
      negative = applied.negative;
    });
    const conditioning = { model, positive, negative };
    let decoded: Link;
    if (this.spec.kind === 'txt2img') {
      const empty = this.#emptyLatent(this.spec);
      let latent = this.spec.refiner ? this.#sampleWithRefiner(this.spec, conditioning, empty) : this.#sample(conditioning, empty, this.spec.steps, 1);
      if (this.spec.hires) latent = this.#hires(this.spec, conditioning, latent, vae);
      decoded = out(g.add('VAEDecode', { samples: latent, vae }));
    } else if (edit) {
      decoded = out(g.add('VAEDecode', { samples: this.#sample(conditioning, edit, this.spec.steps, 1), vae }));
    } else {
      const start = this.#img2imgStart(this.spec, conditioning, vae);
      const sampled = this.#sampleFrom(start.conditioning, start.latent, this.spec.steps, a1111Img2ImgStart(this.spec.steps, this.spec.denoisingStrength));
      decoded = out(g.add('VAEDecode', { samples: sampled, vae }));
      if (start.overlay) {
        const paste = { destination: start.init, source: decoded, x: 0, y: 0, resize_source: false, mask: start.overlay };
        decoded = out(g.add('ImageCompositeMasked', paste, 'Paste inside the mask'));
      }
    }
    const output = g.add('PreviewImage', { images: decoded });
    return { graph: g, output, samplerPasses: this.#passes, loaders: this.#loaders };
  }

  /** The image an edit model edits (already at the task's size), and encoded: its reference and its starting latent. */
  #editImage(vae: Link): { image: Link; latent: Link } {
    const image = out(this.graph.add('LoadImage', { image: required(this.files.initImage, 'image to edit') }, 'Image to edit'));
    return { image, latent: out(this.graph.add('VAEEncode', { pixels: image, vae })) };
  }

  /**
   * Qwen-Image-Edit's graph from its model on: each prompt (the negative too, empty by default) encoded with the
   * image by `TextEncodeQwenImageEditPlus` (2511's then told to place the image at timestep zero, as its template
   * does), every step sampled from the image's latent at the request's cfg.
   */
  #buildQwenEdit({ model, clip, vae }: { model: Link; clip: Link; vae: Link }, edit: { image: Link; latent: Link }): BuiltGraph {
    const g = this.graph;
    const timestepZero = isQwenEdit2511(this.#recipe.family, this.#recipe.file);
    const encode = (prompt: string, title: string) => {
      const encoded = out(g.add('TextEncodeQwenImageEditPlus', { clip, prompt, vae, image1: edit.image }, title));
      return timestepZero ? out(g.add(REFERENCE_METHOD_NODE, { conditioning: encoded, reference_latents_method: TIMESTEP_ZERO_INDEX })) : encoded;
    };
    const conditioning = { model, positive: encode(this.spec.prompt, 'Positive prompt'), negative: encode(this.spec.negativePrompt, 'Negative prompt') };
    const decoded = out(g.add('VAEDecode', { samples: this.#sample(conditioning, edit.latent, this.spec.steps, 1), vae }));
    const output = g.add('PreviewImage', { images: decoded });
    return { graph: g, output, samplerPasses: this.#passes, loaders: this.#loaders };
  }

  #loadModel(): { model: Link; clip: Link; vae: Link } {
    const g = this.graph;
    const recipe = this.#recipe;
    if (recipe.loader === 'checkpoint') {
      const id = g.add('CheckpointLoaderSimple', { ckpt_name: recipe.file });
      this.#loaders.push(id);
      return { model: out(id, 0), clip: out(id, 1), vae: out(id, 2) };
    }
    const unet = g.add('UNETLoader', { unet_name: recipe.file, weight_dtype: 'default' });
    const [first, second] = recipe.textEncoders;
    const clip =
      second === undefined
        ? g.add('CLIPLoader', { clip_name: required(first, 'text encoder'), type: recipe.clipType })
        : g.add('DualCLIPLoader', { clip_name1: required(first, 'text encoder'), clip_name2: second, type: recipe.clipType });
    const vae = g.add('VAELoader', { vae_name: recipe.vae });
    this.#loaders.push(unet, clip, vae);
    return { model: out(unet), clip: out(clip), vae: out(vae) };
  }

  #controlNet(unit: ControlNetUnitSpec, index: number, positive: Link, negative: Link, vae: Link): { positive: Link; negative: Link } {
    const g = this.graph;
    const bound = required(required(this.binding.controlNet, 'ControlNet models')[index], `ControlNet unit ${index}`);
    const image = out(g.add('LoadImage', { image: required(this.files.control?.[index], `control image ${index}`) }, `Control image ${index + 1}`));
    let map: Link;
    if (bound.module.toLowerCase() === 'canny') {
      const [low, high] = [unit.thresholdA ?? CANNY_DEFAULTS[0], unit.thresholdB ?? CANNY_DEFAULTS[1]];
      map = out(g.add('Canny', { image, low_threshold: toUnitThreshold(low), high_threshold: toUnitThreshold(high) }));
    } else {
      // A1111's "openpose" is the body alone; hands and face are its "openpose_full".
      map = out(g.add('OpenposePreprocessor', { image, detect_hand: 'disable', detect_body: 'enable', detect_face: 'disable', resolution: 512 }));
    }
    const controlNet = out(g.add('ControlNetLoader', { control_net_name: bound.model }));
    const applied = g.add('ControlNetApplyAdvanced', {
      positive,
      negative,
      control_net: controlNet,
      image: map,
      strength: unit.weight,
      start_percent: this.#schedulePercent(unit.guidanceStart),
      end_percent: this.#schedulePercent(unit.guidanceEnd),
      ...(this.inventory.controlNetTakesVae ? { vae } : {}),
    });
    return { positive: out(applied, 0), negative: out(applied, 1) };
  }

  /**
   * A ControlNet's start or end, a fraction of the steps sampled (A1111's), as ComfyUI's percent of the whole
   * schedule. img2img samples only the schedule's last steps (from `a1111Img2ImgStart`): a unit to end half way
   * through them ends at the step half way between there and the end. Exact where a schedule's timesteps are
   * spaced evenly (normal, simple), close elsewhere; txt2img samples all the steps, and keeps the fraction.
   */
  #schedulePercent(fraction: number): number {
    if (this.spec.kind !== 'img2img') return fraction;
    const steps = this.spec.steps;
    const start = a1111Img2ImgStart(steps, this.spec.denoisingStrength);
    return Math.round(((start + fraction * (steps - start)) / steps) * 1000) / 1000;
  }

  #emptyLatent(spec: Txt2ImgSpec): Link {
    const size = { width: spec.width, height: spec.height, batch_size: 1 };
    return out(this.graph.add(this.#how.latent, size));
  }

  /**
   * img2img's start, the init image encoded. Inpainting, as A1111 does it: the sampler starts from the
   * original (A1111's "original" fill, which DAN asks of A1111 nodes too) and changes it only inside the
   * mask rounded at one half; an inpainting checkpoint is also given the picture with that part greyed,
   * as its conditioning (`InpaintModelConditioning`, where this ComfyUI has it). Then the result is pasted
   * over the original with the soft mask doubled (A1111 overlays with `clip(2 × mask)`), unless the node
   * pastes it back itself (the masked area only, where A1111 overlays with the mask as it is).
   */
  #img2imgStart(spec: Img2ImgSpec, conditioning: Conditioning, vae: Link): { latent: Link; conditioning: Conditioning; init: Link; overlay: Link | null } {
    const g = this.graph;
    const init = out(g.add('LoadImage', { image: required(this.files.initImage, 'init image') }, 'Init image'));
    if (!spec.inpaint) return { latent: out(g.add('VAEEncode', { pixels: init, vae })), conditioning, init, overlay: null };
    const maskImage = out(g.add('LoadImage', { image: required(this.files.mask, 'mask') }, 'Mask'));
    const mask = out(g.add('ImageToMask', { image: maskImage, channel: 'red' }));
    // Without these two (ComfyUI before late 2023) the soft mask serves for both: its edge blended twice.
    const rounded = this.inventory.thresholdMask ? out(g.add('ThresholdMask', { mask, value: 0.5 }, 'Mask, rounded')) : mask;
    let latent: Link;
    if (this.inventory.inpaintConditioning) {
      const { positive, negative } = conditioning;
      const id = g.add('InpaintModelConditioning', { positive, negative, vae, pixels: init, mask: rounded, noise_mask: true });
      conditioning = { ...conditioning, positive: out(id, 0), negative: out(id, 1) };
      latent = out(id, 2);
    } else {
      latent = out(g.add('SetLatentNoiseMask', { samples: out(g.add('VAEEncode', { pixels: init, vae })), mask: rounded }));
    }
    const doubled = () => (this.inventory.maskComposite ? out(g.add('MaskComposite', { destination: mask, source: mask, x: 0, y: 0, operation: 'add' }, 'Mask, doubled')) : mask);
    const overlay = this.files.pastedByNode ? null : doubled();
    return { latent, conditioning, init, overlay };
  }

  /**
   * Samples a `steps` schedule from step `startAt` on, as A1111's img2img does: its strength picks where in the
   * task's own schedule sampling starts. (KSampler's `denoise` would sample a longer schedule's tail, which
   * starts lower: less change than A1111 makes at the same strength.)
   */
  #sampleFrom(conditioning: Conditioning, latent: Link, steps: number, startAt: number): Link {
    if (this.#how.custom) return this.#sampleCustom(conditioning, latent, { schedule: steps, skip: startAt, size: this.spec });
    const { sampler, scheduler } = this.#samplerPair();
    const id = this.graph.add('KSamplerAdvanced', {
      ...conditioning,
      latent_image: latent,
      add_noise: 'enable',
      noise_seed: this.seed,
      steps,
      cfg: this.#cfg(),
      sampler_name: sampler,
      scheduler,
      start_at_step: startAt,
      end_at_step: 10000,
      return_with_leftover_noise: 'disable',
    });
    this.#passes.push({ node: id, steps: steps - startAt });
    return out(id);
  }

  /** `size`: the latent's, in pixels (Flux.2's schedule depends on it). */
  #sample(conditioning: Conditioning, latent: Link, steps: number, denoise: number, size: { width: number; height: number } = this.spec): Link {
    if (this.#how.custom) {
      // KSampler's denoise d samples the last `steps` of a schedule of steps ÷ d: the same steps here. At 0 it
      // changes nothing (KSampler hands the latent back). The schedule stays within Flux2Scheduler's 4,096 steps.
      // (Flux2Scheduler's shift is fitted to the step count up to 200 steps: a long schedule's low end differs a
      // little from a short one's, so a small hires denoise changes Flux.2's picture somewhat less than SD's.)
      if (denoise <= 0) return latent;
      const schedule = denoise >= 1 ? steps : Math.min(FLUX2_MAX_SCHEDULE, Math.max(steps, Math.floor(steps / denoise)));
      return this.#sampleCustom(conditioning, latent, { schedule, skip: Math.max(0, schedule - steps), size });
    }
    const { sampler, scheduler } = this.#samplerPair();
    const id = this.graph.add('KSampler', {
      ...conditioning,
      latent_image: latent,
      seed: this.seed,
      steps,
      cfg: this.#cfg(),
      sampler_name: sampler,
      scheduler,
      denoise,
    });
    this.#passes.push({ node: id, steps });
    return out(id);
  }

  /**
   * Flux.2's sampling, as ComfyUI's example does it: the guided positive alone (`BasicGuider`), its own schedule
   * for the latent's size unless one is named, the first `skip` steps of it left out (img2img, a hires pass).
   */
  #sampleCustom(conditioning: Conditioning, latent: Link, part: { schedule: number; skip: number; size: { width: number; height: number } }): Link {
    const g = this.graph;
    const { sampler, scheduler } = this.#samplerPair();
    const named = this.binding.sampler?.scheduler;
    let sigmas =
      named === null || named === undefined || named === AUTOMATIC_SCHEDULER
        ? out(g.add('Flux2Scheduler', { steps: part.schedule, width: part.size.width, height: part.size.height }))
        : out(g.add('BasicScheduler', { model: conditioning.model, scheduler, steps: part.schedule, denoise: 1 }));
    if (part.skip > 0) sigmas = out(g.add('SplitSigmas', { sigmas, step: part.skip }), 1);
    const id = g.add('SamplerCustomAdvanced', {
      noise: out(g.add('RandomNoise', { noise_seed: this.seed })),
      guider: out(g.add('BasicGuider', { model: conditioning.model, conditioning: conditioning.positive })),
      sampler: out(g.add('KSamplerSelect', { sampler_name: sampler })),
      sigmas,
      latent_image: latent,
    });
    this.#passes.push({ node: id, steps: part.schedule - part.skip });
    return out(id, 0);
  }

  /**
   * SDXL with its refiner, as ComfyUI's SDXL examples do it: the base samples the first `switchAt` of the steps
   * and hands its latent on with the noise left in it; the refiner, with its own text encoding, samples the rest.
   */
  #sampleWithRefiner(spec: Txt2ImgSpec, base: Conditioning, latent: Link): Link {
    const g = this.graph;
    const refiner = spec.refiner!;
    const title = required(this.binding.refiner, 'refiner');
    const recipe = this.inventory.models.get(title);
    if (recipe?.loader !== 'checkpoint') throw new DanError('DAN_ERR_BACKEND_FAILED', `ComfyUI no longer lists the refiner ${title}; the node will look again`);
    // Not among `loaders`: the load the scheduler learns is the task's checkpoint's, not its refiner's.
    const loader = g.add('CheckpointLoaderSimple', { ckpt_name: recipe.file }, 'Refiner');
    const positive = out(g.add('CLIPTextEncode', { text: spec.prompt, clip: out(loader, 1) }, 'Refiner positive prompt'));
    const negative = out(g.add('CLIPTextEncode', { text: spec.negativePrompt, clip: out(loader, 1) }, 'Refiner negative prompt'));
    // A1111 switches at the first step whose share of the schedule done reaches `switchAt` (by timestep; the
    // same step where timesteps are evenly spaced): 0.72 of 10 steps switches after 8, not 7.
    const switchStep = Math.min(spec.steps - 1, Math.max(1, Math.ceil(spec.steps * refiner.switchAt - 1e-9)));
    const { sampler, scheduler } = this.#samplerPair();
    const common = { noise_seed: this.seed, steps: spec.steps, cfg: spec.cfgScale, sampler_name: sampler, scheduler };
    const first = g.add('KSamplerAdvanced', { ...base, ...common, latent_image: latent, add_noise: 'enable', start_at_step: 0, end_at_step: switchStep, return_with_leftover_noise: 'enable' });
    const second = g.add('KSamplerAdvanced', {
      model: out(loader, 0),
      positive,
      negative,
      ...common,
      latent_image: out(first),
      add_noise: 'disable',
      start_at_step: switchStep,
      end_at_step: 10000,
      return_with_leftover_noise: 'disable',
    });
    this.#passes.push({ node: first, steps: switchStep }, { node: second, steps: spec.steps - switchStep });
    return out(second);
  }

  #hires(spec: Txt2ImgSpec, conditioning: Conditioning, latent: Link, vae: Link): Link {
    const hires = spec.hires!;
    const g = this.graph;
    const name = required(this.binding.hiresUpscaler, 'hires upscaler');
    const method = this.inventory.latentModes.get(name);
    // A1111's target: int(side × scale), worked on in 8-pixel latent cells, as LatentUpscale does with it.
    // Flux.2's cells are 16 pixels: its target comes down to them, and LatentUpscale (which takes pixels and
    // divides them by 8 whatever the latent, nodes.py) is given half of it.
    const cell = this.#cell;
    const exact = { width: Math.floor(spec.width * hires.scale), height: Math.floor(spec.height * hires.scale) };
    const sd = cell === SD_LATENT_CELL;
    const target = sd ? exact : { width: Math.floor(exact.width / cell) * cell, height: Math.floor(exact.height / cell) * cell };
    let upscaled: Link;
    if (method) {
      const size = sd ? target : { width: (target.width / cell) * SD_LATENT_CELL, height: (target.height / cell) * SD_LATENT_CELL };
      upscaled = out(g.add('LatentUpscale', { samples: latent, upscale_method: method, ...size, crop: 'disabled' }));
    } else {
      const image = out(g.add('VAEDecode', { samples: latent, vae }));
      upscaled = out(g.add('VAEEncode', { pixels: upscaleImage(g, this.inventory, image, name, target), vae }));
    }
    // A1111's second pass samples all its steps at the hires denoise, as ComfyUI does.
    return this.#sample(conditioning, upscaled, spec.steps, hires.denoisingStrength, target);
  }

  /** The request's cfg_scale for a family guided by it (the request holds the others to 1 already). */
  #cfg(): number {
    return this.#guidance === 'cfg' ? this.spec.cfgScale : UNGUIDED_CFG_SCALE;
  }

  #samplerPair(): { sampler: string; scheduler: string } {
    const bound = required(this.binding.sampler, 'sampler');
    const pair = SAMPLERS[bound.sampler];
    if (!pair) throw new DanError('DAN_ERR_NODE_INTERNAL', `The task's sampler ${bound.sampler} has no ComfyUI equivalent`);
    const label = bound.scheduler;
    if (label !== null && label !== AUTOMATIC_SCHEDULER) {
      const scheduler = SCHEDULERS[label];
      if (!scheduler) throw new DanError('DAN_ERR_NODE_INTERNAL', `The task's schedule ${label} has no ComfyUI equivalent`);
      return { sampler: pair.sampler, scheduler };
    }
    // The flow families are trained for the simple schedule; A1111's automatic choices are SD's.
    return { sampler: pair.sampler, scheduler: this.#how.automatic === 'simple' ? 'simple' : pair.scheduler };
  }
}

function buildUpscale(g: ComfyGraph, spec: UpscaleSpec, binding: Binding, inventory: ComfyInventory, files: GraphFiles): string {
  const source = out(g.add('LoadImage', { image: required(files.image, 'source image') }, 'Image to upscale'));
  const target = { width: Math.floor(spec.sourceWidth * spec.scale), height: Math.floor(spec.sourceHeight * spec.scale) };
  let image = upscaleImage(g, inventory, source, required(binding.upscaler, 'upscaler'), target);
  if (binding.upscaler2 !== undefined && spec.upscaler2Visibility > 0) {
    const second = upscaleImage(g, inventory, source, binding.upscaler2, target);
    image = out(g.add('ImageBlend', { image1: image, image2: second, blend_factor: spec.upscaler2Visibility, blend_mode: 'normal' }));
  }
  return g.add('PreviewImage', { images: image });
}

/** `image` brought to `target` by the upscaler named: its model first when it is one, then an exact resize. */
function upscaleImage(g: ComfyGraph, inventory: ComfyInventory, image: Link, name: string, target: { width: number; height: number }): Link {
  const recipe = inventory.upscalers.get(name);
  if (!recipe) throw new DanError('DAN_ERR_BACKEND_FAILED', `ComfyUI no longer lists the upscaler ${name}; the node will look again`);
  let scaled = image;
  let method = 'lanczos';
  if (recipe.kind === 'model') {
    const model = out(g.add('UpscaleModelLoader', { model_name: recipe.file }));
    scaled = out(g.add('ImageUpscaleWithModel', { upscale_model: model, image }));
  } else method = recipe.method;
  return out(g.add('ImageScale', { image: scaled, upscale_method: method, width: target.width, height: target.height, crop: 'disabled' }));
}

/**
 * The step of a `steps` schedule where A1111's img2img starts sampling (`img2img_fix_steps` off): it samples
 * `int(min(strength, 0.999) × steps) + 1` steps, the schedule's last ones.
 */
export function a1111Img2ImgStart(steps: number, denoisingStrength: number): number {
  return steps - Math.floor(Math.min(denoisingStrength, 0.999) * steps) - 1;
}

/** A1111's canny thresholds (0–255) on ComfyUI's Canny scale (0.01–0.99). */
function toUnitThreshold(value: number): number {
  return Math.min(0.99, Math.max(0.01, Math.round((value / 255) * 100) / 100));
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') {
    // The gateway assigns only tasks it could bind, and the driver uploads every image first.
    throw new DanError('DAN_ERR_NODE_INTERNAL', `The ComfyUI graph lacks the task's ${what}`);
  }
  return value;
}
