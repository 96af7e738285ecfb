import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { postJson, sizeOf, solidPng, type PostJson } from './sandbox-helpers.js';

const CANNY = 'control_v11p_sd15_canny [d14c016b]';

describe('sandbox ControlNet', () => {
  let sandbox: Sandbox;
  let control: string;
  let txt2img: PostJson;
  const withUnits = (...args: unknown[]) => ({ width: 64, height: 64, steps: 2, alwayson_scripts: { controlnet: { args } } });
  const unit = (extra: Record<string, unknown> = {}) => ({ enabled: true, module: 'canny', model: CANNY, image: control, ...extra });

  beforeAll(async () => {
    sandbox = await startSandbox({ speed: Infinity });
    control = await solidPng(32, 32, [200, 10, 10]);
    txt2img = (body) => postJson(`${sandbox.url}/sdapi/v1/txt2img`, body);
  });
  afterAll(() => sandbox.close());

  it('appends the detected map after the image for an enabled unit and writes the unit infotext', async () => {
    const res = await txt2img(withUnits(unit({ resize_mode: 'Crop and Resize', control_mode: 'Balanced' })));
    expect(res.status).toBe(200);
    expect(res.body.images).toHaveLength(2);
    expect(await sizeOf(res.body.images[1])).toMatchObject({ width: 64, height: 64, format: 'png' });
    expect(JSON.parse(res.body.info).infotexts[0]).toContain(`ControlNet 0: "Module: canny, Model: ${CANNY}, Weight: 1.0`);
  });

  it('adds no map when save_detected_map is false or the unit is disabled', async () => {
    expect((await txt2img(withUnits(unit({ save_detected_map: false })))).body.images).toHaveLength(1);
    expect((await txt2img(withUnits(unit({ enabled: false })))).body.images).toHaveLength(1);
  });

  it('refuses legacy keys and names the field to use instead', async () => {
    const legacy = { input_image: control, lowvram: false, guidance: 1, guessmode: false };
    const res = await txt2img(withUnits({ enabled: true, module: 'canny', model: CANNY, image: control, ...legacy }));
    expect(res.status).toBe(422);
    const byField: Record<string, string> = Object.fromEntries(res.body.detail.map((d: { loc: unknown[]; msg: string }) => [d.loc.at(-1), d.msg]));
    expect(byField['input_image']).toContain('"image"');
    expect(byField['lowvram']).toContain('"low_vram"');
    expect(byField['guidance']).toContain('"guidance_end"');
    expect(byField['guessmode']).toContain('control_mode');
    expect(res.body.detail[0].loc).toEqual(['body', 'alwayson_scripts', 'controlnet', 'args', 0, 'input_image']);
  });

  it('refuses unknown unit keys, int enums and non-boolean enabled', async () => {
    expect((await txt2img(withUnits(unit({ colour: 'red' })))).body.detail[0].type).toBe('value_error.extra');
    const intResize = await txt2img(withUnits(unit({ resize_mode: 1 })));
    expect(intResize.status).toBe(422);
    expect(intResize.body.detail[0]).toMatchObject({ type: 'type_error.enum', msg: expect.stringContaining("'Crop and Resize'") });
    expect((await txt2img(withUnits(unit({ control_mode: 0 })))).status).toBe(422);
    expect((await txt2img(withUnits(unit({ enabled: 'true' })))).status).toBe(422);
    expect((await txt2img(withUnits(unit({ enabled: null })))).status).toBe(422);
  });

  it('wants exact model titles, known modules and at most unitCount units', async () => {
    const model = await txt2img(withUnits(unit({ model: 'control_v11p_sd15_canny' })));
    expect(model.status).toBe(422);
    expect(model.body.detail[0].loc.at(-1)).toBe('model');
    expect((await txt2img(withUnits(unit({ module: 'cany' })))).status).toBe(422);
    expect((await txt2img(withUnits(unit({ model: 'None' })))).status).toBe(422);
    expect((await txt2img(withUnits(unit(), unit(), unit(), unit()))).status).toBe(422);
    expect((await txt2img(withUnits(unit(), unit(), unit()))).body.images).toHaveLength(4);
  });

  it('needs a decodable image in txt2img', async () => {
    const missing = await txt2img(withUnits(unit({ image: null })));
    expect(missing.status).toBe(500);
    expect(missing.body.errors).toBe('controlnet is enabled but no input image is given');
    const bad = await txt2img(withUnits(unit({ image: 'bm90IGFuIGltYWdl' })));
    expect(bad).toMatchObject({ status: 500, body: { detail: 'Invalid encoded image' } });
  });

  it('accepts the script key in any case and uses the init image for an img2img unit without one', async () => {
    const init = await solidPng(64, 64, [0, 0, 255]);
    const res = await postJson(`${sandbox.url}/sdapi/v1/img2img`, {
      width: 64,
      height: 64,
      steps: 2,
      init_images: [init],
      alwayson_scripts: { ControlNet: { args: [{ enabled: true, module: 'none', model: CANNY }] } },
    });
    expect(res.status).toBe(200);
    expect(res.body.images).toHaveLength(2);
  });

  it('runs /controlnet/detect and returns the input as the map', async () => {
    const res = await postJson(`${sandbox.url}/controlnet/detect`, { controlnet_module: 'openpose', controlnet_input_images: [control] });
    expect(res.status).toBe(200);
    expect(res.body.info).toBe('Success');
    expect(await sizeOf(res.body.images[0])).toMatchObject({ width: 32, height: 32 });
    expect(res.body.poses).toEqual([{ people: [], canvas_width: 32, canvas_height: 32 }]);
    expect((await postJson(`${sandbox.url}/controlnet/detect`, { controlnet_module: 'hed', controlnet_input_images: [control] })).body.detail).toBe('Module not available');
    expect((await postJson(`${sandbox.url}/controlnet/detect`, { controlnet_module: 'canny' })).body.detail).toBe('No image selected');
  });
});
