/**
 * A hand-made RequestContext: the catalog's models and LoRAs, resolvable by
 * sha256 and by name (case-insensitively), plus one node-local model.
 */
import { defaultLimits, type RequestContext, type RequestLimits } from '../../../src/domain/request-context.js';
import {
  type CatalogEntry,
  catalogControlNetModels,
  catalogHiresUpscalers,
  catalogInterrogators,
  catalogLoras,
  catalogModels,
  catalogPreprocessors,
  catalogSamplers,
  catalogSchedulers,
  catalogUpscalers,
} from '../../../src/domain/catalog.js';
import type { ModelFamily } from '../../../src/domain/families.js';
import type { ResourceRef } from '../../../src/domain/spec.js';

export const sha = {
  chilloutMix: '3a17d0deffa4592fd91c711a798031a258ab44041809ade8b4591c0225ea9401',
  anything: '6e430eb51421ce5bf18f04e2dbe90b2cad437311948be4ef8c33658a73c86b2a',
  korean: '62efe75048d55a096a238c6e8c4e12d61b36bf59e388a90589335f750923954c',
  kobeni: '3e5d8fe726b4c0f1e7f0905f32ea3d1c9ce89a54028209e8179d64d323048dac',
  thickerLines: '759d6fdf539f44f6991efd27ef1767c7779ac8884defc71dd909e5808b5ea74b',
} as const;

const localModel: ResourceRef = { id: 'local:mymodel', name: 'myModel' };
/** Node-local models whose family nodes told: a Flux, an SDXL, a Qwen-Image and a Z-Image-Turbo one. */
export const fluxModel: ResourceRef = { id: 'local:flux1-dev', name: 'flux1-dev' };
export const sdxlModel: ResourceRef = { id: 'local:sd_xl_base_1.0', name: 'sd_xl_base_1.0' };
export const qwenModel: ResourceRef = { id: 'local:qwen_image_fp8_e4m3fn', name: 'qwen_image_fp8_e4m3fn' };
export const zImageModel: ResourceRef = { id: 'local:z_image_turbo_bf16', name: 'z_image_turbo_bf16' };
export const kontextModel: ResourceRef = { id: 'local:flux1-dev-kontext_fp8_scaled', name: 'flux1-dev-kontext_fp8_scaled' };
export const qwenEditModel: ResourceRef = { id: 'local:qwen_image_edit_2509_fp8_e4m3fn', name: 'qwen_image_edit_2509_fp8_e4m3fn' };
/** A node-local LoRA whose metadata says Flux.1. */
export const fluxLora: ResourceRef = { id: 'local:flux-ink', name: 'flux-ink' };
export const qwenLora: ResourceRef = { id: 'local:qwen-watercolor', name: 'qwen-watercolor' };
export const qwenEditLora: ResourceRef = { id: 'local:qwen-edit-relight', name: 'qwen-edit-relight' };
export const flux2Model: ResourceRef = { id: 'local:flux2_dev_fp8mixed', name: 'flux2_dev_fp8mixed' };
const localFamilies = new Map<string, ModelFamily>([
  [fluxModel.id, 'flux'],
  [sdxlModel.id, 'sdxl'],
  [qwenModel.id, 'qwen-image'],
  [zImageModel.id, 'z-image-turbo'],
  [kontextModel.id, 'flux-kontext'],
  [qwenEditModel.id, 'qwen-image-edit'],
  [fluxLora.id, 'flux'],
  [qwenLora.id, 'qwen-image'],
  [qwenEditLora.id, 'qwen-image-edit'],
  [flux2Model.id, 'flux2'],
]);

function resolverOf(entries: readonly CatalogEntry[], extra: readonly ResourceRef[] = []) {
  return (value: string): ResourceRef | null => {
    const lower = value.toLowerCase();
    const entry = entries.find((e) => e.sha256 === lower || e.name.toLowerCase() === lower);
    if (entry) return { id: entry.sha256, name: entry.name };
    return extra.find((r) => r.name.toLowerCase() === lower) ?? null;
  };
}

export function makeContext(limits: Partial<RequestLimits> = {}): RequestContext {
  return {
    resolveModel: resolverOf(catalogModels, [localModel, fluxModel, sdxlModel, qwenModel, zImageModel, flux2Model, kontextModel, qwenEditModel]),
    resolveLora: resolverOf(catalogLoras, [fluxLora, qwenLora, qwenEditLora]),
    familyOf: (kind, ref) => [...catalogModels, ...catalogLoras].find((e) => e.sha256 === ref.id && e.kind === kind)?.family ?? localFamilies.get(ref.id) ?? null,
    // Nodes add names of their own; the context lists them next to the catalog's.
    samplers: [...catalogSamplers, 'DPM++ 2M'],
    schedulers: catalogSchedulers,
    hiresUpscalers: [...catalogHiresUpscalers, 'Latent (antialiased)'],
    upscalers: ['None', ...catalogUpscalers, 'ESRGAN_4x'],
    controlNetModels: [...catalogControlNetModels.map((m) => m.name), 'control_v11p_sd15_canny.pth', 'controlnet-canny-sdxl-1.0.safetensors', 'flux2-controlnet-canny.safetensors'],
    preprocessors: [...catalogPreprocessors.map((p) => p.name), 'depth'],
    interrogators: catalogInterrogators,
    modelNames: [...catalogModels.map((m) => m.name), localModel.name, fluxModel.name, sdxlModel.name, qwenModel.name, zImageModel.name, flux2Model.name, kontextModel.name, qwenEditModel.name],
    loraNames: [...catalogLoras.map((l) => l.name), fluxLora.name, qwenLora.name, qwenEditLora.name],
    limits: { ...defaultLimits, ...limits },
  };
}
