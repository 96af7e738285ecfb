import { beforeAll, describe, expect, it } from 'vitest';
import { parseInterrogateRequest } from '../../../src/api/requests/index.js';
import { makeContext } from './context-stub.js';
import { expectRejected } from './expect-error.js';
import { imageBase64 } from './image-fixtures.js';

const ctx = makeContext();
let webp = '';
beforeAll(async () => {
  webp = await imageBase64('webp');
});

describe('parseInterrogateRequest', () => {
  it('defaults the model to clip', async () => {
    expect(await parseInterrogateRequest({ image: webp }, ctx)).toEqual({ kind: 'interrogate', image: webp, interrogator: 'clip' });
  });

  it('accepts deepdanbooru in any case, stored under its canonical name', async () => {
    expect((await parseInterrogateRequest({ image: webp, model: 'DeepDanbooru' }, ctx)).interrogator).toBe('deepdanbooru');
  });

  it('rejects an unknown interrogator, a missing image and unknown fields', async () => {
    await expectRejected(() => parseInterrogateRequest({ image: webp, model: 'blip' }, ctx), {
      field: 'model',
      message: ['"blip" is not a supported interrogator; allowed: clip, deepdanbooru'],
    });
    await expectRejected(() => parseInterrogateRequest({ model: 'clip' }, ctx), { field: 'image', message: ['is required'] });
    await expectRejected(() => parseInterrogateRequest({ image: webp, threshold: 0.5 }, ctx), {
      id: 'DAN_ERR_REQUEST_UNKNOWN_FIELD',
      field: 'threshold',
    });
  });

  it('checks the model before decoding the image', async () => {
    await expectRejected(() => parseInterrogateRequest({ image: 'garbage', model: 'blip' }, ctx), { field: 'model' });
  });
});
