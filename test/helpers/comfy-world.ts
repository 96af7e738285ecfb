/**
 * A ComfyUI sandbox and what a ComfyUI node would see of it, for tests of the
 * ComfyUI driver and graph builder: its discovery (capabilities, inventory), a
 * binding for any spec as the gateway would make it, and `runGraph`, which
 * queues a graph the way ComfyUI takes it and waits for its history entry.
 */
import sharp from 'sharp';
import { bindSpec } from '../../src/domain/binding.js';
import { toNodeOffering, type NodeOffering } from '../../src/domain/offering.js';
import type { GenerationSpec, ResourceRef } from '../../src/domain/spec.js';
import type { Binding } from '../../src/domain/binding.js';
import { BackendClient } from '../../src/node/backends/backend-client.js';
import { discoverComfy, type ComfyDiscovery } from '../../src/node/backends/comfyui/discover.js';
import { startSandbox, type ComfyOfferings, type Sandbox } from '../../src/sandbox/index.js';

export interface ComfyWorld {
  sandbox: Sandbox;
  discovery: ComfyDiscovery;
  offering: NodeOffering;
  /** The ResourceRef the gateway would give the model file (by its title). */
  model(title: string): ResourceRef;
  bind(spec: GenerationSpec): Binding;
  runGraph(nodes: Record<string, unknown>): Promise<{ status: number; body: any; history?: any }>;
}

export async function startComfyWorld(offerings: Partial<ComfyOfferings> = {}, timing: { speed?: number; switchSeconds?: number } = {}): Promise<ComfyWorld> {
  const sandbox = await startSandbox({ flavor: 'comfyui', speed: timing.speed ?? Infinity, ...(timing.switchSeconds === undefined ? {} : { switchSeconds: timing.switchSeconds }), comfyOfferings: offerings });
  const client = new BackendClient({ baseUrl: sandbox.url, label: 'ComfyUI' });
  const discovery = await discoverComfy(client, { maxPixels: 4096 * 4096, declaredFamilies: new Map(), metadataCache: new Map() });
  const offering = toNodeOffering(discovery.capabilities);
  return {
    sandbox,
    discovery,
    offering,
    model(title) {
      const found = [...offering.models.values()].find((m) => m.title === title);
      if (!found) throw new Error(`no model ${title} in ${[...offering.models.values()].map((m) => m.title).join(', ')}`);
      return found.ref;
    },
    bind(spec) {
      const bound = bindSpec(spec, offering);
      if (!bound.ok) throw new Error(`cannot bind: ${bound.missing.join(', ')}`);
      return bound.binding;
    },
    async runGraph(nodes) {
      const response = await fetch(`${sandbox.url}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: nodes }) });
      const body = (await response.json()) as any;
      if (response.status !== 200) return { status: response.status, body };
      for (let i = 0; i < 500; i++) {
        const history = (await (await fetch(`${sandbox.url}/history/${body.prompt_id}`)).json()) as any;
        if (history[body.prompt_id]) return { status: 200, body, history: history[body.prompt_id] };
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('the prompt did not finish');
    },
  };
}

/** Uploads a picture to the sandbox's input folder, as the driver does; its stored name. */
export async function uploadImage(sandboxUrl: string, png: Buffer, name: string): Promise<string> {
  const form = new FormData();
  form.append('image', new Blob([png]), name);
  form.append('overwrite', 'true');
  const response = await fetch(`${sandboxUrl}/upload/image`, { method: 'POST', body: form });
  return ((await response.json()) as { name: string }).name;
}

/** A PNG of one colour, with a white square in the middle when `square` (a mask, a control image). */
export async function picture(width: number, height: number, colour: { r: number; g: number; b: number }, square = false): Promise<Buffer> {
  const base = sharp({ create: { width, height, channels: 3, background: colour } });
  if (!square) return base.png().toBuffer();
  const inner = await sharp({ create: { width: Math.floor(width / 2), height: Math.floor(height / 2), channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
  return base.composite([{ input: inner, left: Math.floor(width / 4), top: Math.floor(height / 4) }]).png().toBuffer();
}

/** Width and height of a PNG from its header. */
export function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
