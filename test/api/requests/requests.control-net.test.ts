import { beforeAll, describe, expect, it } from 'vitest';
import { parseImg2ImgRequest, parseTxt2ImgRequest } from '../../../src/api/requests/index.js';
import { makeContext, sha } from './context-stub.js';
import { expectRejected } from './expect-error.js';
import { imageBase64 } from './image-fixtures.js';

const ctx = makeContext();
let png = '';
beforeAll(async () => {
  png = await imageBase64('png');
});

const unit = (extra: Record<string, unknown> = {}) => ({ image: png, preprocess: 'canny', model: 'sd15_canny', ...extra });
const parse = (units: unknown, context = ctx) => parseTxt2ImgRequest({ model: sha.chilloutMix, control_net: units }, context);
const first = async (extra: Record<string, unknown>) => {
  const [only] = (await parse([unit(extra)])).controlNet;
  if (only === undefined) throw new Error('no unit parsed');
  return only;
};

describe('control_net units', () => {
  it('applies the defaults, canny thresholds included', async () => {
    expect(await first({})).toEqual({
      image: png,
      module: 'canny',
      model: 'sd15_canny',
      thresholdA: 100,
      thresholdB: 200,
      weight: 1,
      resizeMode: 'just_resize',
      guidanceStart: 0,
      guidanceEnd: 1,
      guessMode: false,
    });
  });

  it('maps resize_mode 0/1/2 and rejects anything else instead of using the default', async () => {
    expect((await first({ resize_mode: 1 })).resizeMode).toBe('crop_and_resize');
    expect((await first({ resize_mode: 2 })).resizeMode).toBe('resize_and_fill');
    for (const bad of [3, -1, 1.5, '1']) {
      await expectRejected(() => parse([unit({ resize_mode: bad })]), {
        field: 'control_net[0].resize_mode',
        message: ['must be 0 (just resize), 1 (crop and resize) or 2 (resize and fill)'],
      });
    }
  });

  it.each([
    ['weight', 0, 2, -0.01, 2.01],
    ['guidance_start', 0, 1, -0.01, 1.01],
    ['guidance_end', 0, 1, -0.01, 1.01],
    ['preprocess_param1', 1, 255, 0.99, 255.5],
    ['preprocess_param2', 1, 255, 0, 256],
  ])('%s takes %d..%d and names the unit field outside it', async (field, min, max, below, above) => {
    const extra = field === 'guidance_start' ? { guidance_end: 1 } : field === 'guidance_end' ? { guidance_start: 0 } : {};
    await expect(first({ ...extra, [field]: min })).resolves.toBeDefined();
    await expect(first({ ...extra, [field]: max })).resolves.toBeDefined();
    for (const bad of [below, above]) {
      await expectRejected(() => parse([unit({ ...extra, [field]: bad })]), {
        field: `control_net[0].${field}`,
        message: [`from ${min} to ${max}, got ${bad}`],
      });
    }
  });

  it('requires guidance_start ≤ guidance_end', async () => {
    expect(await first({ guidance_start: 0.5, guidance_end: 0.5 })).toMatchObject({ guidanceStart: 0.5, guidanceEnd: 0.5 });
    await expectRejected(() => parse([unit({ guidance_start: 0.6, guidance_end: 0.5 })]), {
      field: 'control_net[0].guidance_end',
      message: ['must not be less than guidance_start (0.6), got 0.5'],
    });
  });

  it('accepts guessmode and guess_mode, and rejects the two disagreeing', async () => {
    expect((await first({ guessmode: true })).guessMode).toBe(true);
    expect((await first({ guess_mode: true })).guessMode).toBe(true);
    expect((await first({ guessmode: true, guess_mode: true })).guessMode).toBe(true);
    expect((await first({ guessmode: false })).guessMode).toBe(false);
    await expectRejected(() => parse([unit({ guessmode: true, guess_mode: false })]), {
      field: 'control_net[0].guess_mode',
      message: ['send only one of the two spellings'],
    });
    await expectRejected(() => parse([unit({ guessmode: 1 })]), { field: 'control_net[0].guessmode', message: ['must be true or false, got 1'] });
  });

  it('takes the reference spelling openopse as openpose and ignores thresholds for it', async () => {
    const parsed = await first({ preprocess: 'openopse', model: 'sd15_openpose', preprocess_param1: 'whatever', preprocess_param2: 0 });
    expect(parsed).toMatchObject({ module: 'openpose', model: 'sd15_openpose', thresholdA: null, thresholdB: null });
  });

  it('accepts a preprocessor only a node offers, without thresholds', async () => {
    expect(await first({ preprocess: 'depth', preprocess_param1: 5 })).toMatchObject({ module: 'depth', thresholdA: null });
  });

  it('rejects unknown preprocessors and models, listing the supported ones', async () => {
    await expectRejected(() => parse([unit({ preprocess: 'cany' })]), {
      field: 'control_net[0].preprocess',
      message: ['"cany" is not a supported ControlNet preprocessor; allowed: canny, openpose, depth'],
    });
    await expectRejected(() => parse([unit({ model: 'sd15_depth' })]), {
      field: 'control_net[0].model',
      message: ['allowed: sd15_canny, sd15_openpose'],
    });
  });

  it('requires image, preprocess and model', async () => {
    for (const key of ['image', 'preprocess', 'model']) {
      const incomplete: Record<string, unknown> = unit();
      delete incomplete[key];
      await expectRejected(() => parse([incomplete]), { field: `control_net[0].${key}`, message: ['is required'] });
    }
  });

  it('uses every unit up to the limit and refuses more', async () => {
    const three = [unit(), unit({ preprocess: 'openpose', model: 'sd15_openpose' }), unit({ weight: 0.5 })];
    expect((await parse(three)).controlNet.map((u) => u.module)).toEqual(['canny', 'openpose', 'canny']);
    await expectRejected(() => parse([...three, unit()]), {
      field: 'control_net',
      message: ['at most 3 ControlNet units are supported, got 4'],
    });
    await expectRejected(() => parse([unit(), unit()], makeContext({ maxControlNetUnits: 1 })), { field: 'control_net' });
  });

  it('names the unit of a bad field and rejects unknown unit fields', async () => {
    await expectRejected(() => parse([unit(), unit({ weight: 3 })]), { field: 'control_net[1].weight' });
    await expectRejected(() => parse([unit({ threshold_a: 1 })]), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'control_net[0].threshold_a' });
    await expectRejected(() => parse([null]), { field: 'control_net[0]', message: ['must be a JSON object, got null'] });
    await expectRejected(() => parse({}), { field: 'control_net', message: ['must be an array'] });
  });

  it('decodes unit images and reports a bad one by its path', async () => {
    await expectRejected(() => parse([unit(), unit({ image: 'bm90IGFuIGltYWdl' })]), {
      id: 'DAN_ERR_REQUEST_INVALID_IMAGE',
      field: 'control_net[1].image',
    });
  });

  it('checks img2img units the same way', async () => {
    const spec = await parseImg2ImgRequest({ model: 'clarity', init_image: png, control_net: [unit({ guess_mode: true })] }, ctx);
    expect(spec.controlNet[0]?.guessMode).toBe(true);
  });
});
