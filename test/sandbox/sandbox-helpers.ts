/**
 * Helpers for the sandbox tests: JSON requests against a running sandbox and
 * small images built with sharp.
 */
import sharp from 'sharp';

export interface JsonResponse<T = any> {
  status: number;
  body: T;
}

export async function postJson<T = any>(url: string, body: unknown): Promise<JsonResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

export async function getJson<T = any>(url: string): Promise<JsonResponse<T>> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

/** A solid-colour PNG as base64. */
export async function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<string> {
  const [r, g, b] = rgb;
  const png = await sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer();
  return png.toString('base64');
}

/** A PNG whose left half has `left` and right half `right`, as base64; `channels` 4 adds the given alpha. */
export async function splitPng(
  width: number,
  height: number,
  left: number[],
  right: number[],
): Promise<string> {
  const channels = left.length as 3 | 4;
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = x < width / 2 ? left : right;
      colour.forEach((value, c) => (raw[(y * width + x) * channels + c] = value));
    }
  }
  const png = await sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
  return png.toString('base64');
}

export async function rawRgb(base64: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(base64, 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export async function sizeOf(base64: string): Promise<{ width: number; height: number; format: string }> {
  const meta = await sharp(Buffer.from(base64, 'base64')).metadata();
  return { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? '' };
}

/** A bound POST of one route, as the tests keep them. */
export type PostJson<TBody = unknown> = (body: TBody) => Promise<JsonResponse>;
