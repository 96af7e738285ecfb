/**
 * @module sandbox/comfyui/nodes-images
 *
 * Image and mask node classes: loading an uploaded image, saving results,
 * scaling (with and without an upscale model), blending, masks, the core Canny
 * preprocessor, and the node classes of two custom packs a node may have
 * installed: `comfyui_controlnet_aux` (OpenPose) and `ComfyUI-WD14-Tagger`
 * (captions as tags).
 */
import sharp from 'sharp';
import { captionOf, colourName } from '../caption.js';
import { blend, composite } from '../pixels.js';
import { INTERROGATE_SECONDS, toWallMs, upscalerSeconds } from '../time-model.js';
import { annotatedFile } from './comfy-files.js';
import type { CustomNodePacks } from './comfy-offerings.js';
import { decodeImageFile, filled, resizeRaw, toPng } from './raw-pixels.js';
import { link, MAX_RESOLUTION, NodeExecutionError, type ImageValue, type InputSpec, type MaskValue, type NodeClass } from './node-types.js';

const SCALE_METHODS = ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'];
const KERNELS: Record<string, 'nearest' | 'linear' | 'cubic' | 'lanczos3'> = {
  'nearest-exact': 'nearest',
  bilinear: 'linear',
  area: 'linear',
  bicubic: 'cubic',
  lanczos: 'lanczos3',
};
const enableDisable = (first: 'enable' | 'disable'): InputSpec => ({
  kind: 'combo',
  choices: () => (first === 'enable' ? ['enable', 'disable'] : ['disable', 'enable']),
});

function greyscale(image: ImageValue): ImageValue {
  const rgb = Buffer.alloc(image.rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const y = Math.round(image.rgb[i]! * 0.299 + image.rgb[i + 1]! * 0.587 + image.rgb[i + 2]! * 0.114);
    rgb[i] = rgb[i + 1] = rgb[i + 2] = y > 127 ? 255 : 0;
  }
  return { ...image, rgb };
}

async function scaled(image: ImageValue, width: number, height: number, method: string): Promise<ImageValue> {
  const to = { width: Math.max(1, width), height: Math.max(1, height) };
  return { type: 'IMAGE', ...to, rgb: await resizeRaw(image.rgb, image, to, 3, KERNELS[method] ?? 'lanczos3') };
}

/** An upscale model's factor, read from its name as the model's architecture would tell it (`x2`, `2x`, else 4). */
export function upscaleModelFactor(file: string): number {
  const match = /(?:^|[^0-9])([1-8])x|x([1-8])(?:[^0-9]|$)/i.exec(file);
  return Number(match?.[1] ?? match?.[2] ?? 4);
}

const MASK_OPERATIONS = ['multiply', 'add', 'subtract', 'and', 'or', 'xor'] as const;
type MaskOperation = (typeof MASK_OPERATIONS)[number];
/** Each operation on two mask values in 0–1 (`and`/`or`/`xor` on their truth: non-zero is set). */
const MASK_COMBINE: Record<MaskOperation, (a: number, b: number) => number> = {
  multiply: (a, b) => a * b,
  add: (a, b) => a + b,
  subtract: (a, b) => a - b,
  and: (a, b) => Number(a > 0 && b > 0),
  or: (a, b) => Number(a > 0 || b > 0),
  xor: (a, b) => Number(a > 0 !== b > 0),
};

export const imageNodes: NodeClass[] = [
  {
    name: 'LoadImage',
    displayName: 'Load Image',
    category: 'image',
    required: { image: { kind: 'combo', choices: (w) => w.files.inputNames(), imageUpload: true } },
    outputs: [
      { type: 'IMAGE', name: 'IMAGE' },
      { type: 'MASK', name: 'MASK' },
    ],
    validates: ['image'],
    validate(inputs, world) {
      const value = String(inputs['image']);
      const { type, name } = annotatedFile(value);
      return world.files.read(type, '', name) === undefined ? { input: 'image', message: `Invalid image file: ${value}` } : null;
    },
    async run(run) {
      const { type, name } = annotatedFile(String(run.inputs['image']));
      const data = run.world.files.read(type, '', name);
      if (!data) throw new NodeExecutionError('FileNotFoundError', `[Errno 2] No such file or directory: '${String(run.inputs['image'])}'`);
      let decoded;
      try {
        decoded = await decodeImageFile(data);
      } catch {
        throw new NodeExecutionError('PIL.UnidentifiedImageError', `cannot identify image file '${String(run.inputs['image'])}'`);
      }
      const image: ImageValue = { type: 'IMAGE', ...decoded.size, rgb: decoded.rgb };
      // The mask is 1 − alpha; without alpha, 64×64 zeros (nodes.py LoadImage).
      const mask: MaskValue = decoded.alpha
        ? { type: 'MASK', ...decoded.size, data: Buffer.from(decoded.alpha.map((a) => 255 - a)) }
        : { type: 'MASK', width: 64, height: 64, data: filled({ width: 64, height: 64 }, 1, 0) };
      return { outputs: [image, mask] };
    },
  },
  {
    name: 'SaveImage',
    displayName: 'Save Image',
    category: 'image',
    description: 'Saves the input images to your ComfyUI output directory.',
    required: { images: link('IMAGE'), filename_prefix: { kind: 'string', multiline: false, default: 'ComfyUI' } },
    outputs: [],
    outputNode: true,
    async run(run) {
      const image = run.inputs['images'] as ImageValue;
      const saved = run.world.files.save('output', String(run.inputs['filename_prefix']).replace(/[/\\]/g, '_'), await toPng(image.rgb, image));
      return { outputs: [], ui: { images: [saved] } };
    },
  },
  {
    name: 'PreviewImage',
    displayName: 'Preview Image',
    category: 'image',
    required: { images: link('IMAGE') },
    outputs: [],
    outputNode: true,
    async run(run) {
      const image = run.inputs['images'] as ImageValue;
      return { outputs: [], ui: { images: [run.world.files.save('temp', 'ComfyUI_temp', await toPng(image.rgb, image))] } };
    },
  },
  {
    name: 'ImageToMask',
    displayName: 'Convert Image to Mask',
    category: 'mask',
    pythonModule: 'comfy_extras.nodes_mask',
    required: { image: link('IMAGE'), channel: { kind: 'combo', choices: () => ['red', 'green', 'blue', 'alpha'], v3: true } },
    outputs: [{ type: 'MASK', name: 'MASK' }],
    async run(run) {
      const image = run.inputs['image'] as ImageValue;
      const channel = ['red', 'green', 'blue'].indexOf(String(run.inputs['channel']));
      if (channel < 0) throw new NodeExecutionError('IndexError', 'index 3 is out of bounds for dimension 3 with size 3');
      const data = Buffer.alloc(image.width * image.height);
      for (let i = 0; i < data.length; i++) data[i] = image.rgb[i * 3 + channel]!;
      return { outputs: [{ type: 'MASK', width: image.width, height: image.height, data }] };
    },
  },
  {
    name: 'InvertMask',
    displayName: 'InvertMask',
    category: 'mask',
    pythonModule: 'comfy_extras.nodes_mask',
    required: { mask: link('MASK') },
    outputs: [{ type: 'MASK', name: 'MASK' }],
    async run(run) {
      const mask = run.inputs['mask'] as MaskValue;
      return { outputs: [{ ...mask, data: Buffer.from(mask.data.map((v) => 255 - v)) }] };
    },
  },
  {
    name: 'MaskComposite',
    displayName: 'MaskComposite',
    category: 'mask',
    pythonModule: 'comfy_extras.nodes_mask',
    required: {
      destination: link('MASK'),
      source: link('MASK'),
      x: { kind: 'int', default: 0, min: 0, max: MAX_RESOLUTION, step: 1 },
      y: { kind: 'int', default: 0, min: 0, max: MAX_RESOLUTION, step: 1 },
      operation: { kind: 'combo', choices: () => MASK_OPERATIONS },
    },
    outputs: [{ type: 'MASK', name: 'MASK' }],
    async run(run) {
      const destination = run.inputs['destination'] as MaskValue;
      const source = run.inputs['source'] as MaskValue;
      const [left, top] = [Number(run.inputs['x']), Number(run.inputs['y'])];
      const combine = MASK_COMBINE[String(run.inputs['operation']) as MaskOperation];
      const data = Buffer.from(destination.data);
      // The source laid over the destination at (x, y), clipped to it; the result clamped to 0–1 (nodes_mask.py).
      for (let y = top; y < Math.min(destination.height, top + source.height); y++) {
        for (let x = left; x < Math.min(destination.width, left + source.width); x++) {
          const at = y * destination.width + x;
          data[at] = Math.max(0, Math.min(255, Math.round(combine(data[at]! / 255, source.data[(y - top) * source.width + (x - left)]! / 255) * 255)));
        }
      }
      return { outputs: [{ ...destination, data }] };
    },
  },
  {
    name: 'ThresholdMask',
    displayName: 'ThresholdMask',
    category: 'mask',
    pythonModule: 'comfy_extras.nodes_mask',
    required: { mask: link('MASK'), value: { kind: 'float', default: 0.5, min: 0, max: 1, step: 0.01 } },
    outputs: [{ type: 'MASK', name: 'MASK' }],
    async run(run) {
      const mask = run.inputs['mask'] as MaskValue;
      const above = Number(run.inputs['value']) * 255;
      return { outputs: [{ ...mask, data: Buffer.from(mask.data.map((v) => (v > above ? 255 : 0))) }] };
    },
  },
  {
    name: 'ImageScale',
    displayName: 'Upscale Image',
    category: 'image/upscaling',
    required: {
      image: link('IMAGE'),
      upscale_method: { kind: 'combo', choices: () => SCALE_METHODS },
      width: { kind: 'int', default: 512, min: 0, max: MAX_RESOLUTION, step: 1 },
      height: { kind: 'int', default: 512, min: 0, max: MAX_RESOLUTION, step: 1 },
      crop: { kind: 'combo', choices: () => ['disabled', 'center'] },
    },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      const image = run.inputs['image'] as ImageValue;
      let width = Number(run.inputs['width']);
      let height = Number(run.inputs['height']);
      // 0 keeps the aspect ratio from the other side (nodes.py ImageScale).
      if (width === 0 && height === 0) return { outputs: [image] };
      if (width === 0) width = Math.round((image.width * height) / image.height);
      if (height === 0) height = Math.round((image.height * width) / image.width);
      return { outputs: [await scaled(image, width, height, String(run.inputs['upscale_method']))] };
    },
  },
  {
    name: 'ImageScaleBy',
    displayName: 'Upscale Image By',
    category: 'image/upscaling',
    required: {
      image: link('IMAGE'),
      upscale_method: { kind: 'combo', choices: () => SCALE_METHODS },
      scale_by: { kind: 'float', default: 1, min: 0.01, max: 8, step: 0.01 },
    },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      const image = run.inputs['image'] as ImageValue;
      const scale = Number(run.inputs['scale_by']);
      return { outputs: [await scaled(image, Math.round(image.width * scale), Math.round(image.height * scale), String(run.inputs['upscale_method']))] };
    },
  },
  {
    name: 'ImageUpscaleWithModel',
    displayName: 'Upscale Image (using Model)',
    category: 'image/upscaling',
    pythonModule: 'comfy_extras.nodes_upscale_model',
    required: { upscale_model: link('UPSCALE_MODEL'), image: link('IMAGE') },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      const image = run.inputs['image'] as ImageValue;
      const factor = upscaleModelFactor(String((run.inputs['upscale_model'] as { file: string }).file));
      const out = await scaled(image, image.width * factor, image.height * factor, 'lanczos');
      await run.job.wait('upscaler', toWallMs(run.world.timing, upscalerSeconds(out.width * out.height)));
      return { outputs: [out] };
    },
  },
  {
    name: 'ImageBlend',
    displayName: 'Image Blend',
    category: 'image/postprocessing',
    pythonModule: 'comfy_extras.nodes_post_processing',
    required: {
      image1: link('IMAGE'),
      image2: link('IMAGE'),
      blend_factor: { kind: 'float', default: 0.5, min: 0, max: 1, step: 0.01 },
      blend_mode: { kind: 'combo', choices: () => ['normal', 'multiply', 'screen', 'overlay', 'soft_light', 'difference'] },
    },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      const first = run.inputs['image1'] as ImageValue;
      const second = await scaled(run.inputs['image2'] as ImageValue, first.width, first.height, 'bicubic');
      return { outputs: [{ ...first, rgb: blend(first.rgb, second.rgb, Number(run.inputs['blend_factor'])) }] };
    },
  },
  {
    name: 'ImageCompositeMasked',
    displayName: 'ImageCompositeMasked',
    category: 'image',
    pythonModule: 'comfy_extras.nodes_mask',
    required: {
      destination: link('IMAGE'),
      source: link('IMAGE'),
      x: { kind: 'int', default: 0, min: 0, max: MAX_RESOLUTION, step: 8 },
      y: { kind: 'int', default: 0, min: 0, max: MAX_RESOLUTION, step: 8 },
      resize_source: { kind: 'boolean', default: false },
    },
    optional: { mask: link('MASK') },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      const destination = run.inputs['destination'] as ImageValue;
      const source = run.inputs['source'] as ImageValue;
      if (Number(run.inputs['x']) !== 0 || Number(run.inputs['y']) !== 0) throw new NodeExecutionError('NotImplementedError', 'the sandbox composites at 0, 0 only');
      const fitted = await scaled(source, destination.width, destination.height, 'bilinear');
      const given = run.inputs['mask'] as MaskValue | undefined;
      const mask = given ? await resizeRaw(given.data, given, destination, 1, 'nearest') : filled(destination, 1, 255);
      return { outputs: [{ ...destination, rgb: composite(destination.rgb, fitted.rgb, mask) }] };
    },
  },
  {
    name: 'Canny',
    displayName: 'Canny',
    category: 'image/preprocessors',
    pythonModule: 'comfy_extras.nodes_canny',
    required: {
      image: link('IMAGE'),
      low_threshold: { kind: 'float', default: 0.4, min: 0.01, max: 0.99, step: 0.01 },
      high_threshold: { kind: 'float', default: 0.8, min: 0.01, max: 0.99, step: 0.01 },
    },
    outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
    async run(run) {
      return { outputs: [greyscale(run.inputs['image'] as ImageValue)] };
    },
  },
];

/** The node classes of the custom packs named. */
export function customPackNodes(packs: readonly (typeof CustomNodePacks)[number][]): NodeClass[] {
  const nodes: NodeClass[] = [];
  if (packs.includes('controlnet-aux')) {
    nodes.push({
      name: 'OpenposePreprocessor',
      displayName: 'OpenPose Pose',
      category: 'ControlNet Preprocessors/Faces and Poses Estimators',
      pythonModule: 'custom_nodes.comfyui_controlnet_aux',
      required: {
        image: link('IMAGE'),
      },
      optional: {
        detect_hand: enableDisable('enable'),
        detect_body: enableDisable('enable'),
        detect_face: enableDisable('enable'),
        resolution: { kind: 'int', default: 512, min: 64, max: MAX_RESOLUTION, step: 64 },
        scale_stick_for_xinsr_cn: enableDisable('disable'),
      },
      outputs: [
        { type: 'IMAGE', name: 'IMAGE' },
        { type: 'POSE_KEYPOINT', name: 'POSE_KEYPOINT' },
      ],
      async run(run) {
        return { outputs: [greyscale(run.inputs['image'] as ImageValue), { type: 'STRING', text: '[]' }] };
      },
    });
  }
  if (packs.includes('wd14-tagger')) {
    nodes.push({
      name: 'WD14Tagger|pysssss',
      displayName: 'WD14 Tagger 🐍',
      category: 'image',
      pythonModule: 'custom_nodes.ComfyUI-WD14-Tagger',
      required: {
        image: link('IMAGE'),
        model: { kind: 'combo', choices: () => ['wd-v1-4-moat-tagger-v2', 'wd-v1-4-convnextv2-tagger-v2', 'wd-eva02-large-tagger-v3'] },
        threshold: { kind: 'float', default: 0.35, min: 0, max: 1, step: 0.05 },
        character_threshold: { kind: 'float', default: 0.85, min: 0, max: 1, step: 0.05 },
        replace_underscore: { kind: 'boolean', default: false },
        trailing_comma: { kind: 'boolean', default: false },
        exclude_tags: { kind: 'string', multiline: false, default: '' },
      },
      outputs: [{ type: 'STRING', name: 'STRING' }],
      outputNode: true,
      async run(run) {
        const image = run.inputs['image'] as ImageValue;
        await run.job.wait('interrogate', toWallMs(run.world.timing, INTERROGATE_SECONDS));
        const { dominant } = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } }).stats();
        const tags = captionOf('deepdanbooru', { width: image.width, height: image.height, colour: colourName(dominant) });
        return { outputs: [{ type: 'STRING', text: tags }], ui: { tags: [tags] } };
      },
    });
  }
  return nodes;
}
