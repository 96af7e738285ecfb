/**
 * The original deployment's example clients (reference/sdcn-original.md §7),
 * flow by flow, against `dan demo` (gateway + sandbox + node in one process):
 * the same headers (a bare API key fetched from /api/user/public-api-key),
 * the same bodies, and the same checks those scripts make on the answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, imageInfo, pngBase64, postJson } from '../helpers/api-client.js';
import { DanProcess, tempDir } from '../helpers/processes.js';
import {
  controlNetExample,
  img2imgDefaults,
  inpaintExample,
  paramsImg2imgJson,
  paramsTxt2imgJson,
  threeDToTwoDExample,
  txt2imgDefaults,
} from '../api/requests/original-examples.js';

let base: string;
let demo: DanProcess;
/** What `dan demo` says when it is ready. */
let banner = '';
const dir = tempDir();

beforeAll(async () => {
  demo = new DanProcess(['demo', '--port', '0', '--host', '127.0.0.1', '--data', dir.path, '--speed', '200']);
  const ready = await demo.waitForLog((l) => l.msg.startsWith('DAN demo ready') && typeof l['gateway'] === 'string', 30_000);
  base = ready['gateway'] as string;
  banner = String(ready['msg']);
}, 40_000);

afterAll(async () => {
  await demo.stop();
  dir.remove();
});

it('names the playground first when ready, then says that the sandbox draws placeholder patterns (a newcomer must not take them for a broken model)', () => {
  expect(banner.split('\n')[0]).toBe(`DAN demo ready. Playground and dashboard: ${base}/`);
  expect(banner).toContain('placeholder patterns, not pictures');
  expect(banner).toContain('dan node --gateway URL --webui URL');
});

/** common/parameters.py get_http_headers(): the public key, bare, in Authorization. */
async function headers(): Promise<Record<string, string>> {
  const { status, body } = await getJson(`${base}/api/user/public-api-key`, { accept: 'application/json', 'Content-Type': 'application/json' });
  expect(status).toBe(200);
  expect(body.data.apiKey).toBeTruthy();
  return { accept: 'application/json', Authorization: body.data.apiKey };
}

/** common/parameters.py handle_image_response(): code 200 and data.images, each a PNG. */
async function expectImages(response: { status: number; body: any }): Promise<{ width: number; height: number }[]> {
  expect(response.status).toBe(200);
  expect(response.body.code).toBe(200);
  expect(Array.isArray(response.body.data.images)).toBe(true);
  return Promise.all(response.body.data.images.map((image: string) => imageInfo(image)));
}

describe('the original example clients against `dan demo`', () => {
  it('txt2img.py', async () => {
    const images = await expectImages(await postJson(`${base}/api/sd/txt2img`, txt2imgDefaults(), await headers()));
    expect(images).toEqual([{ format: 'png', width: 896, height: 1200 }]);
  });

  it('img2img.py and dan_run.py img2img', async () => {
    const photo = await pngBase64(600, 800);
    for (const body of [img2imgDefaults(photo), paramsImg2imgJson(photo)]) {
      const images = await expectImages(await postJson(`${base}/api/sd/img2img`, body, await headers()));
      expect(images[0]).toMatchObject({ width: 600, height: 800 });
    }
  });

  it('dan_run.py txt2img with params-txt2img.json (a seed above 2^32)', async () => {
    const response = await postJson(`${base}/api/sd/txt2img`, paramsTxt2imgJson(), await headers());
    await expectImages(response);
    expect(response.body.data.seeds).toEqual([813241234123]);
  });

  it('inpaint.py', async () => {
    const response = await postJson(`${base}/api/sd/img2img`, inpaintExample(await pngBase64(600, 800), await pngBase64(600, 800, { r: 255, g: 255, b: 255 })), await headers());
    await expectImages(response);
    expect(response.body.data.seeds).toEqual([163766588]);
  });

  it('control_net.py (guessmode spelling)', async () => {
    const response = await postJson(`${base}/api/sd/txt2img`, controlNetExample(await pngBase64(512, 512)), await headers());
    expect(await expectImages(response)).toHaveLength(1);
  });

  it('interrogate.py (raise_for_status, then data.caption)', async () => {
    const response = await postJson(`${base}/api/sd/interrogate`, { image: await pngBase64(320, 240), model: 'deepdanbooru' }, await headers());
    expect(response.status).toBe(200);
    expect(typeof response.body.data.caption).toBe('string');
  });

  it('upscale.py', async () => {
    const body = { image: await pngBase64(300, 200), upscalingRate: 2, upscaler: 'Lanczos', upscaler2: 'Lanczos', upscaler2_factor: 0 };
    expect(await expectImages(await postJson(`${base}/api/sd/upscale`, body, await headers()))).toEqual([{ format: 'png', width: 600, height: 400 }]);
  });

  it('txt2img_async.py: submit, then poll status until 2', async () => {
    const submit = await postJson(`${base}/api/sd/txt2img/async`, txt2imgDefaults(), await headers());
    expect(submit.body.code).toBe(200);
    const taskId = submit.body.data.taskId;
    const seen = new Set<number>();
    for (;;) {
      const status = await postJson(`${base}/api/sd/task/status`, { taskId }, await headers());
      expect(status.body.code).toBe(200);
      seen.add(status.body.data.status);
      if (status.body.data.status === 0) expect(status.body.data.queuePosition).toBeGreaterThanOrEqual(1);
      if (status.body.data.status === 2) {
        expect(await Promise.all(status.body.data.images.map(imageInfo))).toEqual([{ format: 'png', width: 896, height: 1200 }]);
        break;
      }
      expect(status.body.data.status).not.toBe(3);
      // The script sleeps between polls; here the next poll follows the gateway's own word that the task ended.
      await demo.waitForLog((l) => l['task'] === taskId && l.msg === 'task succeeded');
    }
    expect(seen.has(2)).toBe(true);
  });

  it('3d_to_2d.py: interrogate with clip, then img2img with the caption as prompt', async () => {
    const photo = await pngBase64(1500, 1000);
    const caption = await postJson(`${base}/api/sd/interrogate`, { image: photo, model: 'clip' }, await headers());
    expect(caption.body.code).toBe(200);
    const images = await expectImages(await postJson(`${base}/api/sd/img2img`, threeDToTwoDExample(photo, caption.body.data.caption), await headers()));
    // 683 is not a multiple of 8: the WebUI makes 680, as it always did.
    expect(images[0]).toMatchObject({ width: 1024, height: 680 });
  });
});
