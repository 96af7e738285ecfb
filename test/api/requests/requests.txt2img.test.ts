import { describe, expect, it } from 'vitest';
import { parseTxt2ImgRequest } from '../../../src/api/requests/index.js';
import { makeContext, sha } from './context-stub.js';
import { expectRejected } from './expect-error.js';

const ctx = makeContext();
const minimal = { model: sha.chilloutMix };
const parse = (extra: Record<string, unknown>, context = ctx) => parseTxt2ImgRequest({ ...minimal, ...extra }, context);

describe('parseTxt2ImgRequest: defaults', () => {
  it('fills every omitted field with its documented default', async () => {
    const spec = await parseTxt2ImgRequest({ model: sha.chilloutMix }, ctx);
    expect(spec).toEqual({
      kind: 'txt2img',
      prompt: '',
      negativePrompt: '',
      seed: -1,
      sampler: 'Euler a',
      steps: 20,
      cfgScale: 7,
      width: 512,
      height: 512,
      model: { id: sha.chilloutMix, name: 'chillout_mix' },
      loras: [],
      controlNet: [],
      hires: null,
    });
  });

  it('treats null in an optional field as omitted', async () => {
    const spec = await parse({ prompt: null, seed: null, steps: null, width: null, loras: null, upscale: null, control_net: null });
    expect(spec).toMatchObject({ prompt: '', seed: -1, steps: 20, width: 512, loras: [], hires: null, controlNet: [] });
  });

  it('calls the context resolvers as methods, so a context that uses `this` works', async () => {
    const base = makeContext();
    const context = {
      ...base,
      resolvers: base,
      resolveModel(value: string) {
        return this.resolvers.resolveModel(value);
      },
      resolveLora(value: string) {
        return this.resolvers.resolveLora(value);
      },
    };
    const spec = await parse({ loras: [[sha.korean, 1]] }, context);
    expect([spec.model.id, spec.loras[0]?.lora.id]).toEqual([sha.chilloutMix, sha.korean]);
  });

  it('resolves the model by name as well as by sha256, and node-local models', async () => {
    expect((await parseTxt2ImgRequest({ model: 'Anything-v4.5-pruned' }, ctx)).model).toEqual({ id: sha.anything, name: 'anything-v4.5-pruned' });
    expect((await parseTxt2ImgRequest({ model: 'myModel' }, ctx)).model.id).toBe('local:mymodel');
  });
});

describe('parseTxt2ImgRequest: ranges', () => {
  // [field, smallest accepted, largest accepted, just below, just above]
  const ranges: [string, number, number, number, number][] = [
    ['seed', -1, Number.MAX_SAFE_INTEGER, -2, 2 ** 53],
    ['steps', 1, 150, 0, 151],
    ['cfg_scale', 1, 30, 0.99, 30.01],
    ['width', 64, 2048, 63, 2049],
    ['height', 64, 2048, 63, 2049],
  ];

  it.each(ranges)('%s accepts %d and %d', async (field, min, max) => {
    const key = { seed: 'seed', steps: 'steps', cfg_scale: 'cfgScale', width: 'width', height: 'height' }[field] as string;
    expect((await parse({ [field]: min }) as unknown as Record<string, unknown>)[key]).toBe(min);
    expect((await parse({ [field]: max }) as unknown as Record<string, unknown>)[key]).toBe(max);
  });

  it.each(ranges)('%s rejects values just outside its range', async (field, min, max, below, above) => {
    for (const bad of [below, above]) {
      await expectRejected(() => parse({ [field]: bad }), { field, message: [`from ${min} to ${max}`, `got ${bad}`] });
    }
  });

  it('names the field, the range and the value received', async () => {
    const error = await expectRejected(() => parse({ width: 5000 }), { field: 'width' });
    expect(error.message).toBe('width: must be an integer from 64 to 2048, got 5000');
  });

  it('takes steps up to the configured limit, not a fixed one', async () => {
    const small = makeContext({ maxSteps: 50 });
    await expectRejected(() => parse({ steps: 51 }, small), { field: 'steps', message: ['from 1 to 50'] });
    expect((await parse({ steps: 150 })).steps).toBe(150);
  });

  it('takes width/height up to the configured maxSide', async () => {
    const small = makeContext({ maxSide: 1024 });
    await expectRejected(() => parse({ height: 1032 }, small), { field: 'height', message: ['from 64 to 1024'] });
  });

  it('accepts a fractional cfg_scale', async () => {
    expect((await parse({ cfg_scale: 7.5 })).cfgScale).toBe(7.5);
  });
});

describe('parseTxt2ImgRequest: width and height rounding', () => {
  it('rounds down to a multiple of 8, as the WebUI does', async () => {
    const spec = await parse({ width: 1023, height: 71 });
    expect([spec.width, spec.height]).toEqual([1016, 64]);
  });

  it('keeps sizes that are already multiples of 8 (600×800)', async () => {
    const spec = await parse({ width: 600, height: 800 });
    expect([spec.width, spec.height]).toEqual([600, 800]);
  });
});

describe('parseTxt2ImgRequest: strict types', () => {
  it.each([
    ['steps', '20', /got "20" \(a string\)/],
    ['seed', 1.5, /got 1\.5/],
    ['width', true, /got true/],
    ['cfg_scale', '7', /got "7" \(a string\)/],
    ['prompt', 42, /must be a string, got 42/],
    ['negative_prompt', ['x'], /must be a string, got an array/],
    ['sampler_name', { name: 'Euler' }, /must be a string, got an object/],
    ['model', 7, /must be a string, got 7/],
    ['steps', 20.5, /must be an integer/],
  ])('%s: %j is rejected', async (field, value, message) => {
    await expectRejected(() => parse({ [field]: value }), { field, message: [message] });
  });

  it('rejects a prompt longer than 16384 characters, and takes one of exactly 16384', async () => {
    expect((await parse({ prompt: 'a'.repeat(16384) })).prompt).toHaveLength(16384);
    await expectRejected(() => parse({ prompt: 'a'.repeat(16385) }), { field: 'prompt', message: ['at most 16384 characters, got 16385'] });
  });

  it('shortens long values it echoes back', async () => {
    const error = await expectRejected(() => parse({ sampler_name: 'x'.repeat(400) }), { field: 'sampler_name' });
    expect(error.message.length).toBeLessThan(400);
  });
});

describe('parseTxt2ImgRequest: body and unknown fields', () => {
  it.each([[null], [[]], ['{}'], [42]])('rejects a body that is not a JSON object (%j)', async (body) => {
    await expectRejected(() => parseTxt2ImgRequest(body, ctx), { field: 'body', message: ['must be a JSON object'] });
  });

  it('rejects an unknown field, suggests the likely one and lists the accepted fields', async () => {
    const error = await expectRejected(() => parse({ sampler: 'Euler' }), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'sampler' });
    expect(error.message).toContain('did you mean "sampler_name"?');
    expect(error.message).toContain('accepted fields: prompt, negative_prompt, loras, seed, sampler_name');
  });

  it('suggests a field for a small misspelling and lists every unknown field', async () => {
    const error = await expectRejected(() => parse({ negativ_prompt: 'x', batch_size: 2 }), {
      id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD',
      field: 'negativ_prompt',
    });
    expect(error.message).toContain('(did you mean "negative_prompt"?)');
    expect(error.message).toContain('"batch_size"');
  });

  it('keeps the message short when a body has many or very long unknown fields', async () => {
    const junk = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`junk_${i}_${'x'.repeat(200)}`, i]));
    const error = await expectRejected(() => parse(junk), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD' });
    expect(error.message).toContain('(41 more)');
    expect(error.message.length).toBeLessThan(1500);
  });

  it('does not take inherited names such as constructor as fields', async () => {
    await expectRejected(() => parse({ toString: 1 }), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'toString', message: [/^toString: unknown field; accepted/] });
    await expectRejected(() => parse({ constructor: 1 }), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'constructor' });
    await expectRejected(() => parseTxt2ImgRequest(JSON.parse('{"__proto__": {"model": "clarity"}}'), ctx), {
      id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD',
      field: '__proto__',
    });
  });
});

describe('parseTxt2ImgRequest: model and sampler', () => {
  it('requires a model and lists the models that may be sent', async () => {
    await expectRejected(() => parseTxt2ImgRequest({ prompt: 'a cat' }, ctx), {
      field: 'model',
      message: ['is required', 'chillout_mix', 'myModel'],
    });
  });

  it('rejects an unknown model, listing the known ones', async () => {
    await expectRejected(() => parse({ model: 'deadbeef' }), {
      field: 'model',
      message: ['"deadbeef" is not a supported model; allowed: chillout_mix, clarity'],
    });
    await expectRejected(() => parse({ model: '' }), { field: 'model', message: ['"" is not a supported model'] });
  });

  it('matches samplers case-insensitively but keeps the client spelling', async () => {
    expect((await parse({ sampler_name: 'euler A' })).sampler).toBe('euler A');
    expect((await parse({ sampler_name: 'DPM++ 2M' })).sampler).toBe('DPM++ 2M');
  });

  it('rejects a misspelt sampler, listing the supported ones', async () => {
    const error = await expectRejected(() => parse({ sampler_name: 'Eular a' }), { field: 'sampler_name' });
    expect(error.message).toBe(
      'sampler_name: "Eular a" is not a supported sampler; allowed: DPM++ SDE Karras, Euler a, Euler, DPM++ SDE, LMS, DDIM, DPM++ 2M',
    );
  });

  it('does not mistake a sampler with stripped spaces for a supported one', async () => {
    await expectRejected(() => parse({ sampler_name: 'Eulera' }), { field: 'sampler_name' });
  });
});

describe('parseTxt2ImgRequest: loras', () => {
  it('resolves [value, weight] pairs by sha256 or name, keeping the order', async () => {
    const spec = await parse({ loras: [[sha.korean, 0.5], ['KOBENI_V10', -1]] });
    expect(spec.loras).toEqual([
      { lora: { id: sha.korean, name: 'koreanDollLikeness_v10' }, weight: 0.5 },
      { lora: { id: sha.kobeni, name: 'kobeni_v10' }, weight: -1 },
    ]);
  });

  it('accepts weights -4 and 4 and rejects just outside', async () => {
    expect((await parse({ loras: [[sha.korean, -4], [sha.kobeni, 4]] })).loras.map((l) => l.weight)).toEqual([-4, 4]);
    await expectRejected(() => parse({ loras: [[sha.korean, 1], [sha.kobeni, 4.01]] }), {
      field: 'loras[1][1]',
      message: ['from -4 to 4, got 4.01'],
    });
  });

  it('names the pair element at fault', async () => {
    await expectRejected(() => parse({ loras: [[sha.korean, 1], ['nope', 1]] }), {
      field: 'loras[1][0]',
      message: ['"nope" is not a supported LoRA', 'koreanDollLikeness_v10'],
    });
    await expectRejected(() => parse({ loras: [[sha.korean, '0.5']] }), { field: 'loras[0][1]', message: ['(a string)'] });
  });

  it('takes only pairs, not objects or triples', async () => {
    await expectRejected(() => parse({ loras: [{ hash: sha.korean, weight: 1 }] }), { field: 'loras[0]', message: ['[LoRA, weight] pair'] });
    await expectRejected(() => parse({ loras: [[sha.korean, 1, 2]] }), { field: 'loras[0]' });
    await expectRejected(() => parse({ loras: [sha.korean] }), { field: 'loras[0]' });
    await expectRejected(() => parse({ loras: { [sha.korean]: 1 } }), { field: 'loras', message: ['must be an array'] });
  });

  it('rejects the same LoRA twice, even under two spellings', async () => {
    await expectRejected(() => parse({ loras: [[sha.kobeni, 0.5], ['kobeni_v10', 0.2]] }), {
      field: 'loras[1][0]',
      message: ['already used by loras[0]'],
    });
  });

  it('takes at most maxLoras LoRAs', async () => {
    const small = makeContext({ maxLoras: 1 });
    expect((await parse({ loras: [[sha.korean, 1]] }, small)).loras).toHaveLength(1);
    await expectRejected(() => parse({ loras: [[sha.korean, 1], [sha.kobeni, 1]] }, small), {
      field: 'loras',
      message: ['at most 1 LoRAs, got 2'],
    });
  });
});

describe('parseTxt2ImgRequest: LoRA tags typed in the prompt', () => {
  it('takes them into loras, checked as the field is, and out of the prompt text', async () => {
    const spec = await parse({ prompt: 'a girl <lora:kobeni_v10:0.6>, smiling <lora:koreanDollLikeness_v10>', loras: [] });
    expect(spec.prompt).toBe('a girl , smiling');
    expect(spec.loras).toEqual([
      { lora: { id: sha.kobeni, name: 'kobeni_v10' }, weight: 0.6 },
      { lora: { id: sha.korean, name: 'koreanDollLikeness_v10' }, weight: 1 },
    ]);
    // After the field's own.
    expect((await parse({ prompt: '<lora:kobeni_v10:1>', loras: [[sha.korean, 0.5]] })).loras.map((l) => l.lora.id)).toEqual([sha.korean, sha.kobeni]);
  });

  it('refuses what the field refuses: an unknown LoRA, a weight out of range, a LoRA twice, too many', async () => {
    await expectRejected(() => parse({ prompt: 'x <lora:nope:1>' }), { field: 'prompt', message: ['<lora:nope:1>', '"nope" is not a supported LoRA'] });
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:100>' }), { field: 'prompt', message: ['<lora:kobeni_v10:100>', 'from -4 to 4'] });
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:lots>' }), { field: 'prompt', message: ['"lots"'] });
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:1> <lora:KOBENI_V10:1>' }), { field: 'prompt', message: ['named twice'] });
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:1>', loras: [[sha.kobeni, 1]] }), { field: 'prompt', message: ['named twice'] });
    const small = makeContext({ maxLoras: 1 });
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:1>', loras: [[sha.korean, 1]] }, small), { field: 'prompt', message: ['at most 1 LoRAs', 'got 2'] });
    // The probe's request: a hundred tags of weight 100.
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:100>'.repeat(100) }), { field: 'prompt' });
  });

  it('refuses other extra-network tags, extra arguments, and any tag in the negative prompt', async () => {
    await expectRejected(() => parse({ prompt: '<hypernet:anime:1>' }), { field: 'prompt', message: ['only LoRA tags'] });
    await expectRejected(() => parse({ prompt: '<lora:kobeni_v10:1:0.5>' }), { field: 'prompt', message: ['<lora:NAME:WEIGHT>'] });
    await expectRejected(() => parse({ negative_prompt: 'ugly <lora:kobeni_v10:1>' }), { field: 'negative_prompt', message: ['extra-network tags'] });
    // Angle brackets that are no tag stay text.
    expect((await parse({ prompt: 'a < b > c' })).prompt).toBe('a < b > c');
  });

  it('reads tags as the WebUI does: a tag inside a tag, or a "<" in one, is refused, and taking a tag out joins no text into a new one', async () => {
    // Taken out, the inner tag would have joined "<lora:taiwan" and "DollLikeness_v10:100>" into a tag of weight 100.
    await expectRejected(() => parse({ prompt: '<lora:taiwan<lora:kobeni_v10>DollLikeness_v10:100>' }), { field: 'prompt', message: ['one tag inside another'] });
    await expectRejected(() => parse({ prompt: '<lora:<lora:kobeni_v10>secretlora:1>' }), { field: 'prompt', message: ['one tag inside another'] });
    await expectRejected(() => parse({ prompt: '<lora:taiwanDollLikeness_v10:100<>' }), { field: 'prompt', message: ['one tag inside another'] });
    await expectRejected(() => parse({ negative_prompt: '<lora:kobeni_v10:100<>' }), { field: 'negative_prompt', message: ['extra-network tags'] });
    // "<hyper" and "net:x>" around a LoRA tag: a space where the tag was, so no <hypernet:x> reaches the WebUI.
    const spec = await parse({ prompt: '<hyper<lora:kobeni_v10>net:x>' });
    expect(spec.prompt).toBe('<hyper net:x>');
    expect(spec.loras.map((l) => l.lora.name)).toEqual(['kobeni_v10']);
  });
});

describe('parseTxt2ImgRequest: upscale (hires fix)', () => {
  it('requires scale and defaults the rest', async () => {
    expect((await parse({ upscale: { scale: 1.5 } })).hires).toEqual({ scale: 1.5, upscaler: 'Latent', denoisingStrength: 0.5 });
    await expectRejected(() => parse({ upscale: {} }), { field: 'upscale.scale', message: ['is required'] });
  });

  it('takes scale in (1, 2]', async () => {
    expect((await parse({ upscale: { scale: 2 } })).hires?.scale).toBe(2);
    expect((await parse({ upscale: { scale: 1.01 } })).hires?.scale).toBe(1.01);
    for (const bad of [1, 2.01]) {
      await expectRejected(() => parse({ upscale: { scale: bad } }), {
        field: 'upscale.scale',
        message: [`must be a number greater than 1 and at most 2, got ${bad}`],
      });
    }
  });

  it('takes denoising_strength in [0, 1]', async () => {
    expect((await parse({ upscale: { scale: 2, denoising_strength: 0 } })).hires?.denoisingStrength).toBe(0);
    expect((await parse({ upscale: { scale: 2, denoising_strength: 1 } })).hires?.denoisingStrength).toBe(1);
    await expectRejected(() => parse({ upscale: { scale: 2, denoising_strength: 1.1 } }), { field: 'upscale.denoising_strength' });
    await expectRejected(() => parse({ upscale: { scale: 2, denoising_strength: -0.1 } }), { field: 'upscale.denoising_strength' });
  });

  it('matches the upscaler by name key and keeps the client spelling', async () => {
    expect((await parse({ upscale: { scale: 2, upscaler: 'esrgan_4x' } })).hires?.upscaler).toBe('esrgan_4x');
    await expectRejected(() => parse({ upscale: { scale: 2, upscaler: 'Lanczos' } }), {
      field: 'upscale.upscaler',
      message: ['"Lanczos" is not a supported hires upscaler; allowed: Latent, ESRGAN 4x'],
    });
  });

  it('rejects unknown fields and non-objects inside upscale', async () => {
    await expectRejected(() => parse({ upscale: { scale: 2, hr_scale: 2 } }), { id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD', field: 'upscale.hr_scale' });
    await expectRejected(() => parse({ upscale: true }), { field: 'upscale', message: ['must be a JSON object, got true'] });
  });

  it('accepts the largest image at the largest scale (target = 2 × maxSide)', async () => {
    const spec = await parse({ width: 2048, height: 2048, upscale: { scale: 2 } });
    expect(spec.hires?.scale).toBe(2);
  });
});
