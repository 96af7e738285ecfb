/**
 * @module api/openai/image-urls
 *
 * `response_format: "url"`: an image of a task's result behind a URL that needs
 * no key and stops working after an hour, as OpenAI's do. The URL names the
 * task and the image and carries its expiry and an HMAC of the three under a
 * secret the gateways sharing a database share (gateway.ts), so any of them
 * serves it, and nothing is stored per URL. The image itself is the task's
 * stored result: it lasts as long as the gateway keeps results (`--retention`).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const IMAGE_URL_TTL_MS = 60 * 60 * 1000;

type UrlCheck = 'ok' | 'expired' | 'forged';

export class ImageUrls {
  readonly #secret: string;
  readonly #now: () => number;

  constructor(secret: string, now: () => number = Date.now) {
    this.#secret = secret;
    this.#now = now;
  }

  #signature(taskId: string, index: number, expires: number): string {
    return createHmac('sha256', this.#secret).update(`${taskId}/${index}/${expires}`).digest('base64url');
  }

  /** The path and query of image `index` of the task's result, good for an hour from now. */
  pathOf(taskId: string, index: number): string {
    const expires = Math.floor((this.#now() + IMAGE_URL_TTL_MS) / 1000);
    return `/v1/images/files/${encodeURIComponent(taskId)}/${index}?expires=${expires}&signature=${this.#signature(taskId, index, expires)}`;
  }

  check(taskId: string, index: number, expires: number, signature: string): UrlCheck {
    const expected = Buffer.from(this.#signature(taskId, index, expires));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'forged';
    return expires * 1000 < this.#now() ? 'expired' : 'ok';
  }
}
