import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { insertPngText, readPngText } from '../../src/sandbox/png-text.js';

describe('png text chunks', () => {
  it('inserts a tEXt chunk that decoders accept and that reads back', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer();
    const withText = insertPngText(png, 'parameters', 'a cat\nSteps: 20');
    expect(withText.includes(Buffer.from('tEXtparameters\0a cat', 'latin1'))).toBe(true);
    expect(readPngText(withText)).toEqual({ parameters: 'a cat\nSteps: 20' });
    // libpng checks chunk CRCs: a wrong frame would fail here.
    const meta = await sharp(withText).metadata();
    expect(meta).toMatchObject({ width: 4, height: 4, format: 'png' });
    await sharp(withText).raw().toBuffer();
  });

  it('falls back to UTF-8 iTXt for text outside Latin-1', async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#000' } }).png().toBuffer();
    const withText = insertPngText(png, 'parameters', '一只猫 <lora:x:1>');
    expect(withText.includes(Buffer.from('iTXtparameters', 'latin1'))).toBe(true);
    expect(readPngText(withText)).toEqual({ parameters: '一只猫 <lora:x:1>' });
    await sharp(withText).raw().toBuffer();
  });

  it('detects a corrupted chunk', async () => {
    const png = insertPngText(await sharp({ create: { width: 2, height: 2, channels: 3, background: '#000' } }).png().toBuffer(), 'k', 'v');
    const corrupt = Buffer.from(png);
    const at = corrupt.indexOf(Buffer.from('tEXtk', 'latin1')) + 6;
    corrupt[at] = 'w'.charCodeAt(0);
    expect(() => readPngText(corrupt)).toThrow(/CRC/);
  });
});
