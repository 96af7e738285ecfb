/**
 * The documentation schemas must describe what the parsers take: the same
 * field names, the same required fields, the same defaults, and the example
 * bodies must validate against them.
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { controlNetUnitFields } from '../../../src/api/requests/control-net-field.js';
import { hiresFields } from '../../../src/api/requests/hires-field.js';
import { img2imgFields } from '../../../src/api/requests/img2img-request.js';
import { parseTxt2ImgRequest, requestSchemas } from '../../../src/api/requests/index.js';
import { inpaintFields } from '../../../src/api/requests/inpaint-field.js';
import { interrogateFields } from '../../../src/api/requests/interrogate-request.js';
import { taskIdFields } from '../../../src/api/requests/task-id-request.js';
import { txt2imgFields } from '../../../src/api/requests/txt2img-request.js';
import { upscaleFields } from '../../../src/api/requests/upscale-request.js';
import { makeContext, sha } from './context-stub.js';

/** Checked as OpenAPI 3.1 readers check them: JSON Schema 2020-12. */
const ajv = new Ajv2020({ strict: false, validateFormats: false });
const accepts = (schema: TSchema, value: unknown) => ajv.validate(schema, value);
import { imageBase64 } from './image-fixtures.js';
import { controlNetExample, inpaintExample } from './original-examples.js';

const sorted = (names: readonly string[]) => [...names].sort();

/** The object schema inside `optional(…)` (a union with null) or an array of it. */
function objectIn(schema: TSchema | undefined): TObject {
  const inner = (schema?.['anyOf'] as TSchema[] | undefined)?.[0] ?? schema;
  const item = (inner?.['items'] as TSchema | undefined) ?? inner;
  return item as TObject;
}

describe('requestSchemas', () => {
  it.each([
    ['txt2img', txt2imgFields, ['model']],
    ['img2img', img2imgFields, ['init_image', 'model']],
    ['interrogate', interrogateFields, ['image']],
    ['upscale', upscaleFields, ['image', 'upscalingRate', 'upscaler']],
    ['taskId', taskIdFields, ['taskId']],
  ] as const)('%s lists the fields and required fields the parser takes', (name, fields, required) => {
    const schema = requestSchemas[name] as TObject;
    expect(sorted(Object.keys(schema.properties))).toEqual(sorted(fields));
    expect(sorted(schema.required ?? [])).toEqual(sorted(required));
    expect(schema.additionalProperties).toBe(false);
  });

  it('lists the nested objects’ fields as the parser does', () => {
    const txt2img = requestSchemas.txt2img.properties;
    expect(sorted(Object.keys(objectIn(txt2img.upscale).properties))).toEqual(sorted(hiresFields));
    expect(sorted(Object.keys(objectIn(txt2img.control_net).properties))).toEqual(sorted(controlNetUnitFields));
    expect(sorted(Object.keys(objectIn(requestSchemas.img2img.properties.inpaint).properties))).toEqual(sorted(inpaintFields));
  });

  it('documents the defaults the parser applies', async () => {
    const spec = await parseTxt2ImgRequest({ model: sha.chilloutMix }, makeContext());
    const defaultOf = (field: keyof typeof requestSchemas.txt2img.properties): unknown =>
      (objectIn(requestSchemas.txt2img.properties[field]) as TSchema)['default'];
    expect([defaultOf('seed'), defaultOf('steps'), defaultOf('cfg_scale'), defaultOf('width'), defaultOf('sampler_name')]).toEqual([
      spec.seed,
      spec.steps,
      spec.cfgScale,
      spec.width,
      spec.sampler,
    ]);
  });

  describe('with images', () => {
    let png = '';
    beforeAll(async () => {
      png = await imageBase64('png');
    });

    it('validates the example bodies, and rejects what the parser rejects for range', () => {
      expect(accepts(requestSchemas.txt2img, controlNetExample(png))).toBe(true);
      expect(accepts(requestSchemas.img2img, inpaintExample(png, png))).toBe(true);
      expect(accepts(requestSchemas.txt2img, { model: 'x', seed: null })).toBe(true);
      expect(accepts(requestSchemas.txt2img, { model: 'x', width: 2049 })).toBe(false);
      expect(accepts(requestSchemas.txt2img, { model: 'x', upscale: { scale: 1 } })).toBe(false);
      expect(accepts(requestSchemas.img2img, { model: 'x', init_image: png, upscale: { scale: 2 } })).toBe(false);
      expect(accepts(requestSchemas.upscale, { image: png, upscalingRate: 2, upscaler: 'Lanczos', upscaler2: 'None' })).toBe(true);
      expect(accepts(requestSchemas.txt2img, { model: 'x', loras: [['kobeni', 0.7]] })).toBe(true);
      expect(accepts(requestSchemas.txt2img, { model: 'x', loras: [['kobeni', 0.7, 1]] })).toBe(false);
      expect(accepts(requestSchemas.txt2img, { model: 'x', loras: [['kobeni', 9]] })).toBe(false);
    });
  });
});
