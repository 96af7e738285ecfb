/**
 * Shared fixtures of the A1111 driver tests: small real PNGs, specs with the
 * catalog's identities, and a tiny fake WebUI for behaviours the sandbox does
 * not simulate (missing routes, error answers, odd listings).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { catalogLoras, catalogModels } from '../../src/domain/catalog.js';
import type { ControlNetUnitSpec, Img2ImgSpec, ResourceRef, Txt2ImgSpec } from '../../src/domain/spec.js';

/** Base64 of a solid-colour PNG. */
export async function makePng(width: number, height: number, rgb: [number, number, number] = [200, 80, 40]): Promise<string> {
  const [r, g, b] = rgb;
  const png = await sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer();
  return png.toString('base64');
}

/** Base64 of a mask: white (regenerate) left half, black right half. */
export async function makeMask(width: number, height: number): Promise<string> {
  const raw = Buffer.alloc(width * height, 0);
  for (let y = 0; y < height; y++) raw.fill(255, y * width, y * width + Math.floor(width / 2));
  const png = await sharp(raw, { raw: { width, height, channels: 1 } }).png().toBuffer();
  return png.toString('base64');
}

export async function imageSizeOf(base64: string): Promise<{ width: number; height: number }> {
  const { width, height } = await sharp(Buffer.from(base64, 'base64')).metadata();
  return { width, height };
}

function catalogRef(list: typeof catalogModels, name: string): ResourceRef {
  const entry = list.find((e) => e.name === name);
  if (!entry) throw new Error(`no catalog entry ${name}`);
  return { id: entry.sha256, name: entry.name };
}

export const clarity = catalogRef(catalogModels, 'clarity');
export const koreanDoll = catalogRef(catalogLoras, 'koreanDollLikeness_v10');
export const kobeni = catalogRef(catalogLoras, 'kobeni_v10');

export function txt2imgSpec(overrides: Partial<Txt2ImgSpec> = {}): Txt2ImgSpec {
  return {
    kind: 'txt2img',
    prompt: 'a red fox in the snow',
    negativePrompt: 'blurry',
    seed: 42,
    sampler: 'Euler a',
    steps: 20,
    cfgScale: 7,
    width: 64,
    height: 48,
    model: clarity,
    loras: [],
    controlNet: [],
    hires: null,
    ...overrides,
  };
}

export function img2imgSpec(initImage: string, overrides: Partial<Img2ImgSpec> = {}): Img2ImgSpec {
  const { kind: _kind, hires: _hires, ...common } = txt2imgSpec();
  return {
    kind: 'img2img',
    ...common,
    initImage,
    resizeMode: 'crop_and_resize',
    denoisingStrength: 0.6,
    inpaint: null,
    ...overrides,
  };
}

export function controlNetUnit(image: string, overrides: Partial<ControlNetUnitSpec> = {}): ControlNetUnitSpec {
  return {
    image,
    module: 'canny',
    model: 'sd15_canny',
    thresholdA: 100,
    thresholdB: 200,
    weight: 0.8,
    resizeMode: 'crop_and_resize',
    guidanceStart: 0,
    guidanceEnd: 1,
    guessMode: false,
    ...overrides,
  };
}

export interface FakeWebui {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** A Fastify server on an ephemeral port with whatever routes `register` adds. */
/**
 * A fake WebUI with the routes `register` adds. Unless it adds its own, `POST /sdapi/v1/options`
 * answers null at once, as A1111 does for a checkpoint that is loaded (the driver loads a run's
 * checkpoint there first when it does not know it loaded).
 */
export async function startFakeWebui(register: (app: FastifyInstance) => void): Promise<FakeWebui> {
  // Force-close: after an aborted fetch, Node's undici opens a spare connection that
  // sends no request, and close() would wait for the client to drop it (4 s or more).
  const app = Fastify({ bodyLimit: 64 * 1024 * 1024, forceCloseConnections: true });
  register(app);
  if (!app.hasRoute({ method: 'POST', url: '/sdapi/v1/options' })) app.post('/sdapi/v1/options', async () => null);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fake WebUI has no TCP address');
  return { url: `http://127.0.0.1:${address.port}`, app, close: () => app.close() };
}

/** A port nothing listens on (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const fake = await startFakeWebui(() => {});
  await fake.close();
  return fake.url;
}
