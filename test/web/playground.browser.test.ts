/**
 * The web app in a real browser (Debian's chromium driven by playwright-core)
 * against real processes: a gateway serving the built app (dist/web), a
 * sandbox WebUI and a node. A person's paths through it: generate an image and
 * see it (and find it in the gallery after a reload), be told which field the
 * API refused, cancel a running task, watch a node join and leave the
 * dashboard, and do it all on a 360 px wide phone. Screenshots go to
 * test-artifacts/web/ (not committed).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { forgeOfferings } from '../../src/sandbox/offerings.js';
import { getJson, pollUntilDone, postJson } from '../helpers/api-client.js';
import { type DanProcess, freePort, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const CHROMIUM = process.env['DAN_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = new URL('../../test-artifacts/web/', import.meta.url).pathname;
const DAN_BIN = new URL('../../bin/dan.js', import.meta.url).pathname;
/** How long an `expect.poll` waits for the page: rendering and IndexedDB are asynchronous, and CI machines are busy. */
const POLL = { timeout: 10_000 };

let gateway: string;
let sandbox: string;
let browser: Browser;
let context: BrowserContext | undefined;
const processes: DanProcess[] = [];
const dir = tempDir('dan-web-');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Speed 4: a checkpoint loads in about a second, a 512² image of 20 steps takes a fraction of one. A Forge
  // WebUI with the catalog's SD 1.5 models, Flux.1-dev and an SDXL checkpoint, their families named by the node;
  // an SDXL LoRA the operator added to the catalog, and SDXL ControlNet models (their names say so) beside the SD 1.5 ones.
  const config = `${dir.path}/sandbox.json`;
  const controlNet = { ...forgeOfferings.controlNet!, models: [...forgeOfferings.controlNet!.models, 'diffusers_xl_canny_full [2b69fca4]', 'controlnet-openpose-sdxl-1.0 [5c3a9e01]'] };
  const loras = [...forgeOfferings.loras, { fileName: 'sdxl_detail.safetensors' }];
  writeFileSync(config, JSON.stringify({ models: [...forgeOfferings.models, { fileName: 'sd_xl_base_1.0.safetensors', sha256: null }], loras, controlNet }));
  const catalog = `${dir.path}/catalog.json`;
  writeFileSync(catalog, JSON.stringify({ entries: [{ kind: 'lora', name: 'sdxlDetail', sha256: 'a'.repeat(64), family: 'sdxl', download: 'https://example.com/sdxl_detail.safetensors' }] }));
  const [sb, gw] = await Promise.all([startSandboxProcess({ speed: 4, flavor: 'forge', config }), startGatewayProcess({ dataDir: `${dir.path}/data`, args: ['--catalog', catalog] })]);
  processes.push(sb.proc, gw.proc);
  sandbox = sb.url;
  gateway = gw.url;
  const families = ['--model-family', 'flux1-dev.safetensors=flux', '--model-family', 'sd_xl_base_1.0.safetensors=sdxl'];
  processes.push((await startNodeProcess({ gateway, webui: sandbox, name: 'gpu-one', args: families })).proc);
  // A ComfyUI with Z-Image-Turbo and FLUX.1 Kontext alone (families only ComfyUI runs), so every other task still goes to the Forge node.
  const comfyConfig = `${dir.path}/comfy.json`;
  const comfyOnly = {
    checkpoints: [],
    diffusionModels: [{ fileName: 'z_image_turbo_bf16.safetensors', family: 'z-image-turbo' }, { fileName: 'flux1-dev-kontext_fp8_scaled.safetensors', family: 'flux-kontext' }],
    textEncoders: ['qwen_3_4b.safetensors', 't5xxl_fp16.safetensors', 'clip_l.safetensors'],
    vaes: ['ae.safetensors'],
    loras: [],
    controlNets: [],
    upscaleModels: [],
    customNodes: [],
  };
  writeFileSync(comfyConfig, JSON.stringify(comfyOnly));
  const comfy = await startSandboxProcess({ speed: 4, flavor: 'comfyui', config: comfyConfig });
  processes.push(comfy.proc, (await startNodeProcess({ gateway, comfyui: comfy.url, name: 'gpu-comfy' })).proc);
  // The flags Chromium needs on a machine without a network beyond localhost (no background fetches).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterEach(async () => {
  await context?.close();
  context = undefined;
});

afterAll(async () => {
  await browser?.close();
  for (const proc of processes.reverse()) await proc.stop();
  dir.remove();
});

async function open(path = '/', viewport = { width: 1280, height: 900 }, base = gateway): Promise<Page> {
  context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('console', (message) => message.type() === 'error' && failures.push(message.text()));
  (page as Page & { failures: string[] }).failures = failures;
  await page.goto(`${base}${path}`);
  return page;
}

/** Runs `dan <args>` (the built CLI) and resolves with what it printed. */
function runDan(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [DAN_BIN, ...args], (error, stdout, stderr) => (error ? reject(new Error(`dan ${args[0]} failed: ${stderr}`)) : resolve(stdout)));
  });
}

/** Errors the page logged: a page that works logs none. */
const failuresOf = (page: Page) => (page as Page & { failures: string[] }).failures;

/** A view's form (only the view shown is found: the others are hidden). */
const form = (page: Page, name: string) => page.getByRole('form', { name });

/** Waits until the form's model list holds a model a node serves. */
async function modelsLoaded(scope: Locator): Promise<void> {
  await scope.locator('select[name="model"] option:not([disabled])').first().waitFor({ state: 'attached' });
}

async function generate(page: Page, prompt: string, view = 'txt2img'): Promise<Locator> {
  const scope = form(page, view);
  await modelsLoaded(scope);
  await scope.getByLabel('Prompt', { exact: true }).fill(prompt);
  await scope.getByRole('button', { name: 'Generate' }).click();
  return scope;
}

/** A PNG file for an upload field, made with sharp. */
async function pngFile(width: number, height: number, name = 'photo.png') {
  const buffer = await sharp({ create: { width, height, channels: 3, background: { r: 30, g: 120, b: 200 } } }).png().toBuffer();
  return { name, mimeType: 'image/png', buffer };
}

interface LoadingImage {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  addEventListener(type: 'load', listener: () => void): void;
}

/** The result image once it is shown, with its pixel size. */
async function resultImage(scope: Page | Locator) {
  return imageSize(scope.locator('.task-result img').first());
}

/** An image's pixel size once it is shown and loaded. */
async function imageSize(image: Locator) {
  await image.waitFor({ timeout: 30_000 });
  // The test's own types have no DOM: the element is described by what is read of it.
  return image.evaluate((img: LoadingImage) => new Promise<{ width: number; height: number }>((resolve) => {
    const done = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    if (img.complete) done();
    else img.addEventListener('load', done);
  }));
}

describe('the playground', () => {
  it('makes an image from a prompt, shows it, and keeps it in the gallery across a reload', async () => {
    const page = await open();
    expect(await page.title()).toContain('DAN');
    await form(page, 'txt2img').getByLabel('Width').fill('448');
    const txt2img = await generate(page, 'a lighthouse at dusk');
    expect(await resultImage(txt2img)).toEqual({ width: 448, height: 512 });
    // Each model is offered with its family.
    expect(await txt2img.locator('select[name="model"] option', { hasText: 'clarity' }).first().textContent()).toBe('clarity · SD 1.5');
    await page.screenshot({ path: `${ARTIFACTS}txt2img.png`, fullPage: true });
    await expect.poll(() => page.locator('.gallery li').count(), POLL).toBe(1);
    await page.reload();
    await page.locator('.gallery li').first().waitFor();
    // The gallery shows a small copy; the dialog reads the full image.
    expect((await imageSize(page.locator('.gallery .thumb img').first())).width).toBeLessThanOrEqual(192);
    await page.locator('.gallery .thumb').first().click();
    const dialog = page.getByRole('dialog', { name: 'Result' });
    await expect.poll(() => dialog.locator('.params').textContent(), POLL).toContain('a lighthouse at dusk');
    await expect.poll(() => dialog.locator('img').first().evaluate((img: LoadingImage) => img.naturalWidth), POLL).toBe(448);
    // "Use these settings" puts the request back into the form, with the seed the image was made with (it was asked with -1).
    const seed = /seed (\d+)/.exec((await dialog.locator('.hint').first().textContent()) ?? '')?.[1];
    expect(seed).toBeDefined();
    await txt2img.getByLabel('Prompt', { exact: true }).fill('');
    await dialog.getByRole('button', { name: 'Use these settings' }).click();
    await expect.poll(() => txt2img.getByLabel('Prompt', { exact: true }).inputValue(), POLL).toBe('a lighthouse at dusk');
    await expect.poll(() => txt2img.getByLabel('Width').inputValue(), POLL).toBe('448');
    expect(await txt2img.getByLabel('Seed (-1: random)').inputValue()).toBe(seed);
    expect(failuresOf(page)).toEqual([]);
  });

  it('shows a result made in one tab in another tab\'s gallery, and a deletion there in the first, without a reload', async () => {
    const page = await open();
    const other = await context!.newPage();
    await other.goto(`${gateway}/`);
    await other.getByText('Results made in this browser appear here').waitFor();
    await resultImage(await generate(page, 'seen in both tabs'));
    await other.locator('.gallery li').first().waitFor(POLL);
    await other.locator('.gallery .thumb').first().click();
    await other.getByRole('dialog', { name: 'Result' }).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.locator('.gallery li').count(), POLL).toBe(0);
  });

  it('moves to a model family\'s size, CFG and sampler when one of another family is picked, so that its task is taken', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    await modelsLoaded(txt2img);
    const model = txt2img.locator('select[name="model"]');
    const values = async (labels = ['Width', 'Height', 'CFG scale', 'Sampler', 'Negative prompt']) => Promise.all(labels.map((label) => txt2img.getByLabel(label, { exact: true }).inputValue()));
    await txt2img.getByLabel('Negative prompt').fill('blurry');
    await txt2img.getByRole('button', { name: 'Add a LoRA' }).click();
    await model.selectOption('sd_xl_base_1.0');
    await expect.poll(() => values(), POLL).toEqual(['1024', '1024', '7', 'Euler a', 'blurry']);
    // The SD 1.5 LoRA would be refused with an SDXL model: taken out, and said so.
    expect(await txt2img.locator('input[name="loras[0].weight"]').count()).toBe(0);
    expect(await txt2img.locator('[data-field="model"] .hint').textContent()).toContain('is for SD 1.5 models');
    // Flux.1: its distilled guidance in CFG's place (Flux runs at CFG 1).
    await model.selectOption('flux1-dev');
    await expect.poll(() => values(['Width', 'Height', 'Distilled guidance', 'Sampler', 'Negative prompt']), POLL).toEqual(['1024', '1024', '3.5', 'Euler', '']);
    expect(await txt2img.getByLabel('CFG scale', { exact: true }).count()).toBe(0);
    await txt2img.getByLabel('Steps').fill('4');
    const submitted = page.waitForResponse((r) => r.url().endsWith('/api/sd/txt2img/async'));
    await generate(page, 'a fox, by Flux');
    expect((await submitted).status()).toBe(200);
    expect(await resultImage(txt2img)).toEqual({ width: 1024, height: 1024 });
    // Back to SD 1.5, with a size of the user's own: its proportions kept at SD 1.5's pixel count.
    await txt2img.getByLabel('Width').fill('1024');
    await txt2img.getByLabel('Height').fill('1536');
    await model.selectOption('clarity');
    await expect.poll(() => values(), POLL).toEqual(['416', '624', '7', 'Euler a', '']);
  });

  it('Z-Image-Turbo: its 8 steps, CFG fixed at 1 and no negative prompt, none of them sent; the model answers at 1024²', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    await txt2img.locator('select[name="model"] option[value="z_image_turbo_bf16"]').waitFor({ state: 'attached', timeout: 30_000 });
    await txt2img.getByLabel('Negative prompt').fill('blurry');
    await txt2img.locator('select[name="model"]').selectOption('z_image_turbo_bf16');
    await expect.poll(() => txt2img.getByLabel('Steps').inputValue(), POLL).toBe('8');
    expect(await txt2img.getByLabel('CFG scale', { exact: true }).isDisabled()).toBe(true);
    expect(await txt2img.getByLabel('CFG scale', { exact: true }).inputValue()).toBe('1');
    expect(await txt2img.getByLabel('Negative prompt').isDisabled()).toBe(true);
    expect(await txt2img.locator('[data-field="negative_prompt"] .hint').textContent()).toBe('Z-Image-Turbo models take no negative prompt');
    expect(await txt2img.locator('[data-field="model"] .hint').textContent()).toContain('Z-Image-Turbo takes no negative prompt: it was cleared.');
    await page.screenshot({ path: `${ARTIFACTS}z-image-turbo.png` });
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/txt2img/async'));
    await generate(page, 'a lighthouse at dusk');
    const body = (await request).postDataJSON() as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'z_image_turbo_bf16', steps: 8, width: 1024, height: 1024 });
    for (const field of ['cfg_scale', 'guidance', 'negative_prompt']) expect(body).not.toHaveProperty(field);
    expect(await resultImage(txt2img)).toEqual({ width: 1024, height: 1024 });
    expect((page as Page & { failures: string[] }).failures).toEqual([]);
  });

  it('shows Flux.1\'s distilled guidance in place of CFG, within the API\'s range, and sends it as guidance, which Forge gets as its Distilled CFG Scale', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    await modelsLoaded(txt2img);
    // An SD model has CFG and no guidance (the API refuses guidance for it).
    expect(await txt2img.getByLabel('Distilled guidance').count()).toBe(0);
    await txt2img.getByLabel('CFG scale').fill('5');
    await txt2img.locator('select[name="model"]').selectOption('flux1-dev');
    const guidance = txt2img.getByLabel('Distilled guidance');
    expect(await guidance.inputValue()).toBe('3.5');
    expect(await txt2img.locator('[data-field="guidance"] .hint').textContent()).toMatch(/CFG.*1/);
    await page.screenshot({ path: `${ARTIFACTS}flux-guidance.png` });
    // Beyond the API's 0 to 30: its own refusal, under the field.
    await guidance.fill('31');
    await txt2img.getByLabel('Steps').fill('4');
    await txt2img.getByLabel('Size', { exact: true }).selectOption('512x512');
    await generate(page, 'a fox in the snow');
    await txt2img.locator('[data-field="guidance"] .field-error').getByText(/0 to 30/).waitFor(POLL);
    await guidance.fill('2.5');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/txt2img/async'));
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    const body = (await request).postDataJSON() as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'flux1-dev', guidance: 2.5 });
    expect(body).not.toHaveProperty('cfg_scale');
    // Nor a negative prompt: its field is disabled, saying why.
    expect(body).not.toHaveProperty('negative_prompt');
    expect(await txt2img.getByLabel('Negative prompt').isDisabled()).toBe(true);
    expect(await txt2img.locator('[data-field="negative_prompt"] .hint').textContent()).toBe('Flux.1 models take no negative prompt');
    // The image's parameters, as the (sandbox) Forge WebUI wrote them: the guidance reached it.
    const src = await txt2img.locator('.task-result img').first().getAttribute('src', { timeout: 30_000 });
    const png = Buffer.from(src!.replace(/^data:image\/png;base64,/, ''), 'base64').toString('latin1');
    expect(png).toContain('Distilled CFG Scale: 2.5');
    expect(png).toContain('CFG scale: 1.0');
    // Back to SD 1.5: CFG as the user left it, and no guidance.
    await txt2img.locator('select[name="model"]').selectOption('clarity');
    expect(await txt2img.getByLabel('CFG scale').inputValue()).toBe('5');
    expect(await txt2img.getByLabel('Distilled guidance').count()).toBe(0);
  });

  it('offers only the ControlNet models that fit the checkpoint\'s family, and says so next to the field when the chosen one does not, sending nothing', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    const sent: string[] = [];
    page.on('request', (request) => request.url().endsWith('/api/sd/txt2img/async') && sent.push(request.postData() ?? ''));
    await modelsLoaded(txt2img);
    const model = txt2img.locator('select[name="model"]');
    await model.selectOption('sd_xl_base_1.0');
    await txt2img.getByRole('checkbox', { name: 'ControlNet' }).check();
    const unitModel = txt2img.locator('select[name="control_net[0].model"]');
    const option = (name: string) => unitModel.locator(`option[value="${name}"]`);
    // An SDXL one of the preprocessor's kind is chosen; the SD 1.5 ones are shown, disabled, saying why.
    expect(await unitModel.inputValue()).toBe('diffusers_xl_canny_full');
    expect(await option('diffusers_xl_canny_full').textContent()).toBe('diffusers_xl_canny_full · SDXL');
    expect(await option('sd15_canny').textContent()).toBe('sd15_canny · SD 1.5 — does not fit SDXL');
    expect(await option('sd15_canny').isDisabled()).toBe(true);
    await txt2img.getByLabel('Preprocessor').selectOption('openpose');
    expect(await unitModel.inputValue()).toBe('controlnet-openpose-sdxl-1.0');
    await txt2img.getByLabel('Preprocessor').selectOption('canny');
    expect(await unitModel.inputValue()).toBe('diffusers_xl_canny_full');
    await txt2img.getByLabel('Reference image').setInputFiles(await pngFile(256, 256));
    await txt2img.locator('[data-field="control_net[0].image"] img').waitFor();
    await txt2img.getByLabel('Steps').fill('4');
    await txt2img.getByLabel('Size', { exact: true }).selectOption('512x512');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/txt2img/async'));
    await generate(page, 'a cat, traced');
    expect((await request).postDataJSON()).toMatchObject({ model: 'sd_xl_base_1.0', control_net: [{ model: 'diffusers_xl_canny_full', preprocess: 'canny' }] });
    expect(await resultImage(txt2img)).toEqual({ width: 512, height: 512 });
    // Flux.1, for which the network has no ControlNet model: the chosen one stays, said not to fit, and Generate sends nothing.
    await model.selectOption('flux1-dev');
    expect(await unitModel.inputValue()).toBe('diffusers_xl_canny_full');
    const error = txt2img.locator('[data-field="control_net[0].model"] .field-error');
    expect(await error.textContent()).toBe('diffusers_xl_canny_full is a ControlNet model for SDXL models; flux1-dev is a Flux.1 model. The network has none for Flux.1 models: turn ControlNet off.');
    expect(await unitModel.getAttribute('aria-invalid')).toBe('true');
    await unitModel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${ARTIFACTS}controlnet-misfit.png` });
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement?.getAttribute("name")'), POLL).toBe('control_net[0].model');
    expect(sent).toHaveLength(1);
    // Back to SD 1.5: the SD 1.5 canny model takes its place, and the move says so.
    await model.selectOption('clarity');
    expect(await unitModel.inputValue()).toBe('sd15_canny');
    expect(await error.count()).toBe(0);
    expect(await txt2img.locator('[data-field="model"] .hint').textContent()).toContain('ControlNet model diffusers_xl_canny_full is for SDXL models: sd15_canny was chosen instead.');
  });

  it('marks the LoRAs of another family in the picker, adds one that fits, and sends none that does not', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    const sent: string[] = [];
    page.on('request', (request) => request.url().endsWith('/api/sd/txt2img/async') && sent.push(request.postData() ?? ''));
    await modelsLoaded(txt2img);
    await txt2img.locator('select[name="model"]').selectOption('sd_xl_base_1.0');
    const add = txt2img.getByRole('button', { name: 'Add a LoRA' });
    await add.click();
    const lora = txt2img.locator('select[name="loras[0]"]');
    expect(await lora.inputValue()).toBe('sdxlDetail');
    expect(await lora.locator('option[value="sdxlDetail"]').textContent()).toBe('sdxlDetail · SDXL');
    const other = lora.locator('option[value="koreanDollLikeness_v10"]');
    expect(await other.textContent()).toBe('koreanDollLikeness_v10 · SD 1.5 — does not fit SDXL');
    expect(await other.isDisabled()).toBe(true);
    await txt2img.getByLabel('Steps').fill('4');
    await txt2img.getByLabel('Size', { exact: true }).selectOption('512x512');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/txt2img/async'));
    await generate(page, 'a detailed cat');
    expect((await request).postDataJSON()).toMatchObject({ model: 'sd_xl_base_1.0', loras: [['sdxlDetail', 0.8]] });
    expect(await resultImage(txt2img)).toEqual({ width: 512, height: 512 });
    // A LoRA held from before that does not fit (a person cannot pick a disabled option; a page left open while the
    // network learnt the LoRA's family can hold one): said under its row in the gateway's words, and nothing is sent.
    await lora.evaluate((select: { value: string; dispatchEvent(event: Event): boolean }) => {
      select.value = 'koreanDollLikeness_v10';
      select.dispatchEvent(new Event('change', { bubbles: true }));
    });
    const error = txt2img.locator('[data-field="loras[0]"] .field-error');
    expect(await error.textContent()).toBe('koreanDollLikeness_v10 is a LoRA for SD 1.5 models; sd_xl_base_1.0 is an SDXL model. Choose one for SDXL models, or remove it.');
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement?.getAttribute("name")'), POLL).toBe('loras[0]');
    await page.screenshot({ path: `${ARTIFACTS}lora-misfit.png` });
    expect(sent).toHaveLength(1);
    // Flux.1: no LoRA of the network is for it, so none is offered to add.
    await txt2img.locator('select[name="model"]').selectOption('flux1-dev');
    expect(await add.isDisabled()).toBe(true);
    await txt2img.getByText('The network has no LoRA for Flux.1 models.').waitFor();
    // One typed in the prompt is the gateway's to refuse: said under the prompt.
    await txt2img.locator('select[name="model"]').selectOption('sd_xl_base_1.0');
    await generate(page, 'a doll <lora:koreanDollLikeness_v10:0.5>');
    await txt2img.locator('[data-field="prompt"] .field-error').getByText('koreanDollLikeness_v10 is a LoRA for SD 1.5 models; sd_xl_base_1.0 is an SDXL model', { exact: false }).waitFor(POLL);
  });

  it('shows the API\'s refusal next to the field it names', async () => {
    const page = await open();
    await form(page, 'txt2img').getByLabel('Steps').fill('1000');
    const txt2img = await generate(page, 'too many steps');
    const error = txt2img.locator('[data-field="steps"] .field-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/steps.*150/);
    expect(await txt2img.getByLabel('Steps').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: `${ARTIFACTS}field-error.png` });
  });

  it('shows a refused LoRA under its own row: the weight (loras[0][1]) and the LoRA (loras[1][0])', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    await modelsLoaded(txt2img);
    await txt2img.getByRole('button', { name: 'Add a LoRA' }).click();
    await txt2img.locator('input[name="loras[0].weight"]').fill('9');
    await generate(page, 'a heavy LoRA');
    const weightError = txt2img.locator('[data-field="loras[0].weight"] .field-error');
    await weightError.waitFor(POLL);
    expect(await weightError.textContent()).toMatch(/4/);
    expect(await txt2img.locator('input[name="loras[0].weight"]').getAttribute('aria-invalid')).toBe('true');
    // "Add a LoRA" adds another one; picked as the first again, the second row is at fault.
    await txt2img.locator('input[name="loras[0].weight"]').fill('0.5');
    await txt2img.getByRole('button', { name: 'Add a LoRA' }).click();
    const first = await txt2img.locator('select[name="loras[0]"]').inputValue();
    expect(await txt2img.locator('select[name="loras[1]"]').inputValue()).not.toBe(first);
    await txt2img.locator('select[name="loras[1]"]').selectOption(first);
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    await txt2img.locator('[data-field="loras[1]"] .field-error').getByText(/already used/).waitFor(POLL);
  });

  it('refuses an empty or garbled number on its field rather than sending the API\'s default, and reads a decimal comma', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    const sent: string[] = [];
    page.on('request', (request) => request.url().endsWith('/api/sd/txt2img/async') && sent.push(request.postData() ?? ''));
    await txt2img.getByLabel('Steps').fill('abc');
    await generate(page, 'typed badly');
    await txt2img.locator('[data-field="steps"] .field-error').getByText('Not a number').waitFor(POLL);
    expect(await txt2img.getByLabel('Steps').getAttribute('aria-invalid')).toBe('true');
    await txt2img.getByLabel('Steps').fill('4');
    await txt2img.getByLabel('Width').fill('');
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    await txt2img.locator('[data-field="width"] .field-error').getByText('Not a number').waitFor(POLL);
    expect(sent).toEqual([]);
    await txt2img.getByLabel('Width').fill('256');
    await txt2img.getByLabel('CFG scale').fill('7,5');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/txt2img/async'));
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    expect((await request).postDataJSON()).toMatchObject({ steps: 4, width: 256, cfg_scale: 7.5 });
    expect(await resultImage(txt2img)).toEqual({ width: 256, height: 512 });
  });

  it('cancels a running task', async () => {
    const page = await open();
    // 1024² at 150 steps: several seconds on this sandbox, time to cancel it while it runs.
    const txt2img = form(page, 'txt2img');
    await txt2img.getByLabel('Size').selectOption('1024x1024');
    await txt2img.getByLabel('Steps').fill('150');
    await generate(page, 'a slow one');
    await txt2img.locator('.task-panel[data-phase="running"]').waitFor({ timeout: 20_000 });
    await txt2img.getByRole('button', { name: 'Cancel' }).click();
    await txt2img.locator('.task-panel[data-phase="cancelled"]').waitFor();
    expect(await txt2img.locator('.task-panel').textContent()).toContain('Cancelled');
  });

  it('follows a running task again after a reload, puts its result in the gallery, and then forgets it', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    await txt2img.getByLabel('Size').selectOption('1024x1024');
    await txt2img.getByLabel('Steps').fill('100');
    await generate(page, 'left running');
    await txt2img.locator('.task-panel[data-phase="running"]').waitFor({ timeout: 20_000 });
    expect(await page.evaluate<string | null>('localStorage.getItem("dan-task:txt2img")')).toContain('left running');
    await page.reload();
    expect(await resultImage(txt2img)).toEqual({ width: 1024, height: 1024 });
    await expect.poll(() => page.locator('.gallery li').count(), POLL).toBe(1);
    expect(await page.evaluate<string | null>('localStorage.getItem("dan-task:txt2img")')).toBeNull();
  });

  it('says the gateway cannot be reached while it is down, and follows the task again once it is back', async () => {
    // A gateway of its own (the shared one stays up), on a port it comes back on, with its tasks in SQLite.
    const port = await freePort();
    const data = `${dir.path}/data-down`;
    let down = await startGatewayProcess({ dataDir: data, port });
    const node = await startNodeProcess({ gateway: down.url, webui: sandbox, name: 'gpu-down' });
    try {
      const page = await open('/', undefined, down.url);
      const txt2img = form(page, 'txt2img');
      await txt2img.getByLabel('Size').selectOption('1024x1024');
      await txt2img.getByLabel('Steps').fill('150');
      await generate(page, 'through an outage');
      await txt2img.locator('.task-panel[data-phase="running"]').waitFor({ timeout: 20_000 });
      await down.proc.stop('SIGKILL');
      const panel = txt2img.locator('.task-panel');
      await txt2img.locator('.task-panel[data-unreachable]').waitFor(POLL);
      expect(await panel.textContent()).toContain('The gateway cannot be reached');
      expect(await panel.textContent()).not.toContain('Running:');
      expect(await panel.getByRole('button', { name: 'Cancel' }).isDisabled()).toBe(true);
      await page.screenshot({ path: `${ARTIFACTS}gateway-down.png` });
      down = await startGatewayProcess({ dataDir: data, port });
      await txt2img.locator('.task-panel:not([data-unreachable])').waitFor({ timeout: 20_000 });
      expect(await panel.textContent()).not.toContain('cannot be reached');
      // Followed again: a cancel goes through (unless it ended meanwhile), and the node is not left running it.
      const cancel = panel.getByRole('button', { name: 'Cancel' });
      if (await cancel.isVisible()) await cancel.click();
      await txt2img.locator('.task-panel[data-phase="cancelled"], .task-panel[data-phase="succeeded"]').waitFor({ timeout: 20_000 });
    } finally {
      await node.proc.stop();
      await down.proc.stop();
    }
  });

  it('says how many tasks are ahead of one that waits in the queue', async () => {
    // Three slow tasks from this address: one runs, one is held ready on the node, one waits (rank 1).
    const slow = { prompt: 'ahead', model: 'clarity', width: 1024, height: 1024, steps: 150 };
    const ahead: string[] = [];
    for (let i = 0; i < 3; i++) ahead.push((await postJson(`${gateway}/api/sd/txt2img/async`, slow)).body.data.taskId as string);
    try {
      const page = await open();
      const txt2img = await generate(page, 'behind three');
      const line = txt2img.locator('.task-panel[data-phase="queued"] .task-line');
      await expect.poll(async () => line.textContent(), POLL).toMatch(/^Queued: 1 ahead/);
      await postJson(`${gateway}/api/sd/task/cancel`, { taskId: ahead[2] });
      await expect.poll(async () => line.textContent(), POLL).toMatch(/^Queued: next/);
    } finally {
      for (const taskId of ahead) await postJson(`${gateway}/api/sd/task/cancel`, { taskId });
    }
  });

  it('does the txt2img flow on a 360 px wide phone, with nothing wider than the screen', async () => {
    const page = await open('/', { width: 360, height: 740 });
    // A refusal far above the button (the prompt's limit is 16,384 characters): the field is brought into view and focused.
    const txt2img = await generate(page, 'a fox '.repeat(3000));
    await txt2img.locator('[data-field="prompt"] .field-error').waitFor(POLL);
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement?.id'), POLL).toBe('txt2img-prompt');
    const promptBox = (await txt2img.getByLabel('Prompt', { exact: true }).boundingBox())!;
    expect(promptBox.y + promptBox.height).toBeGreaterThan(0);
    expect(promptBox.y).toBeLessThan(740);
    await generate(page, 'a small fox');
    expect((await resultImage(txt2img)).width).toBe(512);
    const widest = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(widest).toBeLessThanOrEqual(360);
    await page.screenshot({ path: `${ARTIFACTS}phone.png`, fullPage: true });
    // The gallery's dialog keeps its actions on the screen, below a full-size image and its parameters.
    await page.locator('.gallery .thumb').first().click();
    const dialog = page.getByRole('dialog', { name: 'Result' });
    await expect.poll(() => dialog.locator('img').first().evaluate((img: LoadingImage) => img.naturalWidth), POLL).toBe(512);
    for (const name of ['Download', 'Use these settings', 'Delete', 'Close']) {
      const box = (await dialog.getByRole(name === 'Download' ? 'link' : 'button', { name }).boundingBox())!;
      expect(box.y + box.height, name).toBeLessThanOrEqual(740);
    }
    await page.screenshot({ path: `${ARTIFACTS}phone-dialog.png` });
  });
});

describe('with an API key', () => {
  it('says, in the page\'s words, that a key the gateway does not know is kept in this browser, and works again once it is forgotten', async () => {
    const page = await open();
    await page.getByText('No API key').click();
    await page.getByLabel('API key (kept in this browser only)').fill('dan_not_a_key_of_this_gateway');
    await page.getByRole('form', { name: 'API key' }).getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').getByText(/The API key kept in this browser is not one this gateway knows/).waitFor(POLL);
    // Saved: the popover closed. Opened again, the key is forgotten there.
    await page.getByRole('form', { name: 'API key' }).waitFor({ state: 'hidden', ...POLL });
    await page.getByText(/^API key dan_not/).click();
    await page.getByRole('form', { name: 'API key' }).getByRole('button', { name: 'Forget' }).click();
    await page.getByRole('alert').waitFor({ state: 'detached', ...POLL });
    expect(await page.getByText('No API key').count()).toBe(1);
    // Escape closes it too.
    await page.getByText('No API key').click();
    await page.getByLabel('API key (kept in this browser only)').focus();
    await page.keyboard.press('Escape');
    await page.getByRole('form', { name: 'API key' }).waitFor({ state: 'hidden', ...POLL });
  });

  it('sends the key the user gave, so the task is the key\'s own (another caller is told there is no such task)', async () => {
    const created = await runDan(['keys', 'create', '--data', `${dir.path}/data`, '--name', 'web user', '--json']);
    const { secret } = JSON.parse(created) as { secret: string };
    const page = await open();
    await page.getByText('No API key').click();
    await page.getByLabel('API key (kept in this browser only)').fill(secret);
    await page.getByRole('form', { name: 'API key' }).getByRole('button', { name: 'Save' }).click();
    await page.getByText(`API key ${secret.slice(0, 7)}…`).waitFor();
    const submitted = page.waitForResponse((r) => r.url().endsWith('/api/sd/txt2img/async'));
    const txt2img = await generate(page, 'a keyed fox');
    const taskId = ((await (await submitted).json()) as { data: { taskId: string } }).data.taskId;
    await resultImage(txt2img);
    expect((await getJson(`${gateway}/api/sd/task/${taskId}`)).status).toBe(404);
    expect((await getJson(`${gateway}/api/sd/task/${taskId}`, { authorization: `Bearer ${secret}` })).body.data.status).toBe(2);
  });
});

describe('for everyone', () => {
  it('labels every control of every view, so that a screen reader and the keyboard can use them', async () => {
    const page = await open();
    for (const view of ['txt2img', 'img2img', 'inpaint', 'upscale', 'interrogate']) {
      await page.goto(`${gateway}/#/${view}`);
      const scope = form(page, view);
      await scope.waitFor();
      // Open the optional parts so that their fields count too.
      for (const box of await scope.locator('legend input[type="checkbox"]').all()) await box.check();
      const unlabelled = await scope.locator('input:visible, select:visible, textarea:visible').evaluateAll((controls) =>
        controls.filter((c) => (c as unknown as { labels: ArrayLike<unknown> }).labels.length === 0 && !c.getAttribute('aria-label')).map((c) => c.outerHTML.slice(0, 80)),
      );
      expect(unlabelled, view).toEqual([]);
    }
  });

  it('follows the system\'s dark theme', async () => {
    context = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${gateway}/`);
    await form(page, 'txt2img').waitFor();
    const [background, text] = await page.evaluate<[string, string]>('[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]');
    const luminance = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).map(Number).reduce((a, b) => a + b, 0) / 3;
    expect(luminance(background)).toBeLessThan(60);
    expect(luminance(text)).toBeGreaterThan(180);
    await page.screenshot({ path: `${ARTIFACTS}dark.png` });
  });
});

describe('the other views', () => {
  it('makes an image from an uploaded one (img2img), at the upload\'s size', async () => {
    const page = await open('/#/img2img');
    const img2img = form(page, 'img2img');
    // A small one is scaled up in its proportions until its shorter side is the API's smallest (64), not stretched to 64 × 64.
    await img2img.getByLabel('Image').setInputFiles(await pngFile(40, 30));
    await expect.poll(() => img2img.getByLabel('Width').inputValue(), POLL).toBe('88');
    expect(await img2img.getByLabel('Height').inputValue()).toBe('64');
    await img2img.getByLabel('Image').setInputFiles(await pngFile(320, 256));
    await expect.poll(() => img2img.getByLabel('Width').inputValue(), POLL).toBe('320');
    await generate(page, 'the same, at night', 'img2img');
    expect(await resultImage(img2img)).toEqual({ width: 320, height: 256 });
    await page.screenshot({ path: `${ARTIFACTS}img2img.png`, fullPage: true });
  });

  it('edits an image with FLUX.1 Kontext: no denoising strength to set or send, the picture at about a megapixel in the image\'s proportions', async () => {
    const page = await open('/#/img2img');
    const img2img = form(page, 'img2img');
    await img2img.locator('select[name="model"] option[value="flux1-dev-kontext_fp8_scaled"]').waitFor({ state: 'attached', timeout: 30_000 });
    await img2img.getByLabel('Image').setInputFiles(await pngFile(320, 256));
    await expect.poll(() => img2img.getByLabel('Width').inputValue(), POLL).toBe('320');
    expect(await img2img.getByLabel('Denoising strength').count()).toBe(1);
    await img2img.locator('select[name="model"]').selectOption('flux1-dev-kontext_fp8_scaled');
    await expect.poll(() => img2img.getByLabel('Denoising strength').count(), POLL).toBe(0);
    // The size moves to the family's, in the image's proportions: about a megapixel, in Kontext's 16-pixel cells.
    await expect.poll(() => img2img.getByLabel('Width').inputValue(), POLL).toBe('1152');
    expect(await img2img.getByLabel('Height').inputValue()).toBe('912');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/img2img/async'));
    await generate(page, 'make it night', 'img2img');
    const body = (await request).postDataJSON() as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'flux1-dev-kontext_fp8_scaled', width: 1152, height: 912 });
    expect(body).not.toHaveProperty('denoising_strength');
    expect(await resultImage(img2img)).toEqual({ width: 1152, height: 912 });
    expect((page as Page & { failures: string[] }).failures).toEqual([]);
  });

  it('says at once that an edit model runs in img2img only, in the txt2img and inpaint forms, and sends nothing', async () => {
    const page = await open();
    const txt2img = form(page, 'txt2img');
    await txt2img.locator('select[name="model"] option[value="flux1-dev-kontext_fp8_scaled"]').waitFor({ state: 'attached', timeout: 30_000 });
    await txt2img.locator('select[name="model"]').selectOption('flux1-dev-kontext_fp8_scaled');
    await expect.poll(() => txt2img.innerText(), POLL).toContain('which edits an image it is given: use it in img2img');
    let sent = 0;
    page.on('request', (r) => {
      if (r.url().includes('/api/sd/txt2img')) sent += 1;
    });
    await txt2img.getByLabel('Prompt', { exact: true }).fill('a cat');
    await txt2img.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => txt2img.innerText(), POLL).toContain('use it in img2img');
    expect(sent).toBe(0);
    const inpaintPage = await open('/#/inpaint');
    const inpaint = form(inpaintPage, 'inpaint');
    await inpaint.locator('select[name="model"] option[value="flux1-dev-kontext_fp8_scaled"]').waitFor({ state: 'attached', timeout: 30_000 });
    await inpaint.locator('select[name="model"]').selectOption('flux1-dev-kontext_fp8_scaled');
    await expect.poll(() => inpaint.innerText(), POLL).toContain('which edits a whole image, with no mask: use it in img2img');
  });

  it('sends a result to upscale and makes it twice as large', async () => {
    const page = await open();
    const txt2img = await generate(page, 'a small house');
    await resultImage(txt2img);
    await txt2img.getByRole('button', { name: 'Send to upscale' }).click();
    const upscale = form(page, 'upscale');
    await upscale.locator('.image-input-preview img').waitFor();
    await upscale.getByRole('button', { name: 'Upscale' }).click();
    expect(await resultImage(upscale)).toEqual({ width: 1024, height: 1024 });
  });

  it('describes an image (interrogate) and shows the caption', async () => {
    const page = await open('/#/interrogate');
    const interrogate = form(page, 'interrogate');
    await interrogate.getByLabel('Image').setInputFiles(await pngFile(256, 256));
    await interrogate.getByLabel('Interrogator').selectOption('deepdanbooru');
    await interrogate.getByRole('button', { name: 'Describe the image' }).click();
    const caption = interrogate.locator('.task-result .caption');
    await caption.waitFor({ timeout: 20_000 });
    expect((await caption.textContent())?.length).toBeGreaterThan(0);
  });

  it('sends the painted mask as the API documents it: the image\'s size, white where painted, black elsewhere; inverted on demand', async () => {
    const page = await open('/#/inpaint');
    const inpaint = form(page, 'inpaint');
    await inpaint.getByLabel('Image').setInputFiles(await pngFile(256, 256));
    const canvas = inpaint.getByLabel('Mask: paint over the part to regenerate');
    await canvas.waitFor();
    await modelsLoaded(inpaint);
    // Nothing painted yet: the refusal in the page's words, under the mask.
    await inpaint.getByRole('button', { name: 'Generate' }).click();
    await inpaint.getByText('Paint over what to regenerate first.').waitFor(POLL);
    const box = (await canvas.boundingBox())!;
    const strokeAcross = async (y: number, from: number, to: number) => {
      await page.mouse.move(box.x + box.width * from, box.y + box.height * y);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * to, box.y + box.height * y, { steps: 8 });
      await page.mouse.up();
    };
    // Painted, then all erased: refused in the form, nothing sent (an all-black mask would change nothing).
    await inpaint.getByLabel(/Brush size/).fill('64');
    await strokeAcross(0.5, 0.3, 0.7);
    await inpaint.getByRole('button', { name: 'Erase' }).click();
    await inpaint.getByLabel(/Brush size/).fill('256');
    await strokeAcross(0.5, 0.02, 0.98);
    const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/img2img/async'), { timeout: 1000 }).catch(() => null);
    await inpaint.getByRole('button', { name: 'Generate' }).click();
    await inpaint.getByText('Nothing is painted').waitFor(POLL);
    expect(await request).toBeNull();
    await inpaint.getByRole('button', { name: 'Draw' }).click();
    await inpaint.getByLabel(/Brush size/).fill('32');
    // A stroke across the top left quarter, in screen pixels of the canvas as shown.
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.2, { steps: 8 });
    await page.mouse.up();
    const maskSent = async () => {
      const request = page.waitForRequest((r) => r.url().endsWith('/api/sd/img2img/async'));
      await inpaint.getByRole('button', { name: 'Generate' }).click();
      const body = (await request).postDataJSON() as { inpaint: { mask: string; mask_mode: number } };
      await resultImage(inpaint);
      const png = Buffer.from(body.inpaint.mask.replace(/^data:image\/png;base64,/, ''), 'base64');
      const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, at: (x: number, y: number) => data[y * info.width + x]!, mode: body.inpaint.mask_mode };
    };
    await modelsLoaded(inpaint);
    const mask = await maskSent();
    expect([mask.width, mask.height, mask.mode]).toEqual([256, 256, 0]);
    // On the stroke (x 26–102 at y 51, 32 px wide): white; far from it: black.
    expect([mask.at(64, 51), mask.at(40, 51), mask.at(64, 60)]).toEqual([255, 255, 255]);
    expect([mask.at(200, 200), mask.at(64, 120), mask.at(250, 5)]).toEqual([0, 0, 0]);
    await page.screenshot({ path: `${ARTIFACTS}inpaint.png`, fullPage: true });
    await inpaint.getByRole('button', { name: 'Invert' }).click();
    const inverted = await maskSent();
    expect([inverted.at(64, 51), inverted.at(200, 200)]).toEqual([0, 255]);
    // Another image of the same size starts with an empty mask, not the last image's strokes.
    const other = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 200, g: 60, b: 20 } } }).png().toBuffer();
    await inpaint.getByLabel('Image').setInputFiles({ name: 'other.png', mimeType: 'image/png', buffer: other });
    await expect
      .poll(() => page.evaluate<number>(`(() => { const c = document.querySelector('form[aria-label="inpaint"] canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`), POLL)
      .toBe(0);
  });
});

describe('the dashboard', () => {
  it('shows the work done: images in the last hour, the task in recent tasks, the node\'s tally', async () => {
    const submitted = (await postJson(`${gateway}/api/sd/txt2img/async`, { prompt: 'for the dashboard', model: 'clarity', width: 320, height: 192 })).body.data.taskId as string;
    await pollUntilDone(gateway, submitted);
    const page = await open('/#/dashboard');
    await page.locator('.recent tbody tr').first().waitFor();
    expect(Number(await page.locator('[data-chart="Images per minute"]').getAttribute('data-total'))).toBeGreaterThanOrEqual(1);
    expect(await page.locator('.recent tbody').textContent()).toContain('320 × 192');
    const row = page.locator('tr[data-node="gpu-one"]');
    expect(await row.textContent()).toContain('dan-node');
    expect(await row.textContent()).toContain('A1111 WebUI');
    expect(Number((await row.locator('td').nth(2).textContent())!.split('/')[0])).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-work.png`, fullPage: true });
  });

  it('shows a node when it connects and drops it when it goes', async () => {
    const page = await open('/#/dashboard');
    await page.locator('tr[data-node="gpu-one"]').waitFor();
    const second = await startNodeProcess({ gateway, webui: sandbox, name: 'gpu-two' });
    await page.locator('tr[data-node="gpu-two"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    await second.proc.stop();
    await page.locator('tr[data-node="gpu-two"]').waitFor({ state: 'detached', timeout: 10_000 });
    // The two of the setup stay: the Forge node and the ComfyUI one.
    expect(await page.locator('tr[data-node]').count()).toBe(2);
  });
});
