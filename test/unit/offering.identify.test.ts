import { describe, expect, it } from 'vitest';
import { catalogLoras, catalogModels } from '../../src/domain/catalog.js';
import { loraRefOf, modelRefOf, toNodeOffering } from '../../src/domain/offering.js';
import { makeCapabilities } from '../helpers/capabilities.js';

const chillout = catalogModels[0]!;

describe('matching node files to the catalog', () => {
  it('matches a model by sha256 whatever its file is called', () => {
    const ref = modelRefOf({ title: 'x.safetensors', name: 'x', fileName: 'x.safetensors', sha256: chillout.sha256.toUpperCase() });
    expect(ref).toEqual({ id: chillout.sha256, name: 'chillout_mix' });
  });

  it('matches by the download link file name, case-insensitively, when the sha256 is unknown', () => {
    const ref = modelRefOf({ title: 'ChilloutMix_NiPrunedFp32Fix.safetensors', name: 'ChilloutMix_NiPrunedFp32Fix', fileName: 'ChilloutMix_NiPrunedFp32Fix.safetensors', sha256: null });
    expect(ref.id).toBe(chillout.sha256);
  });

  it('falls back to names when the node knows a sha256 the catalog does not list', () => {
    const other = 'f'.repeat(64);
    const ref = modelRefOf({ title: 'clarity.safetensors', name: 'clarity', fileName: 'clarity.safetensors', sha256: other });
    expect(ref).toEqual({ id: catalogModels[1]!.sha256, name: 'clarity' });
  });

  it('matches a LoRA downloaded under its link name (koreandolllikeness_V10)', () => {
    const ref = loraRefOf({ name: 'koreandolllikeness_V10', alias: null, fileName: 'koreandolllikeness_V10.safetensors', sha256: null });
    expect(ref).toEqual({ id: catalogLoras[0]!.sha256, name: 'koreanDollLikeness_v10' });
  });

  it('matches a LoRA by its alias', () => {
    const ref = loraRefOf({ name: 'folder/renamed', alias: 'kobeni_v10', fileName: 'renamed.safetensors', sha256: null });
    expect(ref.name).toBe('kobeni_v10');
  });

  it('offers files outside the catalog under a local identity', () => {
    const ref = modelRefOf({ title: 'MyMix.safetensors', name: 'MyMix', fileName: 'MyMix.safetensors', sha256: null });
    expect(ref).toEqual({ id: 'local:mymix', name: 'MyMix' });
    const withSha = modelRefOf({ title: 'MyMix.safetensors', name: 'MyMix', fileName: 'MyMix.safetensors', sha256: 'A'.repeat(64) });
    expect(withSha.id).toBe('a'.repeat(64));
  });

  it('keys an offering by identity and keeps the node title for the backend', () => {
    const offering = toNodeOffering(makeCapabilities());
    expect(offering.models.get(chillout.sha256)?.title).toBe('chilloutmix_NiPrunedFp32Fix.safetensors [3a17d0deff]');
    expect(offering.loras.get(catalogLoras[0]!.sha256)?.localName).toBe('koreandolllikeness_V10');
  });
});
