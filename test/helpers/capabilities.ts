/** Hand-made node capabilities for pure tests: what an A1111 1.10 node with the catalog files declares. */
import type { NodeCapabilities } from '../../src/domain/capabilities.js';
import { catalogLoras, catalogModels, downloadStemOf } from '../../src/domain/catalog.js';

export function makeCapabilities(overrides: Partial<NodeCapabilities> = {}): NodeCapabilities {
  return {
    backend: { kind: 'a1111', version: null },
    models: catalogModels.map((e) => {
      const stem = downloadStemOf(e);
      return { title: `${stem}.safetensors [${e.sha256.slice(0, 10)}]`, name: stem, fileName: `${stem}.safetensors`, sha256: e.sha256 };
    }),
    loras: catalogLoras.map((e) => {
      const stem = downloadStemOf(e);
      return { name: stem, alias: stem, fileName: `${stem}.safetensors`, sha256: null };
    }),
    samplers: ['DPM++ 2M', 'DPM++ SDE', 'Euler a', 'Euler', 'LMS', 'DDIM'],
    schedulers: ['Automatic', 'automatic', 'Karras', 'karras', 'Exponential', 'exponential'],
    upscalers: ['None', 'Lanczos', 'Nearest', 'ESRGAN_4x', 'R-ESRGAN 4x+', 'SwinIR_4x'],
    latentUpscaleModes: ['Latent', 'Latent (bicubic)'],
    controlNet: { models: ['control_v11p_sd15_canny [d14c016b]', 'control_v11p_sd15_openpose [cab727d4]'], modules: ['none', 'canny', 'openpose'], maxUnits: 3 },
    interrogators: ['clip', 'deepdanbooru'],
    maxPixels: 2048 * 2048,
    ...overrides,
  };
}
