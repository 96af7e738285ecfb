import { describe, expect, it } from 'vitest';
import { loraFamilyOfMetadata } from '../../src/domain/families.js';

describe('the family of a LoRA, from its file\'s metadata', () => {
  it('reads kohya\'s base model version and the ModelSpec architecture, the latter first', () => {
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'sd_v1' })).toBe('sd15');
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'sd_v1_v' })).toBe('sd15');
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'sdxl_base_v1-0' })).toBe('sdxl');
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'flux1' })).toBe('flux');
    expect(loraFamilyOfMetadata({ 'modelspec.architecture': 'stable-diffusion-xl-v1-base/lora' })).toBe('sdxl');
    expect(loraFamilyOfMetadata({ 'modelspec.architecture': 'Flux-1-Dev/LoRA' })).toBe('flux');
    expect(loraFamilyOfMetadata({ 'modelspec.architecture': 'stable-diffusion-v1/lora', ss_base_model_version: 'sdxl_base_v1-0' })).toBe('sd15');
  });

  it('says unknown for families DAN does not know, other kinds of file, and metadata that is not text', () => {
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'sd_v2' })).toBeNull();
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'flux2' })).toBeNull();
    expect(loraFamilyOfMetadata({ ss_base_model_version: 'chroma' })).toBeNull();
    expect(loraFamilyOfMetadata({ 'modelspec.architecture': 'stable-diffusion-xl-v1-base' })).toBeNull();
    expect(loraFamilyOfMetadata({ ss_base_model_version: 7 })).toBeNull();
    expect(loraFamilyOfMetadata({})).toBeNull();
  });
});
