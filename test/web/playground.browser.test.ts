/**
 * The web app in a real browser (Debian's chromium driven by playwright-core)
 * against real processes: a gateway serving the built app (dist/web), a
 * sandbox WebUI and a node. A person's paths through it: generate an image and
 * see it (and find it in the gallery after a reload), be told which field the
 * API refused, cancel a running task, watch a node join and leave the
 * dashboard, and do it all on a 360 px wide phone. Screenshots go to
 * test-artifacts/web/ (not committed).
 */
import { mkdirSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

const CHROMIUM = process.env['DAN_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = new URL('../../test-artifacts/web/', import.meta.url).pathname;

let gateway: string;
let sandbox: string;
let browser: Browser;
let context: BrowserContext | undefined;
const processes: DanProcess[] = [];
const dir = tempDir('dan-web-');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Speed 4: a checkpoint loads in about a second, a 512² image of 20 steps takes a fraction of one.
  const [sb, gw] = await Promise.all([startSandboxProcess({ speed: 4 }), startGatewayProcess({ dataDir: `${dir.path}/data` })]);
  processes.push(sb.proc, gw.proc);
  sandbox = sb.url;
  gateway = gw.url;
  processes.push((await startNodeProcess({ gateway, webui: sandbox, name: 'gpu-one' })).proc);
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

async function open(path = '/', viewport = { width: 1280, height: 900 }): Promise<Page> {
  context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('console', (message) => message.type() === 'error' && failures.push(message.text()));
  (page as Page & { failures: string[] }).failures = failures;
  await page.goto(`${gateway}${path}`);
  return page;
}

/** Errors the page logged: a page that works logs none. */
const failuresOf = (page: Page) => (page as Page & { failures: string[] }).failures;

/** Waits until the model list holds a model a node serves. */
async function modelsLoaded(page: Page): Promise<void> {
  await page.locator('#field-model option:not([disabled])').first().waitFor({ state: 'attached' });
}

async function generate(page: Page, prompt: string): Promise<void> {
  await modelsLoaded(page);
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByRole('button', { name: 'Generate' }).click();
}

interface LoadingImage {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  addEventListener(type: 'load', listener: () => void): void;
}

/** The result image once it is shown, with its pixel size. */
async function resultImage(page: Page) {
  const image = page.locator('.task-result img').first();
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
    await page.getByLabel('Width').fill('448');
    await generate(page, 'a lighthouse at dusk');
    expect(await resultImage(page)).toEqual({ width: 448, height: 512 });
    await page.screenshot({ path: `${ARTIFACTS}txt2img.png`, fullPage: true });
    await expect.poll(() => page.locator('.gallery li').count()).toBe(1);
    await page.reload();
    await page.locator('.gallery li').first().waitFor();
    await page.locator('.gallery .thumb').first().click();
    const dialog = page.getByRole('dialog', { name: 'Result' });
    await expect.poll(() => dialog.locator('.params').textContent()).toContain('a lighthouse at dusk');
    // "Use these settings" puts the request back into the form.
    await page.getByLabel('Prompt', { exact: true }).fill('');
    await dialog.getByRole('button', { name: 'Use these settings' }).click();
    expect(await page.getByLabel('Prompt', { exact: true }).inputValue()).toBe('a lighthouse at dusk');
    expect(await page.getByLabel('Width').inputValue()).toBe('448');
    expect(failuresOf(page)).toEqual([]);
  });

  it('shows the API\'s refusal next to the field it names', async () => {
    const page = await open();
    await page.getByLabel('Steps').fill('1000');
    await generate(page, 'too many steps');
    const error = page.locator('[data-field="steps"] .field-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/steps.*150/);
    expect(await page.getByLabel('Steps').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: `${ARTIFACTS}field-error.png` });
  });

  it('cancels a running task', async () => {
    const page = await open();
    // 1024² at 150 steps: several seconds on this sandbox, time to cancel it while it runs.
    await page.getByLabel('Size').selectOption('1024x1024');
    await page.getByLabel('Steps').fill('150');
    await generate(page, 'a slow one');
    await page.locator('.task-panel[data-phase="running"]').waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.task-panel[data-phase="cancelled"]').waitFor();
    expect(await page.locator('.task-panel').textContent()).toContain('Cancelled');
  });

  it('does the txt2img flow on a 360 px wide phone, with nothing wider than the screen', async () => {
    const page = await open('/', { width: 360, height: 740 });
    await generate(page, 'a small fox');
    expect((await resultImage(page)).width).toBe(512);
    const widest = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(widest).toBeLessThanOrEqual(360);
    await page.screenshot({ path: `${ARTIFACTS}phone.png`, fullPage: true });
  });
});

describe('the dashboard', () => {
  it('shows a node when it connects and drops it when it goes', async () => {
    const page = await open('/#/dashboard');
    await page.locator('tr[data-node="gpu-one"]').waitFor();
    const second = await startNodeProcess({ gateway, webui: sandbox, name: 'gpu-two' });
    await page.locator('tr[data-node="gpu-two"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    await second.proc.stop();
    await page.locator('tr[data-node="gpu-two"]').waitFor({ state: 'detached', timeout: 10_000 });
    expect(await page.locator('tr[data-node]').count()).toBe(1);
  });
});
