/**
 * A checkpoint's family read from its safetensors header (src/node/backends/checkpoint-family.ts), on
 * tiny synthetic files in a temporary directory: each family, the architectures DAN does not run, the
 * metadata, broken and oversized headers, a .ckpt, a missing file, one log line per file, and the cache.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointFiles, familyOfHeader, MAX_HEADER_BYTES } from '../../src/node/backends/checkpoint-family.js';
import { tempDir } from '../helpers/processes.js';
import { fluxTensors, sd15Tensors, sd2Tensors, sdxlRefinerTensors, sdxlTensors, type Tensors, writeRaw, writeSafetensors } from '../helpers/safetensors.js';

const dir = tempDir('dan-checkpoint-family-');
afterAll(() => dir.remove());

let files = 0;
/** A fresh path in the temporary directory. */
function pathFor(name = 'model.safetensors'): string {
  files += 1;
  return join(dir.path, `${files}-${name}`);
}

interface Line {
  level: 'debug' | 'warn';
  file: unknown;
  message: string;
}

function reader(): { files: CheckpointFiles; lines: Line[] } {
  const lines: Line[] = [];
  const log = {
    debug: (fields: object, message: string) => lines.push({ level: 'debug', file: (fields as { file?: unknown }).file, message }),
    warn: (fields: object, message: string) => lines.push({ level: 'warn', file: (fields as { file?: unknown }).file, message }),
  };
  return { files: new CheckpointFiles({ log }), lines };
}

async function familyOf(path: string) {
  const { files: checkpointFiles, lines } = reader();
  const families = await checkpointFiles.familiesOf([path]);
  return { family: families.get(path), lines };
}

async function familyOfTensors(tensors: Tensors, metadata?: Record<string, string>) {
  return familyOf(writeSafetensors(pathFor(), tensors, metadata));
}

describe('reading a checkpoint family from a safetensors header', () => {
  it('tells SD 1.5, SDXL and Flux.1 from their tensors, saying nothing of files it tells', async () => {
    expect(await familyOfTensors(sd15Tensors)).toEqual({ family: 'sd15', lines: [] });
    expect(await familyOfTensors(sdxlTensors)).toEqual({ family: 'sdxl', lines: [] });
    // Forge's all-in-one files keep Flux under model.diffusion_model.; a UNet-only file at the root.
    expect(await familyOfTensors(fluxTensors('model.diffusion_model.'))).toEqual({ family: 'flux', lines: [] });
    expect(await familyOfTensors(fluxTensors())).toEqual({ family: 'flux', lines: [] });
    // fp8 weights keep their shapes; bitsandbytes NF4 packs two 4-bit values a byte into [count / 2, 1].
    expect((await familyOfTensors(fluxTensors('', { dtype: 'F8_E4M3', shape: [3072, 64] }))).family).toBe('flux');
    expect((await familyOfTensors(fluxTensors('model.diffusion_model.', { dtype: 'U8', shape: [(3072 * 64) / 2, 1] }))).family).toBe('flux');
  });

  it('tells FLUX.1 Kontext, whose tensors are Flux.1\'s, by its file\'s name', async () => {
    expect((await familyOf(writeSafetensors(pathFor('flux1-dev-kontext_fp8_scaled.safetensors'), fluxTensors()))).family).toBe('flux-kontext');
    expect((await familyOf(writeSafetensors(pathFor('FLUX.1-Kontext-dev.safetensors'), fluxTensors('model.diffusion_model.')))).family).toBe('flux-kontext');
    // A name alone makes no Kontext of SD tensors.
    expect((await familyOf(writeSafetensors(pathFor('kontext-style-sd15.safetensors'), sd15Tensors))).family).toBe('sd15');
  });

  it('tells SD 1.5 by its text encoder when the UNet tensor it reads is not there, and SD 2 is none of ours', async () => {
    const { [`model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: _attention, ...withoutAttention } = sd15Tensors;
    expect((await familyOfTensors(withoutAttention)).family).toBe('sd15');
    const { [`model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: _sd2Attention, ...sd2WithoutAttention } = sd2Tensors;
    expect((await familyOfTensors(sd2WithoutAttention)).family).toBeNull();
  });

  it('gives architectures DAN does not run no family: SD 2, the SDXL refiner, Flux Fill, Chroma, a file of other tensors', async () => {
    const chroma = Object.fromEntries(Object.entries(fluxTensors()).filter(([name]) => !name.startsWith('vector_in.')));
    for (const tensors of [sd2Tensors, sdxlRefinerTensors, fluxTensors('', { dtype: 'BF16', shape: [3072, 384] }), chroma, { 'lora_unet_down.weight': { dtype: 'F16', shape: [4, 4] } } satisfies Tensors]) {
      const { family, lines } = await familyOfTensors(tensors);
      expect(family).toBeNull();
      expect(lines).toEqual([{ level: 'debug', file: expect.any(String), message: expect.stringMatching(/^family of .* not read from the file: .*--model-family/) }]);
    }
  });

  it('takes the metadata when the tensors say nothing, and gives no family when the two disagree', async () => {
    const other = { 'some.weight': { dtype: 'F16', shape: [2] } } satisfies Tensors;
    expect((await familyOfTensors(other, { 'modelspec.architecture': 'flux-1-dev' })).family).toBe('flux');
    expect((await familyOfTensors(other, { ss_base_model_version: 'sdxl_base_v1-0' })).family).toBe('sdxl');
    expect((await familyOfTensors(sdxlTensors, { 'modelspec.architecture': 'stable-diffusion-xl-v1-base' })).family).toBe('sdxl');
    expect((await familyOfTensors(sdxlTensors, { 'modelspec.architecture': 'stable-diffusion-v1' })).family).toBeNull();
    // A LoRA's metadata says nothing of a checkpoint (nor is a LoRA one).
    expect((await familyOfTensors(other, { ss_network_module: 'networks.lora', ss_base_model_version: 'sd_v1' })).family).toBeNull();
  });

  it('tells the family of a header given as an object, without a file', () => {
    expect(familyOfHeader({ __metadata__: { 'modelspec.architecture': 'flux-1-schnell' } })).toEqual({ family: 'flux' });
    expect(familyOfHeader({})).toEqual({ family: null, why: expect.any(String) });
  });

  it('warns of a broken header: not JSON, a length past the end of the file, a file shorter than a length', async () => {
    for (const path of [writeRaw(pathFor(), '{"a": '), writeRaw(pathFor(), '{}', 0, 4096n), writeRaw(pathFor(), '')]) {
      const { family, lines } = await familyOf(path);
      expect(family).toBeNull();
      expect(lines).toEqual([{ level: 'warn', file: path, message: expect.stringContaining(path) }]);
    }
    const short = pathFor();
    writeFileSync(short, Buffer.from([1, 2, 3]));
    expect((await familyOf(short)).lines).toEqual([{ level: 'warn', file: short, message: expect.stringContaining('shorter than a safetensors header') }]);
  });

  it('warns of a header that is JSON but not an object', async () => {
    for (const text of ['[1, 2]', '"text"', 'null']) {
      const path = writeRaw(pathFor(), text);
      expect((await familyOf(path)).lines).toEqual([{ level: 'warn', file: path, message: expect.stringContaining('its header is not a JSON object') }]);
    }
  });

  it('reads no FIFO named like a checkpoint (a read would wait for a writer for ever)', async () => {
    const path = pathFor('pipe.safetensors');
    execFileSync('mkfifo', [path]);
    const { family, lines } = await familyOf(path);
    expect(family).toBeNull();
    expect(lines).toEqual([{ level: 'debug', file: path, message: expect.stringContaining('not a regular file') }]);
  });

  it('refuses a header longer than 100 MB without reading it, even in a file that long', async () => {
    // A sparse file: the declared length fits it, so only the limit stops the read.
    const path = writeRaw(pathFor(), '{', MAX_HEADER_BYTES + 16, BigInt(MAX_HEADER_BYTES + 1));
    const { family, lines } = await familyOf(path);
    expect(family).toBeNull();
    expect(lines).toEqual([{ level: 'warn', file: path, message: expect.stringContaining(`more than a safetensors header may be (${MAX_HEADER_BYTES})`) }]);
  });

  it('opens no .ckpt (a pickle), and says so at debug level', async () => {
    const path = pathFor('model.ckpt');
    writeFileSync(path, 'not a pickle either');
    const { family, lines } = await familyOf(path);
    expect(family).toBeNull();
    expect(lines).toEqual([{ level: 'debug', file: path, message: expect.stringContaining('not a safetensors file') }]);
  });

  it('says at debug level, once however often it is asked, that a file is not on this machine', async () => {
    const { files: checkpointFiles, lines } = reader();
    const missing = join(dir.path, 'absent.safetensors');
    const windows = 'C:\\webui\\models\\Stable-diffusion\\model.safetensors';
    const directory = pathFor('folder.safetensors');
    mkdirSync(directory);
    for (let i = 0; i < 3; i++) {
      expect(await checkpointFiles.familiesOf([missing, windows, directory])).toEqual(
        new Map([
          [missing, null],
          [windows, null],
          [directory, null],
        ]),
      );
    }
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(expect.arrayContaining([
      { level: 'debug', file: missing, message: expect.stringContaining('cannot be read here (ENOENT; the WebUI may be on another machine') },
      { level: 'debug', file: windows, message: expect.stringContaining('not a path on this machine') },
      { level: 'debug', file: directory, message: expect.stringContaining('not a regular file') },
    ]));
  });

  it('reads a file again only when its size or modification time changed', async () => {
    const { files: checkpointFiles } = reader();
    const path = writeSafetensors(pathFor(), fluxTensors());
    // A whole second, which utimes sets exactly (a file's own time has nanoseconds).
    const mtime = new Date(Math.floor(statSync(path).mtimeMs / 1000) * 1000);
    utimesSync(path, mtime, mtime);
    expect((await checkpointFiles.familiesOf([path])).get(path)).toBe('flux');
    // Same size, same time: Chroma's header now (no CLIP vector), but the first reading stands.
    writeFileSync(path, readFileSync(path, 'latin1').replace('"vector_in.', '"vectorXin.'), 'latin1');
    utimesSync(path, mtime, mtime);
    expect((await checkpointFiles.familiesOf([path])).get(path)).toBe('flux');
    const later = new Date(mtime.getTime() + 60_000);
    utimesSync(path, later, later);
    expect((await checkpointFiles.familiesOf([path])).get(path)).toBeNull();
  });
});
