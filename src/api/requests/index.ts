/**
 * @module api/requests
 *
 * Parsing DAN HTTP request bodies into specs (domain/spec.ts). Each parser takes
 * the JSON body as `unknown` and a `RequestContext`, checks every field strictly
 * (types, ranges, names the network accepts; unknown fields are errors), applies
 * the defaults, decodes images last, and either returns the spec or throws a
 * `DanError` whose message names the field (`control_net[0].weight: …`).
 * Independent of Fastify: routes call these with the parsed body.
 */
export type { DecodedImage, ImageFormat } from './image-field.js';
export { decodeImageField } from './image-field.js';
export { parseImg2ImgRequest } from './img2img-request.js';
export { parseInterrogateRequest } from './interrogate-request.js';
export { parseTaskIdRequest } from './task-id-request.js';
export { parseTxt2ImgRequest } from './txt2img-request.js';
export { parseUpscaleRequest } from './upscale-request.js';
export { requestSchemas } from './schemas.js';
