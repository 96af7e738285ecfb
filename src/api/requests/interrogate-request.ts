/**
 * @module api/requests/interrogate-request
 *
 * `POST /api/sd/interrogate` body → `InterrogateSpec`.
 */
import type { InterrogateSpec } from '../../domain/spec.js';
import { decodePendingImage, readImage } from './image-field.js';
import { parseGroup } from './known-fields.js';
import { NameMatches, readName } from './name-fields.js';
import type { RequestContext } from '../../domain/request-context.js';
import { interrogatorDefault } from './rules.js';

export const interrogateFields = ['image', 'model'] as const;

/**
 * @example
 * const spec = await parseInterrogateRequest({ image: png64, model: 'deepdanbooru' }, ctx);
 */
export async function parseInterrogateRequest(body: unknown, ctx: RequestContext): Promise<InterrogateSpec> {
  const group = parseGroup(body, '', { accepted: interrogateFields });
  const pending = readImage(group, 'image');
  const modelRule = {
    noun: 'interrogator',
    choices: ctx.interrogators,
    match: NameMatches.caseInsensitive,
    default: interrogatorDefault,
  };
  const interrogator = readName(group, 'model', modelRule).listed;
  const image = await decodePendingImage(pending, ctx.limits.maxInputSide);
  return { kind: 'interrogate', image: image.base64, interrogator };
}
