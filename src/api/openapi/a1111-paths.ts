/**
 * @module api/openapi/a1111-paths
 *
 * The WebUI-compatible API (`/sdapi/v1`, `/controlnet`, api/a1111) in the
 * OpenAPI document. Its bodies are AUTOMATIC1111's own (v1.10 field set), so
 * they are described loosely here; which fields DAN honours, at which values,
 * is in docs/a1111-api.md.
 */
import { Type } from '@sinclair/typebox';

const AnyObject = Type.Object({}, { additionalProperties: true });
const json = (description: string, schema: unknown = AnyObject) => ({ description, content: { 'application/json': { schema } } });

const Validation = Type.Object(
  { detail: Type.Array(Type.Object({ loc: Type.Array(Type.Union([Type.String(), Type.Integer()])), msg: Type.String(), type: Type.String() }, { additionalProperties: false })) },
  { additionalProperties: false, description: 'FastAPI\'s shape: the field as the client named it' },
);
const Failure = Type.Object({ error: Type.String({ description: 'DAN\'s error id' }), detail: Type.String(), body: Type.String(), errors: Type.String() }, { additionalProperties: false });

const failures = {
  '422': json('A field DAN cannot honour at the value sent, or not valid', Validation),
  '401': json('An API key is needed (Bearer, or Basic with the key as password), or the one sent is not known', Failure),
  '429': json('The key\'s request rate', Failure),
  '5XX': json('The tasks failed, the wait ended (DAN_ERR_WAIT_TIMEOUT), the gateway stopped (DAN_ERR_GATEWAY_STOPPING), or it could not store them', Failure),
};

const caller = { tags: ['webui'], security: [{}, { apiKey: [] }] };
const post = (operationId: string, summary: string, answer: string) => ({
  post: { ...caller, operationId, summary, requestBody: { required: true, content: { 'application/json': { schema: AnyObject } } }, responses: { '200': json(answer), ...failures } },
});
const get = (operationId: string, summary: string, schema: unknown = Type.Array(AnyObject)) => ({ get: { ...caller, operationId, summary, responses: { '200': json('As AUTOMATIC1111 answers it', schema), ...failures } } });

export function a1111Paths(): Record<string, Record<string, unknown>> {
  return {
    '/sdapi/v1/txt2img': post('webuiTxt2img', 'WebUI-compatible txt2img, run on the network: `batch_size × n_iter` images, one task each', '`{images, parameters, info}`, info a JSON string with `all_seeds`'),
    '/sdapi/v1/img2img': post('webuiImg2img', 'WebUI-compatible img2img (inpainting with `mask`: white is repainted)', '`{images, parameters, info}`'),
    '/sdapi/v1/extra-single-image': post('webuiUpscale', 'WebUI-compatible upscale', '`{html_info, image}`'),
    '/sdapi/v1/interrogate': post('webuiInterrogate', 'WebUI-compatible interrogation', '`{caption}`'),
    '/sdapi/v1/options': {
      ...get('webuiOptions', 'The settings a WebUI client reads; `sd_model_checkpoint` is the caller\'s default', AnyObject),
      ...post('webuiSetOptions', 'Sets the caller\'s default checkpoint (`sd_model_checkpoint`); no GPU is switched', '`null`'),
    },
    '/sdapi/v1/progress': get('webuiProgress', 'The caller\'s latest unfinished task, as a WebUI reports its job', AnyObject),
    '/sdapi/v1/interrupt': post('webuiInterrupt', 'Cancels the caller\'s unfinished tasks', '`{}`'),
    '/sdapi/v1/skip': post('webuiSkip', 'Accepted; does nothing (each image is a task of its own)', '`null`'),
    '/sdapi/v1/sd-models': get('webuiModels', 'The checkpoints some node serves now'),
    '/sdapi/v1/loras': get('webuiLoras', 'The LoRAs some node serves now'),
    '/sdapi/v1/samplers': get('webuiSamplers', 'The samplers some node serves now'),
    '/sdapi/v1/schedulers': get('webuiSchedulers', 'Automatic (samplers are named with their scheduler)'),
    '/sdapi/v1/upscalers': get('webuiUpscalers', 'The upscalers some node serves now'),
    '/sdapi/v1/latent-upscale-modes': get('webuiLatentModes', 'The latent upscale modes of the hires fix'),
    '/controlnet/version': get('controlNetVersion', 'The ControlNet extension\'s API version', AnyObject),
    '/controlnet/model_list': get('controlNetModels', 'The ControlNet models some node serves now', AnyObject),
    '/controlnet/module_list': get('controlNetModules', 'The ControlNet preprocessors some node serves now', AnyObject),
    '/controlnet/settings': get('controlNetSettings', 'ControlNet units a request may carry', AnyObject),
  };
}
