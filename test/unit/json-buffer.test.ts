import { describe, expect, it } from 'vitest';
import { Base64Image } from '../../src/util/base64-image.js';
import { toJsonBody, toJsonBuffer } from '../../src/util/json-buffer.js';

describe('toJsonBuffer', () => {
  it('gives the bytes of JSON.stringify, long base64 strings included', () => {
    const image = Buffer.alloc(5000, 7).toString('base64');
    const value = { code: 200, data: { images: [image, image.slice(0, 2000)], seeds: [1, 2], caption: 'ünïcödé "quoted"' } };
    const bytes = toJsonBuffer(value);
    expect(bytes.toString('utf8')).toBe(JSON.stringify(value));
    expect(JSON.parse(bytes.toString('utf8'))).toEqual(value);
  });

  it('leaves long strings that are not base64 to JSON.stringify (they may need escaping)', () => {
    const text = `${'a'.repeat(2000)}"\n${'b'.repeat(10)}`;
    expect(toJsonBuffer({ text }).toString('utf8')).toBe(JSON.stringify({ text }));
  });

  it('is not fooled by a string that looks like a placeholder', () => {
    const value = { a: '\u00000\u0000', b: Buffer.alloc(3000, 1).toString('base64') };
    expect(JSON.parse(toJsonBuffer(value).toString('utf8'))).toEqual(value);
  });
});

describe('toJsonBody', () => {
  it('answers a document with nothing to splice as the string JSON.stringify makes (dates, nulls and nesting included)', () => {
    const value = { code: 200, data: { taskId: 't', eta: null, at: new Date(0), list: [[1, 'a'], { b: true }], text: 'x'.repeat(1023) }, message: 'success' };
    expect(toJsonBody(value)).toBe(JSON.stringify(value));
  });

  it('splices an image or a long base64 string wherever it is, deep in arrays and objects too', () => {
    const image = Buffer.alloc(3000, 9).toString('base64');
    for (const value of [{ a: [{ b: [image] }] }, { deep: { er: { still: { image: new Base64Image(Buffer.alloc(10, 1)) } } } }]) {
      const body = toJsonBody(value);
      expect(Buffer.isBuffer(body)).toBe(true);
      expect(JSON.parse(body.toString())).toEqual(JSON.parse(JSON.stringify(value)));
    }
  });
});

describe('toJsonBuffer with images held as bytes', () => {
  it('writes their base64 as JSON.stringify would, for sizes across chunk boundaries', () => {
    for (const size of [1, 2, 3, 1000, 48 * 1024, 48 * 1024 + 1, 150_001]) {
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7919) & 255));
      const value = { code: 200, data: { images: [new Base64Image(bytes)], seeds: [1], note: 'ünï "q"' } };
      const expected = JSON.stringify({ code: 200, data: { images: [bytes.toString('base64')], seeds: [1], note: 'ünï "q"' } });
      expect(toJsonBuffer(value).toString('utf8'), `size ${size}`).toBe(expected);
      expect(JSON.stringify(value)).toBe(expected);
    }
  });
});
