/**
 * Which protocol version a node agent speaks to a gateway, against gateways played by the test: the newest
 * (8), whose LoRA families and models of the families added in 6, 7 and 8 follow the welcome (a hello never carries
 * them: a gateway of 4 would refuse the field, one of 5 the family), and an older gateway's, into which the
 * node falls back at once when refused for its version.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeAgent } from '../../src/node/agent.js';
import { NODE_PROTOCOLS } from '../../src/protocol/messages.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { agentOf, type FakeGateway, heldDriver, startFakeGateway } from '../helpers/fake-gateway.js';

let gateway: FakeGateway | undefined;
let agent: NodeAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  await gateway?.close();
  agent = gateway = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A node whose WebUI lists one LoRA of a known family and one of unknown. */
const capabilities = makeCapabilities({
  loras: [
    { name: 'ink', alias: null, fileName: 'ink.safetensors', sha256: null, family: 'sdxl' },
    { name: 'mystery', alias: null, fileName: 'mystery.safetensors', sha256: null },
  ],
});
/** What an older gateway (it speaks 3 and 4) says to a hello of version 5 (network/node-hub.ts). */
const OLDER_GATEWAY_SAYS = 'node speaks protocol 5, this gateway speaks 3 and 4; update the older side';

async function started() {
  gateway = await startFakeGateway();
  agent = agentOf(gateway, heldDriver(capabilities).driver);
  await agent.start();
  return { gateway, agent };
}

const loraFamilies = (caps: { loras: { name: string; family?: string }[] }) => caps.loras.map((l) => `${l.name}:${l.family ?? '?'}`);

describe('a node agent and protocol versions', () => {
  it('says hello in the newest version, without LoRA families, and sends them once welcomed in it', async () => {
    const { gateway } = await started();
    const first = await gateway.nextConnection();
    expect(first.hello.protocol).toBe(NODE_PROTOCOLS[0]);
    expect(loraFamilies(first.hello.capabilities)).toEqual(['ink:?', 'mystery:?']);
    gateway.welcome(first, { protocol: NODE_PROTOCOLS[0] });
    await expect.poll(() => first.frames.find((f) => f.type === 'capabilities')).toBeDefined();
    const sent = first.frames.find((f) => f.type === 'capabilities');
    expect(sent?.type === 'capabilities' && loraFamilies(sent.capabilities)).toEqual(['ink:sdxl', 'mystery:?']);
  });

  it('refused for its version by an older gateway, says hello again at once in the newest version that gateway speaks, and never sends what it cannot read', async () => {
    const { gateway, agent } = await started();
    const first = await gateway.nextConnection();
    let rejected = false;
    agent.on('rejected', () => (rejected = true));
    gateway.reject(first, 'DAN_ERR_NODE_PROTOCOL', OLDER_GATEWAY_SAYS, 4002);
    const second = await gateway.nextConnection();
    expect(second.hello.protocol).toBe(4);
    expect(rejected).toBe(false);
    gateway.welcome(second, { protocol: 4 });
    await sleep(100);
    expect(second.frames.filter((f) => f.type === 'capabilities')).toEqual([]);
    expect(loraFamilies(second.hello.capabilities)).toEqual(['ink:?', 'mystery:?']);
    // Once that connection is gone, the next tries the newest again: the gateway may have come back upgraded.
    second.socket.terminate();
    expect((await gateway.nextConnection()).hello.protocol).toBe(NODE_PROTOCOLS[0]);
  });

  it('leaves LoRA families out of the capabilities a refresh sends to a gateway of version 4, and puts them in for one of 5', async () => {
    for (const version of [4, 5]) {
      gateway = await startFakeGateway();
      // The WebUI gains a LoRA after the node started: the refresh tells it.
      const listed = { ...capabilities, loras: [...capabilities.loras] };
      agent = agentOf(gateway, { ...heldDriver(capabilities).driver, discover: async () => ({ capabilities: structuredClone(listed), loadedModel: null }) }, { refreshIntervalMs: 50 });
      await agent.start();
      const connection = await gateway.nextConnection();
      if (version === 4) {
        gateway.reject(connection, 'DAN_ERR_NODE_PROTOCOL', OLDER_GATEWAY_SAYS, 4002);
        gateway.welcome(await gateway.nextConnection(), { protocol: 4 });
      } else gateway.welcome(connection, { protocol: 5 });
      const welcomed = gateway.connections.at(-1)!;
      listed.loras.push({ name: 'fresh', alias: null, fileName: 'fresh.safetensors', sha256: null, family: 'flux' });
      const refreshed = () => welcomed.frames.find((f) => f.type === 'capabilities' && f.capabilities.loras.some((l) => l.name === 'fresh'));
      await expect.poll(refreshed).toBeDefined();
      const sent = refreshed();
      expect(sent?.type === 'capabilities' && loraFamilies(sent.capabilities)).toEqual(version === 4 ? ['ink:?', 'mystery:?', 'fresh:?'] : ['ink:sdxl', 'mystery:?', 'fresh:flux']);
      await agent.stop();
      await gateway.close();
    }
  });

  it('leaves models and LoRAs of the families added in 6 out of its hello and out of all it sends a gateway of 5; sends them once welcomed in 6', async () => {
    const qwen = { title: 'qwen_image_fp8_e4m3fn.safetensors', name: 'qwen_image_fp8_e4m3fn', fileName: 'qwen_image_fp8_e4m3fn.safetensors', sha256: null, family: 'qwen-image' as const };
    const withQwen = makeCapabilities({
      models: [...makeCapabilities().models, qwen],
      loras: [{ name: 'qwen-style', alias: null, fileName: 'qwen-style.safetensors', sha256: null, family: 'qwen-image' }, ...capabilities.loras],
    });
    const titles = (caps: { models: { title: string }[] }) => caps.models.map((m) => m.title);
    for (const version of [5, 6]) {
      gateway = await startFakeGateway();
      agent = agentOf(gateway, heldDriver(withQwen).driver);
      await agent.start();
      const connection = await gateway.nextConnection();
      expect(titles(connection.hello.capabilities)).not.toContain(qwen.title);
      expect(loraFamilies(connection.hello.capabilities)).toEqual(['ink:?', 'mystery:?']);
      gateway.welcome(connection, { protocol: version });
      await expect.poll(() => connection.frames.find((f) => f.type === 'capabilities')).toBeDefined();
      const sent = connection.frames.find((f) => f.type === 'capabilities');
      if (sent?.type !== 'capabilities') throw new Error('no capabilities frame');
      expect(titles(sent.capabilities).includes(qwen.title)).toBe(version === 6);
      expect(loraFamilies(sent.capabilities)).toEqual(version === 6 ? ['qwen-style:qwen-image', 'ink:sdxl', 'mystery:?'] : ['ink:sdxl', 'mystery:?']);
      await agent.stop();
      await gateway.close();
    }
  });

  /** A model file of `family` as a node lists it. */
  const modelOf = (file: string, family: 'qwen-image' | 'flux-kontext' | 'qwen-image-edit') => ({ title: `${file}.safetensors`, name: file, fileName: `${file}.safetensors`, sha256: null, family });
  const qwen = modelOf('qwen_image_fp8_e4m3fn', 'qwen-image');
  const kontext = modelOf('flux1-dev-kontext_fp8_scaled', 'flux-kontext');
  const qwenEdit = modelOf('qwen_image_edit_2509_fp8_e4m3fn', 'qwen-image-edit');

  it.each([
    { label: 'FLUX.1 Kontext', added: kontext, known: qwen, before: 6 },
    { label: 'Qwen-Image-Edit', added: qwenEdit, known: kontext, before: 7 },
  ])('leaves $label models out of all it sends a gateway of $before (which would refuse the family), and sends them once welcomed in the next', async ({ added, known, before }) => {
    const capabilities = makeCapabilities({ models: [...makeCapabilities().models, known, added] });
    const titles = (caps: { models: { title: string }[] }) => caps.models.map((m) => m.title);
    for (const version of [before, before + 1]) {
      gateway = await startFakeGateway();
      agent = agentOf(gateway, heldDriver(capabilities).driver);
      await agent.start();
      const connection = await gateway.nextConnection();
      expect(titles(connection.hello.capabilities)).not.toContain(added.title);
      gateway.welcome(connection, { protocol: version });
      await expect.poll(() => connection.frames.find((f) => f.type === 'capabilities')).toBeDefined();
      const sent = connection.frames.find((f) => f.type === 'capabilities');
      if (sent?.type !== 'capabilities') throw new Error('no capabilities frame');
      expect(titles(sent.capabilities)).toContain(known.title);
      expect(titles(sent.capabilities).includes(added.title)).toBe(version === before + 1);
      await agent.stop();
      await gateway.close();
    }
  });

  it('stops, saying why, when the gateway speaks no version it does', async () => {
    const { gateway, agent } = await started();
    const first = await gateway.nextConnection();
    const rejected = new Promise<string>((resolve) => agent.once('rejected', resolve));
    gateway.reject(first, 'DAN_ERR_NODE_PROTOCOL', 'node speaks protocol 5, this gateway speaks 2 and 3; update the older side', 4002);
    expect(await rejected).toMatch(/this gateway speaks 2 and 3/);
  });
});
