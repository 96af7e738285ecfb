/**
 * The operator's catalog file and `dan catalog`: entries checked and written
 * atomically, collisions with built-in or added names and hashes refused, and
 * the gateway's catalog extended with what the file adds.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { catalogAdd, catalogList, catalogRemove } from '../../src/cli/catalog-command.js';
import { loadCatalog, readCatalogFile } from '../../src/config/catalog-file.js';
import { catalogModels } from '../../src/domain/catalog.js';
import { toNodeOffering } from '../../src/domain/offering.js';
import { StartupError } from '../../src/errors/startup-error.js';
import { tempDir } from '../helpers/processes.js';
import { makeCapabilities } from '../helpers/capabilities.js';

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function data(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir.path;
}

const sha = (c: string) => c.repeat(64);
const quiet = { out: () => {}, note: () => {} };
const flux = { sha256: sha('f'), family: 'flux', download: 'https://example.com/flux1-schnell.safetensors' };

async function failure(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(StartupError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('dan catalog', () => {
  it('adds, lists and removes entries; the file holds what was added', async () => {
    const dir = data();
    await catalogAdd('model', 'flux-schnell', { data: dir, ...flux }, quiet);
    await catalogAdd('lora', 'fluxRealism', { data: dir, sha256: sha('e'), family: 'flux', download: 'https://example.com/realism.safetensors', ref: 'https://civitai.com/x' }, quiet);
    expect(await readCatalogFile(`${dir}/catalog.json`)).toEqual([
      { kind: 'model', name: 'flux-schnell', ...flux },
      { kind: 'lora', name: 'fluxRealism', sha256: sha('e'), family: 'flux', download: 'https://example.com/realism.safetensors', ref: 'https://civitai.com/x' },
    ]);
    const lines: string[] = [];
    await catalogList({ data: dir }, { out: (t) => lines.push(t), note: () => {} });
    expect(lines.filter((l) => l.includes('built-in'))).toHaveLength(catalogModels.length + 5);
    expect(lines.find((l) => l.includes('flux-schnell'))).toMatch(/model\s+flux-schnell\s+Flux\.1/);
    await catalogRemove('FLUX-SCHNELL', { data: dir }, quiet);
    expect((await readCatalogFile(`${dir}/catalog.json`)).map((e) => e.name)).toEqual(['fluxRealism']);
  });

  it('keeps every entry added at once (a script adding in parallel), one change at a time', async () => {
    const dir = data();
    const names = Array.from({ length: 8 }, (_, i) => `model-${i}`);
    await Promise.all(names.map((name, i) => catalogAdd('model', name, { data: dir, sha256: sha('0123456789abcdef'[i]!), family: 'sdxl', download: `https://example.com/${name}.safetensors` }, quiet)));
    expect((await readCatalogFile(`${dir}/catalog.json`)).map((e) => e.name).sort()).toEqual(names);
    // A lock left by a process that died is taken over; the lock goes with the change.
    writeFileSync(`${dir}/catalog.json.lock`, '999999999');
    await catalogRemove('model-3', { data: dir }, quiet);
    expect((await readCatalogFile(`${dir}/catalog.json`)).map((e) => e.name)).not.toContain('model-3');
    expect(existsSync(`${dir}/catalog.json.lock`)).toBe(false);
  });

  it('refuses a name or sha256 the catalog has, bad fields, and removing a built-in entry', async () => {
    const dir = data();
    await catalogAdd('model', 'flux-schnell', { data: dir, ...flux }, quiet);
    expect(await failure(() => catalogAdd('model', 'Flux-Schnell', { data: dir, ...flux, sha256: sha('1') }, quiet))).toContain('model name "Flux-Schnell" is already in the catalog');
    expect(await failure(() => catalogAdd('model', 'other', { data: dir, ...flux, sha256: catalogModels[0]!.sha256 }, quiet))).toContain('already in the catalog as model "chillout_mix"');
    const bad = await failure(() => catalogAdd('checkpoint', 'x', { data: dir, sha256: 'abc', family: 'sd3', download: 'file:///x' }, quiet));
    expect(bad).toContain('the kind must be model or lora');
    expect(bad).toContain('--sha256 must be');
    expect(bad).toContain('--family must be one of sd15, sdxl, flux');
    expect(bad).toContain('--download must be an http(s) URL');
    expect(await failure(() => catalogRemove('clarity', { data: dir }, quiet))).toContain('built-in');
    await catalogAdd('lora', 'flux-schnell', { data: dir, ...flux, sha256: sha('2') }, quiet);
    expect(await failure(() => catalogRemove('flux-schnell', { data: dir }, quiet))).toContain('names a model and a LoRA');
  });
});

describe('the gateway reading the file', () => {
  it('extends the built-in catalog: a node file named like the download link becomes the entry, with its family', async () => {
    const dir = data();
    await catalogAdd('model', 'flux-schnell', { data: dir, ...flux }, quiet);
    const catalog = await loadCatalog(`${dir}/catalog.json`);
    expect(catalog.models.map((m) => m.name)).toEqual([...catalogModels.map((m) => m.name), 'flux-schnell']);
    const file = { title: 'flux1-schnell.safetensors', name: 'flux1-schnell', fileName: 'flux1-schnell.safetensors', sha256: null };
    const offering = toNodeOffering(makeCapabilities({ backend: { kind: 'comfyui', version: null }, models: [file] }), catalog);
    expect([...offering.models.values()]).toEqual([{ ref: { id: sha('f'), name: 'flux-schnell' }, title: 'flux1-schnell.safetensors', family: 'flux' }]);
    expect([...toNodeOffering(makeCapabilities({ models: [file] })).models.values()][0]).toMatchObject({ ref: { id: 'local:flux1-schnell' }, family: null });
  });

  it('refuses to start on a broken file, naming it and the problem; no file is no addition', async () => {
    const dir = data();
    expect((await loadCatalog(`${dir}/catalog.json`)).models).toHaveLength(catalogModels.length);
    expect(await failure(() => loadCatalog(`${dir}/typo.json`, true))).toContain('does not exist');
    writeFileSync(`${dir}/catalog.json`, '{"entries": [{"kind": "model"}]');
    expect(await failure(() => loadCatalog(`${dir}/catalog.json`))).toContain('is not valid JSON');
    writeFileSync(`${dir}/catalog.json`, JSON.stringify({ entries: [{ kind: 'model', name: 'x', sha256: sha('a'), family: 'sd15' }] }));
    expect(await failure(() => loadCatalog(`${dir}/catalog.json`))).toMatch(/catalog\.json is invalid:[\s\S]*download/);
    const twice = { kind: 'model', name: 'x', sha256: sha('a'), family: 'sd15', download: 'https://x.test/x.safetensors' };
    writeFileSync(`${dir}/catalog.json`, JSON.stringify({ entries: [twice, { ...twice, name: 'y' }] }));
    expect(await failure(() => loadCatalog(`${dir}/catalog.json`))).toContain(`sha256 ${sha('a')} is already in the catalog as model "x"`);
  });
});
