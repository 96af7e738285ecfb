/**
 * What a node's capabilities look like to a gateway of each protocol version (node/capabilities-by-protocol.ts):
 * a hello (version 0) and an older gateway never hear of a family they do not know; every version hears of the
 * families all of them know.
 */
import { describe, expect, it } from 'vitest';
import type { ModelFamily } from '../../src/domain/families.js';
import { capabilitiesFor, carriesMoreThanHello } from '../../src/node/capabilities-by-protocol.js';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { makeCapabilities } from '../helpers/capabilities.js';

const model = (name: string, family?: ModelFamily) => ({ title: `${name}.safetensors`, name, fileName: `${name}.safetensors`, sha256: null, ...(family ? { family } : {}) });
const models = [model('untold'), model('sd', 'sd15'), model('xl', 'sdxl'), model('flux', 'flux'), model('flux2', 'flux2'), model('kontext', 'flux-kontext'), model('qwen-edit', 'qwen-image-edit')];
const namesFor = (protocol: number) => capabilitiesFor(makeCapabilities({ models }), protocol).models.map((m) => m.name);

describe('capabilitiesFor', () => {
  it('keeps the families every gateway knows (and models of no family) in a hello, and leaves the newer ones out', () => {
    expect(namesFor(0)).toEqual(['untold', 'sd', 'xl', 'flux']);
    expect(carriesMoreThanHello(makeCapabilities({ models }))).toBe(true);
    expect(carriesMoreThanHello(makeCapabilities({ models: models.slice(0, 4) }))).toBe(false);
  });

  it('gives a gateway of each version the families it knows, and the newest all of them', () => {
    expect(namesFor(5)).toEqual(['untold', 'sd', 'xl', 'flux']);
    expect(namesFor(6)).toEqual(['untold', 'sd', 'xl', 'flux', 'flux2']);
    expect(namesFor(7)).toEqual(['untold', 'sd', 'xl', 'flux', 'flux2', 'kontext']);
    expect(namesFor(PROTOCOL_VERSION)).toEqual(models.map((m) => m.name));
  });
});
