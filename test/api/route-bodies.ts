/** Valid request bodies for each task kind, for the route tests. */
import type { TaskKind } from '../../src/domain/spec.js';
import { imageBase64 } from './requests/image-fixtures.js';

export const taskKinds: readonly TaskKind[] = ['txt2img', 'img2img', 'interrogate', 'upscale'];

/** A body each kind's endpoint accepts and a node with the catalog's files serves (a 64² PNG for the image kinds). */
export async function validBodies(): Promise<Record<TaskKind, Record<string, unknown>>> {
  const png = await imageBase64('png', 64, 64);
  return {
    txt2img: { prompt: 'a fox', model: 'clarity', seed: 7, steps: 12 },
    img2img: { init_image: `data:image/png;base64,${png}`, prompt: 'a cat', model: 'clarity', width: 64, height: 64, denoising_strength: 0.4 },
    interrogate: { image: png, model: 'deepdanbooru' },
    upscale: { image: png, upscalingRate: 2, upscaler: 'Lanczos' },
  };
}
