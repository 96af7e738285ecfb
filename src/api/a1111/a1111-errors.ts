/**
 * @module api/a1111/a1111-errors
 *
 * Errors under `/sdapi/v1` (and the ControlNet routes) in AUTOMATIC1111's
 * shapes, so its clients show them: a request that is not valid gets FastAPI's
 * 422 `{detail: [{loc: ["body", field…], msg, type}]}` naming the field as the
 * client sent it (A1111's name, not DAN's); anything else A1111's exception
 * body `{error, detail, body, errors}` with DAN's HTTP status and error id.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorId } from '../../errors/catalog.js';
import { type DanError, invalidField, toDanError } from '../../errors/dan-error.js';
import { httpStatusOf } from '../error-answers.js';
import { clientErrorBodyOf, toAnswerableError } from '../error-handler.js';

/** Errors of the request itself: FastAPI's validation shape. */
const INVALID_REQUEST = new Set<ErrorId>(['DAN_ERR_REQUEST_INVALID_FIELD', 'DAN_ERR_REQUEST_UNKNOWN_FIELD', 'DAN_ERR_REQUEST_INVALID_IMAGE', 'DAN_ERR_REQUEST_INVALID_JSON']);

/** DAN's field paths that A1111 names otherwise (the rest are the same names). */
const RENAMED: [RegExp, string][] = [
  [/^init_image$/, 'init_images.0'],
  [/^inpaint\.mask_mode$/, 'inpainting_mask_invert'],
  [/^inpaint\.inpaint_area$/, 'inpaint_full_res'],
  [/^inpaint\./, ''],
  [/^upscale\.scale$/, 'hr_scale'],
  [/^upscale\.upscaler$/, 'hr_upscaler'],
  [/^upscale\./, ''],
  [/^model$/, 'override_settings.sd_model_checkpoint'],
  [/^control_net\[(\d+)\]\.preprocess$/, 'alwayson_scripts.controlnet.args.$1.module'],
  [/^control_net\[(\d+)\]\.preprocess_param1$/, 'alwayson_scripts.controlnet.args.$1.threshold_a'],
  [/^control_net\[(\d+)\]\.preprocess_param2$/, 'alwayson_scripts.controlnet.args.$1.threshold_b'],
  [/^control_net\[(\d+)\]\.guess_mode$/, 'alwayson_scripts.controlnet.args.$1.control_mode'],
  [/^control_net\[(\d+)\]/, 'alwayson_scripts.controlnet.args.$1'],
  [/^control_net$/, 'alwayson_scripts.controlnet.args'],
  [/^upscalingRate$/, 'upscaling_resize'],
  [/^upscaler$/, 'upscaler_1'],
  [/^upscaler2$/, 'upscaler_2'],
  [/^upscaler2_factor$/, 'extras_upscaler_2_visibility'],
];

/** Refusals of the A1111 body itself, which name its fields already (not DAN's, to be renamed). */
const NAMED_AS_SENT = new WeakSet<DanError>();

/** A refusal of field `field` of the A1111 body as the client sent it (`override_settings.sd_model_checkpoint`). */
export function a1111Field(field: string, problem: string): DanError {
  const error = invalidField(field, problem);
  NAMED_AS_SENT.add(error);
  return error;
}

/** Routes whose fields are DAN's own names (`image`, `model`): nothing to rename. */
const SAME_NAMES = new Set(['/sdapi/v1/interrogate']);

/** A field path as FastAPI's `loc` of the A1111 field (`["body", "alwayson_scripts", …]`): DAN's (`control_net[0].model`) renamed. */
function locOf(field: string | undefined, asSent: boolean): (string | number)[] {
  if (field === undefined || field === 'body') return ['body'];
  if (field === 'path') return ['path'];
  const rule = asSent ? undefined : RENAMED.find(([pattern]) => pattern.test(field));
  const named = rule ? field.replace(rule[0], rule[1]) : field;
  const path = named
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((part) => part !== '');
  return ['body', ...path.map((part) => (/^\d+$/.test(part) ? Number(part) : part))];
}

export function sendA1111Error(reply: FastifyReply, request: FastifyRequest, error: unknown): FastifyReply {
  const danError = toDanError(error);
  const { message } = clientErrorBodyOf(danError, error, request);
  const loc = locOf(danError.field, NAMED_AS_SENT.has(danError) || SAME_NAMES.has(request.routeOptions.url ?? ''));
  // DAN's message begins with the field's name: DAN's, or the A1111 body's own.
  const named = danError.field !== undefined && message.startsWith(`${danError.field}: `);
  const problem = named ? message.slice(danError.field.length + 2) : message;
  if (INVALID_REQUEST.has(danError.id)) {
    // `loc` names the field as the client sent it.
    return reply.code(422).send({ detail: [{ loc, msg: problem, type: danError.id === 'DAN_ERR_REQUEST_INVALID_IMAGE' ? 'value_error.image' : 'value_error' }] });
  }
  // Other refusals (a key's limits) name it too, as the client sent it.
  const detail = named && loc.length > 1 ? `${loc.slice(1).join('.')}: ${problem}` : message;
  return reply.code(httpStatusOf(danError.id)).send({ error: danError.id, detail, body: '', errors: detail });
}

/** Every error of the routes of `app` (an encapsulated context) in A1111's shapes. */
export function installA1111Errors(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => sendA1111Error(reply, request, await toAnswerableError(error, request, reply, bodyLimitBytes)));
}
