/**
 * A small client of the DAN HTTP API for tests: JSON in, status + body out,
 * and image helpers (real PNGs made and read with sharp).
 */
import { request as httpRequest } from 'node:http';
import sharp from 'sharp';
import { gatewayProcessAt } from './processes.js';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  /** Set by postJson and getJson. */
  headers?: Headers;
}

export async function postJson<T = any>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

export async function getJson<T = any>(url: string, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

/** A real PNG of the given size, as base64 (no prefix). */
export async function pngBase64(width: number, height: number, color = { r: 200, g: 40, b: 40 }): Promise<string> {
  const buffer = await sharp({ create: { width, height, channels: 3, background: color } }).png().toBuffer();
  return buffer.toString('base64');
}

/** A mask: white on the left half, black on the right. */
export async function halfMaskBase64(width: number, height: number): Promise<string> {
  const raw = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) raw.fill(255, y * width, y * width + Math.floor(width / 2));
  const buffer = await sharp(raw, { raw: { width, height, channels: 1 } }).png().toBuffer();
  return buffer.toString('base64');
}

export async function imageInfo(base64: string): Promise<{ format: string; width: number; height: number }> {
  const meta = await sharp(Buffer.from(base64, 'base64')).metadata();
  return { format: meta.format ?? '?', width: meta.width ?? 0, height: meta.height ?? 0 };
}

/** The gateway's log messages for a task's end (gateway/dispatcher.ts). */
const TASK_ENDS = new Set(['task succeeded', 'task failed', 'task cancelled']);

/**
 * Waits for the gateway at `gateway` to log the task's end, then returns its
 * status document as a client reads it. No polling: the gateway's own event.
 */
export async function pollUntilDone(gateway: string, taskId: string, timeoutMs = 20_000): Promise<any> {
  await gatewayProcessAt(gateway).waitForLog((l) => l['task'] === taskId && TASK_ENDS.has(l.msg), timeoutMs);
  const { status, body } = await postJson(`${gateway}/api/sd/task/status`, { taskId });
  if (status !== 200) throw new Error(`status call failed: ${status} ${JSON.stringify(body)}`);
  if (body.data.status < 2) throw new Error(`task ${taskId} logged its end but reads ${JSON.stringify(body.data)}`);
  return body.data;
}

/**
 * Posts a body the server may refuse before reading it all (413 on Content-Length):
 * the answer is read even if the server stops reading and the write then fails.
 */
export function postOversized(url: string, body: string): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    request.end(body);
  });
}
