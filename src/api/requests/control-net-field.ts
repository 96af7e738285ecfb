/**
 * @module api/requests/control-net-field
 *
 * `control_net`: up to `limits.maxControlNetUnits` units, all of them used. The
 * API reference says only the first is used and the rest ignored; DAN runs them
 * all and refuses more than the limit rather than dropping units silently.
 * Both spellings of guess mode are taken: the reference and its examples send
 * `guessmode`, the original server read `guess_mode`.
 */
import { catalogPreprocessors, toNameKey } from '../../domain/catalog.js';
import type { ControlNetUnitSpec, ResourceRef } from '../../domain/spec.js';
import { invalidField } from '../../errors/dan-error.js';
import { describeValue } from './field-messages.js';
import { checkControlNetFamily, checkFamilyTakesControlNet, modelChoice } from './family-rules.js';
import { parseBoolean, parseString, readCode, readNumber, resolveValue } from './field-readers.js';
import { type DecodedImage, type PendingImage, decodePendingImage, readImage } from './image-field.js';
import { type FieldGroup, parseGroup, pathOf, valueOf } from './known-fields.js';
import { NameMatches, findName, notInList, readName } from './name-fields.js';
import type { RequestContext } from '../../domain/request-context.js';
import {
  controlWeightRule,
  guessModeDefault,
  guidanceEndRule,
  guidanceStartRule,
  nameRule,
  resizeModeRule,
  thresholdDefaults,
  thresholdRule,
} from './rules.js';

export const controlNetUnitFields = [
  'image',
  'preprocess',
  'model',
  'preprocess_param1',
  'preprocess_param2',
  'weight',
  'resize_mode',
  'guidance_start',
  'guidance_end',
  'guessmode',
  'guess_mode',
] as const;

/** A unit whose fields are checked and whose image waits to be decoded. */
export type PendingControlNetUnit = Omit<ControlNetUnitSpec, 'image'> & { image: PendingImage };

/** The units, each checked against the model's family (a ControlNet model is made for one). */
export function readControlNet(group: FieldGroup, ctx: RequestContext, model: ResourceRef): PendingControlNetUnit[] {
  const path = pathOf(group, 'control_net');
  const value = valueOf(group, 'control_net');
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField(path, `must be an array of ControlNet units, got ${describeValue(value)}`);
  const max = ctx.limits.maxControlNetUnits;
  if (value.length > max) {
    throw invalidField(path, `at most ${max} ControlNet units are supported, got ${value.length}`);
  }
  const choice = modelChoice(model, ctx);
  if (value.length > 0) checkFamilyTakesControlNet(group, choice);
  const units = value.map((item: unknown, index) => {
    const unit = parseGroup(item, `${path}[${index}]`, { accepted: controlNetUnitFields });
    return readUnit(unit, ctx);
  });
  checkControlNetFamily(group, units, choice);
  return units;
}

export async function decodeControlNet(
  units: readonly PendingControlNetUnit[],
  maxSide: number,
): Promise<ControlNetUnitSpec[]> {
  const decoded: ControlNetUnitSpec[] = [];
  for (const unit of units) {
    const image: DecodedImage = await decodePendingImage(unit.image, maxSide);
    decoded.push({ ...unit, image: image.base64 });
  }
  return decoded;
}

function readUnit(unit: FieldGroup, ctx: RequestContext): PendingControlNetUnit {
  const preprocessor = readPreprocessor(unit, ctx);
  const modelRule = { noun: 'ControlNet model', choices: ctx.controlNetModels, match: NameMatches.nameKey };
  const model = readName(unit, 'model', modelRule).listed;
  const image = readImage(unit, 'image');
  const guidanceStart = readNumber(unit, 'guidance_start', guidanceStartRule);
  const guidanceEnd = readNumber(unit, 'guidance_end', guidanceEndRule);
  if (guidanceEnd < guidanceStart) {
    throw invalidField(pathOf(unit, 'guidance_end'), `must not be less than guidance_start (${guidanceStart}), got ${guidanceEnd}`);
  }
  return {
    image,
    module: preprocessor.name,
    model,
    thresholdA: readThreshold(unit, 'preprocess_param1', preprocessor.thresholds),
    thresholdB: readThreshold(unit, 'preprocess_param2', preprocessor.thresholds),
    weight: readNumber(unit, 'weight', controlWeightRule),
    resizeMode: readCode(unit, 'resize_mode', resizeModeRule),
    guidanceStart,
    guidanceEnd,
    guessMode: readGuessMode(unit),
  };
}

/**
 * The preprocessor's canonical name (aliases such as the reference's `openopse`
 * resolved through the catalog), if the context accepts it.
 */
function readPreprocessor(unit: FieldGroup, ctx: RequestContext): { name: string; thresholds: boolean } {
  const path = pathOf(unit, 'preprocess');
  const given = parseString(resolveValue(unit, 'preprocess', {}), path, nameRule);
  const key = toNameKey(given);
  const entry = catalogPreprocessors.find((p) => [p.name, ...p.aliases].some((n) => toNameKey(n) === key));
  const listed = findName(entry?.name ?? given, ctx.preprocessors, NameMatches.nameKey);
  if (listed === undefined) throw notInList(path, given, 'ControlNet preprocessor', ctx.preprocessors);
  // A preprocessor only a node knows gets no thresholds: DAN cannot say what they would mean.
  return { name: listed, thresholds: entry?.thresholds ?? false };
}

/** Thresholds are checked only for preprocessors that take them; the reference says others ignore them. */
function readThreshold(unit: FieldGroup, key: keyof typeof thresholdDefaults, used: boolean): number | null {
  if (!used) return null;
  return readNumber(unit, key, { ...thresholdRule, default: thresholdDefaults[key] });
}

function readGuessMode(unit: FieldGroup): boolean {
  const spellings = (['guessmode', 'guess_mode'] as const).map((key) => {
    const value = valueOf(unit, key);
    return value === undefined ? undefined : parseBoolean(value, pathOf(unit, key));
  });
  const [joined, snake] = spellings;
  if (joined !== undefined && snake !== undefined && joined !== snake) {
    throw invalidField(pathOf(unit, 'guess_mode'), `is ${snake} but guessmode is ${joined}; send only one of the two spellings`);
  }
  return joined ?? snake ?? guessModeDefault;
}
