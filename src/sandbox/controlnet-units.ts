/**
 * @module sandbox/controlnet-units
 *
 * `alwayson_scripts` of a txt2img/img2img body (backends.md B.1–B.4), checked
 * strictly: only the ControlNet script, at most `unitCount` units, no unknown or
 * legacy unit keys, enum strings not ints, exact model titles, known modules,
 * and decodable control images.
 */
import { fieldErrorsOf, parseBody } from './body-validation.js';
import {
  ControlNetScriptBody,
  ControlNetUnitBody,
  legacyUnitFields,
  unitResizeModes,
} from './controlnet-schema.js';
import { BodyValidationError, httpException, pythonException, strictError, STRICT_ERROR_TYPE, type Loc } from './http-errors.js';
import { decodeBase64Image, type DecodedImage } from './image-decoding.js';
import type { Inventory } from './inventory.js';

export interface ControlUnitPlan {
  index: number;
  module: string;
  model: string;
  weight: number;
  /** null: the unit uses img2img's init image. */
  image: DecodedImage | null;
  resizeMode: string;
  processorRes: number;
  thresholdA: number;
  thresholdB: number;
  guidanceStart: number;
  guidanceEnd: number;
  pixelPerfect: boolean;
  controlMode: string;
  hrOption: string;
  saveDetectedMap: boolean;
}

/** The enabled units, in order; throws on anything the sandbox refuses. */
export async function parseControlNetUnits(
  inventory: Inventory,
  scripts: Readonly<Record<string, unknown>> | null | undefined,
  kind: 'txt2img' | 'img2img',
): Promise<ControlUnitPlan[]> {
  const plans: ControlUnitPlan[] = [];
  for (const [key, value] of Object.entries(scripts ?? {})) {
    const controlNet = inventory.offerings.controlNet;
    if (key.toLowerCase() !== 'controlnet' || !controlNet) throw httpException(422, `always on script ${key} not found`);
    const loc: Loc = ['body', 'alwayson_scripts', key];
    const { args } = parseBody(ControlNetScriptBody, value, loc);
    if (args.length > controlNet.unitCount) {
      throw strictError([...loc, 'args'], `${args.length} units, but control_net_unit_count is ${controlNet.unitCount}; A1111 would silently drop the extra units`);
    }
    for (const [index, unit] of args.entries()) {
      const plan = await parseUnit(inventory, unit, { index, kind, loc: [...loc, 'args', index] });
      if (plan) plans.push(plan);
    }
  }
  return plans;
}

interface UnitContext {
  index: number;
  kind: 'txt2img' | 'img2img';
  loc: Loc;
}

async function parseUnit(inventory: Inventory, raw: unknown, ctx: UnitContext): Promise<ControlUnitPlan | null> {
  const errors = fieldErrorsOf(ControlNetUnitBody, raw, ctx.loc).map((error) => {
    const key = error.loc.at(-1);
    const legacy = typeof key === 'string' && error.type === 'value_error.extra' ? legacyUnitFields[key] : undefined;
    return legacy ? { ...error, msg: legacy, type: STRICT_ERROR_TYPE } : error;
  });
  if (errors.length > 0) throw new BodyValidationError(errors);
  const unit = parseBody(ControlNetUnitBody, raw, ctx.loc);
  assertNames(inventory, unit, ctx);
  const guidanceStart = unit.guidance_start ?? 0;
  const guidanceEnd = unit.guidance_end ?? 1;
  if (guidanceStart > guidanceEnd) throw strictError([...ctx.loc, 'guidance_start'], 'guidance_start must not exceed guidance_end');
  const image = await unitImage(unit.image, ctx);
  if (typeof unit.mask === 'string') await decodeBase64Image(unit.mask);
  if (!unit.enabled) return null;
  if (!image && ctx.kind === 'txt2img') throw pythonException('ValueError', 'controlnet is enabled but no input image is given');
  return {
    index: ctx.index,
    module: unit.module ?? 'none',
    model: unit.model ?? 'None',
    weight: unit.weight ?? 1,
    image,
    resizeMode: unitResizeModes[unit.resize_mode ?? 'Crop and Resize'] ?? 'Crop and Resize',
    processorRes: unit.processor_res ?? -1,
    thresholdA: unit.threshold_a ?? -1,
    thresholdB: unit.threshold_b ?? -1,
    guidanceStart,
    guidanceEnd,
    pixelPerfect: unit.pixel_perfect ?? false,
    controlMode: unit.control_mode ?? 'Balanced',
    hrOption: unit.hr_option ?? 'Both',
    saveDetectedMap: unit.save_detected_map ?? true,
  };
}

function assertNames(inventory: Inventory, unit: ControlNetUnitBody, ctx: UnitContext): void {
  const controlNet = inventory.offerings.controlNet;
  if (!controlNet) return;
  if (unit.module !== undefined && !controlNet.modules.includes(unit.module)) {
    throw strictError([...ctx.loc, 'module'], `unknown module "${unit.module}"; /controlnet/module_list has: ${controlNet.modules.join(', ')}`);
  }
  const model = unit.model ?? 'None';
  const titles = controlNet.models.join(', ');
  if (model !== 'None' && !controlNet.models.includes(model)) {
    throw strictError([...ctx.loc, 'model'], `unknown model "${model}"; use an exact title of /controlnet/model_list: ${titles}`);
  }
  if (unit.enabled && model === 'None') {
    throw strictError([...ctx.loc, 'model'], `an enabled unit needs a model; use a title of /controlnet/model_list: ${titles}`);
  }
}

/** `image` is a base64 string or `{image, mask}`; both forms must decode. */
async function unitImage(image: unknown, ctx: UnitContext): Promise<DecodedImage | null> {
  if (image === null || image === undefined) return null;
  if (typeof image === 'string') return decodeBase64Image(image);
  const pair = image as Record<string, unknown>;
  if (typeof image === 'object' && !Array.isArray(image) && typeof pair['image'] === 'string') {
    if (typeof pair['mask'] === 'string') await decodeBase64Image(pair['mask']);
    return decodeBase64Image(pair['image']);
  }
  throw strictError([...ctx.loc, 'image'], 'image must be a base64 string or {"image": base64, "mask": base64}');
}
