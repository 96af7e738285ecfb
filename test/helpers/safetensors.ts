/**
 * Tiny safetensors files for tests of reading a checkpoint's family from its header: each holds a few
 * of the tensors that tell an architecture, with their real names, dtypes and shapes, and zeros for
 * data. The data is made by extending the file (a sparse file: no disk is written for it), so a file
 * is valid safetensors at a few hundred bytes on disk.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';

export interface TensorSpec {
  dtype: 'F16' | 'BF16' | 'F32' | 'U8' | 'F8_E4M3';
  shape: number[];
}

export type Tensors = Record<string, TensorSpec>;

const BYTES: Record<TensorSpec['dtype'], number> = { F16: 2, BF16: 2, F32: 4, U8: 1, F8_E4M3: 1 };

/** Writes a safetensors file of `tensors` (zeros) and `metadata`; returns its path. */
export function writeSafetensors(path: string, tensors: Tensors, metadata?: Record<string, string>): string {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, { dtype, shape }] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // The format pads its header with spaces to a multiple of 8 bytes.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  writeRaw(path, json, offset);
  return path;
}

/** A file that begins with `headerLength` as a safetensors length, then `text`, `dataBytes` long after it. */
export function writeRaw(path: string, text: string, dataBytes = 0, headerLength = BigInt(Buffer.byteLength(text))): string {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, text);
    ftruncateSync(fd, 8 + Buffer.byteLength(text) + dataBytes);
  } finally {
    closeSync(fd);
  }
  return path;
}

const UNET = 'model.diffusion_model.';

/** SD 1.5: a UNet whose cross-attention takes CLIP-L's 768 wide text, and CLIP-L in transformers' layout. */
export const sd15Tensors: Tensors = {
  [`${UNET}input_blocks.0.0.weight`]: { dtype: 'F16', shape: [320, 4, 3, 3] },
  [`${UNET}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: { dtype: 'F16', shape: [320, 768] },
  'cond_stage_model.transformer.text_model.final_layer_norm.weight': { dtype: 'F16', shape: [768] },
  'first_stage_model.decoder.conv_in.weight': { dtype: 'F16', shape: [512, 4, 3, 3] },
};

/** SD 2.x: OpenCLIP-H's 1024 wide text. */
export const sd2Tensors: Tensors = {
  [`${UNET}input_blocks.0.0.weight`]: { dtype: 'F16', shape: [320, 4, 3, 3] },
  [`${UNET}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: { dtype: 'F16', shape: [320, 1024] },
  'cond_stage_model.model.ln_final.weight': { dtype: 'F16', shape: [1024] },
};

/** SDXL base: the pooled text and size conditioning (2816 wide) through label_emb, two text encoders. */
export const sdxlTensors: Tensors = {
  [`${UNET}input_blocks.0.0.weight`]: { dtype: 'F16', shape: [320, 4, 3, 3] },
  [`${UNET}label_emb.0.0.weight`]: { dtype: 'F16', shape: [1280, 2816] },
  'conditioner.embedders.0.transformer.text_model.final_layer_norm.weight': { dtype: 'F16', shape: [768] },
  'conditioner.embedders.1.model.ln_final.weight': { dtype: 'F16', shape: [1280] },
};

/** The SDXL refiner: label_emb 2560 wide, OpenCLIP-bigG alone. */
export const sdxlRefinerTensors: Tensors = {
  [`${UNET}input_blocks.0.0.weight`]: { dtype: 'F16', shape: [384, 4, 3, 3] },
  [`${UNET}label_emb.0.0.weight`]: { dtype: 'F16', shape: [1536, 2560] },
  'conditioner.embedders.0.model.ln_final.weight': { dtype: 'F16', shape: [1280] },
};

/** Flux.1-dev's transformer under `prefix` ('' for a UNet-only file, `model.diffusion_model.` in an all-in-one one). */
export function fluxTensors(prefix = '', imageInput: TensorSpec = { dtype: 'BF16', shape: [3072, 64] }): Tensors {
  return {
    [`${prefix}img_in.weight`]: imageInput,
    [`${prefix}vector_in.in_layer.weight`]: { dtype: 'BF16', shape: [3072, 768] },
    [`${prefix}guidance_in.in_layer.weight`]: { dtype: 'BF16', shape: [3072, 256] },
    [`${prefix}double_blocks.0.img_attn.norm.key_norm.scale`]: { dtype: 'BF16', shape: [128] },
    [`${prefix}single_blocks.0.norm.key_norm.scale`]: { dtype: 'BF16', shape: [128] },
  };
}
